//! What the client is configured with and what it reports.

use crate::codec::{ConnectReturnCode, DecodeError, EncodeError, PacketType, Publish, QoS, Will};
use crate::reconnect::ScheduleError;

/// Connection settings. `Config::new(client_id)` gives the defaults:
/// clean session, 60 s keep-alive, 10 s to get a CONNACK.
#[derive(Clone, Copy, Debug)]
pub struct Config<'a> {
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
    pub will: Option<Will<'a>>,
    pub clean_session: bool,
    /// 0 turns keep-alive off.
    pub keep_alive_secs: u16,
    /// From the start of an attempt (before TCP connects) to CONNACK.
    pub connect_timeout_ms: u32,
    /// How long a PINGREQ may wait for its PINGRESP; 0 means half the
    /// keep-alive interval.
    pub pingresp_timeout_ms: u32,
    /// After `disconnect()`, how long the queued packets and DISCONNECT may
    /// take to go out before the link is closed anyway.
    pub disconnect_grace_ms: u32,
    /// The largest packet accepted from the server; 0 means the size of the
    /// inbound buffer (it can never be more).
    pub max_inbound_packet: usize,
    /// Brokers to rotate over (failover), 1 to `rotation::MAX_BROKERS`:
    /// each failed attempt or lost link moves to the next, and the
    /// reconnect schedule's delay comes once per round over them.
    pub brokers: u8,
}

impl<'a> Config<'a> {
    pub const fn new(client_id: &'a str) -> Self {
        Config {
            client_id,
            username: None,
            password: None,
            will: None,
            clean_session: true,
            keep_alive_secs: 60,
            connect_timeout_ms: 10_000,
            pingresp_timeout_ms: 0,
            disconnect_grace_ms: 2_000,
            max_inbound_packet: 0,
            brokers: 1,
        }
    }
}

/// Buffer sizes of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Holds the largest packet the client accepts from the server.
    pub inbound: usize,
    /// Packets queued for the socket (backpressure beyond it).
    pub outbound: usize,
    /// QoS 1 and 2 packets sent and not yet acknowledged (a QoS 2 one
    /// shrinks to its PUBREL once its PUBREC came); with
    /// `clean_session: false` this is the session's outgoing state that
    /// survives reconnects.
    pub inflight: usize,
    /// SUBSCRIBE/UNSUBSCRIBE requests awaiting their acknowledgement, at
    /// `PENDING_RECORD` bytes each.
    pub pending: usize,
    /// The packet-id pool: one bit per id; `ALL_IDS_BYTES` for all 65,535.
    pub ids: usize,
    /// Ids of QoS 2 messages received and awaiting their PUBREL, at
    /// `AWAITING_PUBREL_RECORD` bytes each.
    pub awaiting_pubrel: usize,
}

impl Sizes {
    /// A PC: a 1 MiB payload fits each way with room to spare; the buffers
    /// are allocated zeroed, so pages never touched cost no memory.
    pub const PC: Sizes = Sizes {
        inbound: 2 << 20,
        outbound: 2 << 20,
        inflight: 2 << 20,
        pending: 4096 * PENDING_RECORD,
        ids: ALL_IDS_BYTES,
        // Far past any broker's QoS 2 window (mosquitto's is 20). Not
        // every id: this buffer is small enough to come zeroed from the
        // heap, so all of it is touched (65,535 ids cost 128 KiB of RSS a
        // connection; `npm run bench` measures RSS per connection).
        awaiting_pubrel: 4096 * AWAITING_PUBREL_RECORD,
    };
    /// An ESP32: two connections fit in a few tens of KiB.
    /// Its 256 ids cover what can be live at once: the 2 KiB in-flight
    /// store holds at most 136 of the smallest QoS 1 packets, plus 64
    /// pending requests. 32 QoS 2 messages awaiting PUBREL exceed
    /// mosquitto's default window (20).
    pub const ESP32: Sizes = Sizes {
        inbound: 4 << 10,
        outbound: 4 << 10,
        inflight: 2 << 10,
        pending: 64 * PENDING_RECORD,
        ids: 32,
        awaiting_pubrel: 32 * AWAITING_PUBREL_RECORD,
    };
}

pub use crate::id_pool::ALL_IDS_BYTES;

/// Bytes of `Storage::pending` per request awaiting its acknowledgement.
pub const PENDING_RECORD: usize = crate::pending::RECORD;

/// Bytes of `Storage::awaiting_pubrel` per inbound QoS 2 message.
pub const AWAITING_PUBREL_RECORD: usize = crate::awaiting_pubrel::RECORD;

impl Sizes {
    /// How many SUBSCRIBE/UNSUBSCRIBE requests may await their
    /// acknowledgement at once.
    pub const fn max_pending_requests(&self) -> usize {
        self.pending / PENDING_RECORD
    }

    /// How many inbound QoS 2 messages may await their PUBREL at once.
    pub const fn max_awaiting_pubrel(&self) -> usize {
        self.awaiting_pubrel / AWAITING_PUBREL_RECORD
    }
}

/// The memory a client works in, given by the caller (a `Vec<u8>` on a
/// PC, a static or borrowed array on a microcontroller).
pub struct Storage<B> {
    pub inbound: B,
    pub outbound: B,
    pub inflight: B,
    /// Requests awaiting SUBACK/UNSUBACK (`PENDING_RECORD` bytes each).
    pub pending: B,
    /// Packet ids in use, one bit each (`ALL_IDS_BYTES` for all of them).
    pub ids: B,
    /// Holds the encoded CONNECT; `Config::connect_len` tells its size.
    pub connect: B,
    /// Inbound QoS 2 ids awaiting PUBREL (`AWAITING_PUBREL_RECORD` bytes each).
    pub awaiting_pubrel: B,
}

/// Where the client is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Created; `connect` not called yet.
    Idle,
    /// An attempt is under way: TCP, CONNECT, waiting for CONNACK.
    Connecting,
    Connected,
    /// The link is down and an attempt is scheduled.
    WaitingToReconnect,
    /// The link is down and nothing is scheduled (auto-reconnect off).
    Disconnected,
    /// `disconnect()` was called; queued packets and DISCONNECT go out.
    Disconnecting,
    /// After `disconnect()`: final.
    Closed,
}

/// A protocol violation by the server; the client closes the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    Malformed(DecodeError),
    /// A packet a server never sends to a client.
    UnexpectedPacket(PacketType),
    /// The first packet from the server was not CONNACK [MQTT-3.2.0-1].
    NotConnAckFirst(PacketType),
    SecondConnAck,
    /// A CONNACK before the CONNECT was wholly sent.
    ConnAckBeforeConnect,
    /// PUBACK, PUBREC, PUBCOMP, SUBACK or UNSUBACK for an id that is not
    /// awaiting that acknowledgement (a PUBACK for a QoS 2 message too).
    UnknownPacketId(PacketType),
    /// More inbound QoS 2 messages awaiting PUBREL than the store holds
    /// (`Sizes::awaiting_pubrel`): the client cannot take the message
    /// without risking a duplicate, so it closes the link [MQTT-4.8.0-2].
    AwaitingPubrelFull,
    /// A SUBACK whose return codes do not match the filters asked for.
    SubAckCountMismatch,
}

impl ProtocolError {
    pub fn reason(self) -> &'static str {
        match self {
            ProtocolError::Malformed(e) => e.reason(),
            ProtocolError::UnexpectedPacket(_) => "protocol violation: unexpected packet from the server",
            ProtocolError::NotConnAckFirst(_) => "protocol violation: first packet from the server was not CONNACK",
            ProtocolError::SecondConnAck => "protocol violation: second CONNACK",
            ProtocolError::ConnAckBeforeConnect => "protocol violation: CONNACK before the CONNECT was sent",
            ProtocolError::UnknownPacketId(PacketType::PubAck) => "protocol violation: PUBACK for an unknown packet id",
            ProtocolError::UnknownPacketId(PacketType::SubAck) => "protocol violation: SUBACK for an unknown packet id",
            ProtocolError::UnknownPacketId(PacketType::PubRec) => {
                "protocol violation: PUBREC for a packet id that awaits no PUBREC"
            }
            ProtocolError::UnknownPacketId(PacketType::PubComp) => {
                "protocol violation: PUBCOMP for a packet id that awaits no PUBCOMP"
            }
            ProtocolError::UnknownPacketId(_) => "protocol violation: acknowledgement for an unknown packet id",
            ProtocolError::SubAckCountMismatch => "protocol violation: SUBACK return codes do not match the SUBSCRIBE",
            ProtocolError::AwaitingPubrelFull => {
                "too many QoS 2 messages from the server awaiting PUBREL (the client's store is full)"
            }
        }
    }
}

/// Why a link ended (or an attempt failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// `disconnect()`.
    Requested,
    /// The TCP connect failed (refused, unreachable, name not resolved).
    ConnectFailed,
    /// No CONNACK within the connect timeout.
    ConnectTimeout,
    /// The server refused the CONNECT.
    Refused(ConnectReturnCode),
    /// No PINGRESP in time: the link is dead.
    KeepAliveTimeout,
    /// The server closed the connection.
    ClosedByPeer,
    /// The socket failed.
    NetworkError,
    /// The server broke the protocol; the client closed the link.
    Protocol(ProtocolError),
}

impl DisconnectReason {
    pub fn reason(self) -> &'static str {
        match self {
            DisconnectReason::Requested => "disconnect requested",
            DisconnectReason::ConnectFailed => "TCP connect failed",
            DisconnectReason::ConnectTimeout => "no CONNACK within the connect timeout",
            DisconnectReason::Refused(code) => code.reason(),
            DisconnectReason::KeepAliveTimeout => "keep-alive timeout: no PINGRESP from the server",
            DisconnectReason::ClosedByPeer => "connection closed by the server",
            DisconnectReason::NetworkError => "network error",
            DisconnectReason::Protocol(p) => p.reason(),
        }
    }
}

/// What happened. Borrowed events point into the client's inbound buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// CONNACK accepted.
    Connected {
        session_present: bool,
    },
    /// The link ended, or an attempt failed.
    Disconnected {
        reason: DisconnectReason,
    },
    /// A PUBLISH from the server (already acknowledged if QoS 1).
    Message(Publish<'a>),
    /// SUBACK: one return code per filter (0x80 is a refusal).
    Subscribed {
        packet_id: u16,
        return_codes: &'a [u8],
    },
    Unsubscribed {
        packet_id: u16,
    },
    /// The broker has a publish of ours: PUBACK (QoS 1) or PUBCOMP (QoS 2).
    Published {
        packet_id: u16,
        qos: QoS,
    },
    Pong,
    /// After a publish was refused for lack of room: there is room again.
    Drain,
    /// A PUBLISH larger than the maximum inbound packet: skipped without
    /// being buffered, acknowledged per its QoS. `size` is the whole packet.
    Oversized {
        topic: &'a str,
        size: usize,
        qos: QoS,
    },
}

/// What the application asked for that cannot be done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The packet itself is invalid.
    Encode(EncodeError),
    /// The topic name or filter is invalid.
    Topic(crate::topic::TopicError),
    /// Larger than the buffers can ever hold: the packet's size and the limit.
    TooLarge {
        size: usize,
        limit: usize,
    },
    /// The link is down and auto-reconnect is off: nothing would ever send it.
    LinkDown,
    /// The outbound buffer is full now: backpressure, try again later.
    OutboundFull,
    /// The in-flight store (QoS 1 and 2 awaiting acknowledgement) is full
    /// now: try again later.
    InflightFull,
    /// Every packet id of the pool is in use.
    NoPacketId,
    /// Too many SUBSCRIBE/UNSUBSCRIBE waiting for their acknowledgement.
    TooManyPending,
    /// After `disconnect()`.
    Closed,
    /// The CONNECT does not fit the storage given for it.
    ConnectBufferTooSmall {
        needed: usize,
    },
    Schedule(ScheduleError),
}

impl ClientError {
    pub fn reason(self) -> &'static str {
        match self {
            ClientError::Encode(e) => e.reason(),
            ClientError::Topic(e) => e.reason(),
            ClientError::TooLarge { .. } => "packet larger than the maximum packet size",
            ClientError::LinkDown => "not connected and auto-reconnect is off: nothing would send it",
            ClientError::OutboundFull => "outbound buffer full (backpressure): try again later",
            ClientError::InflightFull => "too many QoS 1/2 messages awaiting PUBACK/PUBCOMP: try again later",
            ClientError::NoPacketId => "all packet identifiers are in use",
            ClientError::TooManyPending => "too many subscriptions awaiting SUBACK: try again later",
            ClientError::Closed => "connection is closed",
            ClientError::ConnectBufferTooSmall { .. } => "CONNECT does not fit its buffer",
            ClientError::Schedule(e) => e.reason(),
        }
    }
}

impl From<EncodeError> for ClientError {
    fn from(e: EncodeError) -> Self {
        ClientError::Encode(e)
    }
}

/// What the driver must do with the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkAction {
    /// Open a TCP connection, then call `handle_link_up` or
    /// `handle_link_down(ConnectFailed)`.
    Open,
    /// Close the socket (the client has already forgotten the link).
    Close,
}
