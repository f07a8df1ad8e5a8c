//! What the driver tells the application, and the seam it tells it
//! through. The I/O thread hands each event of a connection to that
//! connection's [`EventSink`]: the Node binding packs them into batches for
//! JavaScript; firmware or a Rust program can call closures. A sink also
//! reports how far behind the application is, which is the driver's flow
//! control: reading stops while a sink's backlog is at its bound.

use mqtt_core::codec::QoS;
pub use mqtt_core::DisconnectReason;

/// A connection handle: never reused in a process.
pub type Handle = i32;

/// One event of one connection, borrowing from the driver's buffers for
/// the duration of the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// CONNACK accepted (every connect and reconnect), by the broker
    /// `broker`: 0 for the address given to `open`, n for
    /// `OpenOptions::brokers[n - 1]`; `host` and `port` as given there.
    Connected { session_present: bool, broker: u8, host: &'a str, port: u16 },
    /// The link ended or an attempt failed: `cause` says why, `reason` in
    /// a sentence (with the OS error where there is one). `tls`: TLS failed
    /// (the handshake was refused: certificate, host name, protocol; or a
    /// bad record later), `cause` being `ConnectFailed` or `NetworkError`
    /// and `reason` TLS's own ("TLS: certificate expired"). `last` marks the
    /// final event of a handle after `disconnect`: nothing follows it; its
    /// `abandoned` counts the QoS 1/2 messages that close gave up on (not
    /// acknowledged within the grace period), 0 on every other event.
    Disconnected { reason: &'a str, cause: DisconnectReason, tls: bool, last: bool, abandoned: usize },
    /// SUBACK for one filter: `code` is the granted QoS, or 0x80 refused.
    Subscribed { packet_id: u16, filter: &'a str, code: u8 },
    /// UNSUBACK.
    Unsubscribed { packet_id: u16, filter: &'a str },
    /// A PUBLISH from the broker (already acknowledged: PUBACK for QoS 1,
    /// PUBREC for QoS 2, delivered once). `packet_id` for QoS 1 and 2.
    Message { topic: &'a str, payload: &'a [u8], qos: QoS, retain: bool, dup: bool, packet_id: Option<u16> },
    /// The broker has the publish with this id: PUBACK (QoS 1) or PUBCOMP (QoS 2).
    Published { packet_id: u16, qos: QoS },
    /// After a publish refused for lack of room: there is room again.
    Drain,
    /// An inbound PUBLISH larger than the maximum inbound packet: skipped
    /// without being buffered, acknowledged per its QoS; the link stays up.
    Oversized { topic: &'a str, size: usize, qos: QoS },
}

/// Where a connection's events go. Called on the I/O thread, with the
/// connection locked: keep it short, and do not call the driver for the
/// same handle from here (that call returns `DriverError::CalledFromSink`);
/// queue such work for another thread (`device-app` does).
pub trait EventSink: Send + Sync {
    fn event(&self, conn: Handle, event: Event<'_>);

    /// Bytes (or any unit consistent with `Profile::max_pending_events`) of
    /// events handed over and not yet consumed by the application. Reading
    /// from the sockets of this sink's connections pauses at the bound and
    /// resumes after [`crate::Driver::wake`].
    fn backlog(&self) -> usize {
        0
    }
}

/// A sink that calls a closure (firmware, Rust programs, tests). It never
/// falls behind, since the closure runs on the I/O thread.
pub struct FnSink<F>(pub F);

impl<F: Fn(Handle, Event<'_>) + Send + Sync> EventSink for FnSink<F> {
    fn event(&self, conn: Handle, event: Event<'_>) {
        (self.0)(conn, event)
    }
}
