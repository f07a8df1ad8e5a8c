//! The driver's refusals: typed, each with a sentence a user can read.

use mqtt_core::ClientError;

use crate::events::Handle;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriverError {
    /// Never opened, or closed and removed.
    UnknownHandle(Handle),
    /// `disconnect` was called on this handle.
    Released(Handle),
    /// The IP stack is not up (ESP32 profile before got-IP).
    NetworkDown,
    TooManyConnections {
        max: usize,
    },
    InvalidHost(&'static str),
    InvalidPort,
    /// An entry of `OpenOptions::brokers` (its index there) is invalid: why.
    InvalidBroker {
        index: usize,
        why: &'static str,
    },
    /// An `open` argument or option out of range: the sentence names it.
    InvalidOption(&'static str),
    /// The `will` option is invalid: why.
    InvalidWill(&'static str),
    /// A `subscribe` or `unsubscribe` filter is invalid: why.
    InvalidFilter(&'static str),
    /// A `tls` option is invalid: the sentence names it ("tls.ca: ...").
    InvalidTls(String),
    /// The core refused (invalid topic, full buffer, too large, ...).
    Client(ClientError),
    /// `ping` while not connected.
    NotConnected,
    /// A call for a handle from inside that handle's own `EventSink::event`
    /// (the I/O thread holds the connection then): queue the work instead.
    CalledFromSink(Handle),
    /// The I/O or resolver thread could not be started.
    Thread(String),
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriverError::UnknownHandle(h) => write!(f, "unknown or closed connection handle {h}"),
            DriverError::Released(h) => write!(f, "connection {h} was disconnected"),
            DriverError::NetworkDown => f.write_str("network not up: open from the got-IP handler"),
            DriverError::TooManyConnections { max } => {
                write!(f, "too many connections: at most {max} per process in this profile")
            }
            DriverError::InvalidHost(why) => f.write_str(why),
            DriverError::InvalidPort => f.write_str("port must be an integer from 1 to 65535"),
            DriverError::InvalidBroker { index, why } => write!(f, "brokers[{index}].{why}"),
            DriverError::InvalidOption(why) => f.write_str(why),
            DriverError::InvalidWill(why) => write!(f, "will: {why}"),
            DriverError::InvalidFilter(why) => write!(f, "filter: {why}"),
            DriverError::InvalidTls(why) => f.write_str(why),
            DriverError::Client(ClientError::TooLarge { size, limit }) => {
                write!(f, "packet of {size} bytes is larger than the maximum packet size ({limit} bytes)")
            }
            DriverError::Client(e) => f.write_str(e.reason()),
            DriverError::NotConnected => f.write_str("not connected"),
            DriverError::CalledFromSink(h) => write!(
                f,
                "connection {h} was called from its own event sink: the I/O thread holds it; hand the work to another thread"
            ),
            DriverError::Thread(e) => write!(f, "cannot start the driver's thread: {e}"),
        }
    }
}

impl std::error::Error for DriverError {}

impl From<ClientError> for DriverError {
    fn from(e: ClientError) -> Self {
        DriverError::Client(e)
    }
}
