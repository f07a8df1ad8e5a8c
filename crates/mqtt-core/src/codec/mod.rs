//! The 14 MQTT 3.1.1 control packets: types, encoding into a caller's
//! buffer, zero-copy decoding out of one.

mod decode;
mod encode;
mod error;
pub mod publish;
mod wire;

pub use decode::{decode, frame, publish_head, Frame};
pub use error::{DecodeError, EncodeError};
pub use wire::MAX_REMAINING_LENGTH;

/// Quality of service. `ExactlyOnce` is representable (codec) so that QoS 2
/// can be added to the client without changing the types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QoS {
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    /// `None` for 3 and above [MQTT-3.3.1-4].
    pub fn from_u8(v: u8) -> Option<QoS> {
        match v {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// The packet type, the high nibble of the first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
}

impl PacketType {
    pub fn from_u8(v: u8) -> Option<PacketType> {
        use PacketType::*;
        Some(match v {
            1 => Connect,
            2 => ConnAck,
            3 => Publish,
            4 => PubAck,
            5 => PubRec,
            6 => PubRel,
            7 => PubComp,
            8 => Subscribe,
            9 => SubAck,
            10 => Unsubscribe,
            11 => UnsubAck,
            12 => PingReq,
            13 => PingResp,
            14 => Disconnect,
            _ => return None,
        })
    }

    /// The fixed low nibble every packet but PUBLISH must carry [MQTT-2.2.2-1].
    pub fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

/// The will message of a CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Will<'a> {
    pub topic: &'a str,
    pub message: &'a [u8],
    pub qos: QoS,
    pub retain: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connect<'a> {
    pub clean_session: bool,
    pub keep_alive: u16,
    pub client_id: &'a str,
    pub will: Option<Will<'a>>,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
}

/// CONNACK return codes (3.2.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectReturnCode {
    Accepted = 0,
    UnacceptableProtocolVersion = 1,
    IdentifierRejected = 2,
    ServerUnavailable = 3,
    BadUserNameOrPassword = 4,
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    pub fn from_u8(v: u8) -> Option<Self> {
        use ConnectReturnCode::*;
        Some(match v {
            0 => Accepted,
            1 => UnacceptableProtocolVersion,
            2 => IdentifierRejected,
            3 => ServerUnavailable,
            4 => BadUserNameOrPassword,
            5 => NotAuthorized,
            _ => return None,
        })
    }

    /// A sentence a user can read.
    pub fn reason(self) -> &'static str {
        use ConnectReturnCode::*;
        match self {
            Accepted => "connection accepted",
            UnacceptableProtocolVersion => "connection refused (1): the server does not support MQTT 3.1.1",
            IdentifierRejected => "connection refused (2): client identifier rejected",
            ServerUnavailable => "connection refused (3): server unavailable",
            BadUserNameOrPassword => "connection refused (4): bad user name or password",
            NotAuthorized => "connection refused (5): not authorized",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    pub code: ConnectReturnCode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publish<'a> {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    pub topic: &'a str,
    /// Present exactly when `qos` is above 0.
    pub packet_id: Option<u16>,
    pub payload: &'a [u8],
}

/// SUBSCRIBE's topic filters: a caller's list when encoding, the checked
/// wire bytes when decoded (so decoding allocates nothing).
#[derive(Clone, Copy, Debug)]
pub enum SubscribeFilters<'a> {
    List(&'a [(&'a str, QoS)]),
    Wire(&'a [u8]),
}

impl<'a> SubscribeFilters<'a> {
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, QoS)> + 'a {
        let (list, wire) = match *self {
            SubscribeFilters::List(l) => (l, &[][..]),
            SubscribeFilters::Wire(w) => (&[][..], w),
        };
        list.iter()
            .copied()
            .chain(wire::WireStrings::new(wire, true).map(|(s, q)| (s, QoS::from_u8(q).unwrap_or(QoS::AtMostOnce))))
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl PartialEq for SubscribeFilters<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}
impl Eq for SubscribeFilters<'_> {}

/// UNSUBSCRIBE's topic filters, like [`SubscribeFilters`].
#[derive(Clone, Copy, Debug)]
pub enum UnsubscribeFilters<'a> {
    List(&'a [&'a str]),
    Wire(&'a [u8]),
}

impl<'a> UnsubscribeFilters<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let (list, wire) = match *self {
            UnsubscribeFilters::List(l) => (l, &[][..]),
            UnsubscribeFilters::Wire(w) => (&[][..], w),
        };
        list.iter().copied().chain(wire::WireStrings::new(wire, false).map(|(s, _)| s))
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl PartialEq for UnsubscribeFilters<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}
impl Eq for UnsubscribeFilters<'_> {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscribe<'a> {
    pub packet_id: u16,
    pub filters: SubscribeFilters<'a>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    pub packet_id: u16,
    pub filters: UnsubscribeFilters<'a>,
}

/// One SUBACK return code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubAckCode {
    Granted(QoS),
    /// 0x80.
    Failure,
}

impl SubAckCode {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0x80 => Some(SubAckCode::Failure),
            q => QoS::from_u8(q).map(SubAckCode::Granted),
        }
    }

    pub fn to_u8(self) -> u8 {
        match self {
            SubAckCode::Granted(q) => q as u8,
            SubAckCode::Failure => 0x80,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubAck<'a> {
    pub packet_id: u16,
    /// Raw return codes, each one of 0, 1, 2 or 0x80 (checked both ways).
    pub return_codes: &'a [u8],
}

impl SubAck<'_> {
    pub fn codes(&self) -> impl Iterator<Item = SubAckCode> + '_ {
        self.return_codes.iter().map(|&c| SubAckCode::from_u8(c).unwrap_or(SubAckCode::Failure))
    }
}

/// A decoded or to-be-encoded control packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    Connect(Connect<'a>),
    ConnAck(ConnAck),
    Publish(Publish<'a>),
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    Subscribe(Subscribe<'a>),
    SubAck(SubAck<'a>),
    Unsubscribe(Unsubscribe<'a>),
    UnsubAck(u16),
    PingReq,
    PingResp,
    Disconnect,
}

impl Packet<'_> {
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect => PacketType::Disconnect,
        }
    }
}

/// The length of the packet at the start of `buf`, which this crate wrote
/// itself (so its header is known to be whole and valid).
pub(crate) fn wire_packet_len(buf: &[u8]) -> usize {
    match wire::get_remaining_length(&buf[1..]) {
        Ok(Some((rem, n))) => 1 + n + rem,
        _ => buf.len(),
    }
}
