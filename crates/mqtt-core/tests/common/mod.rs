//! The harness shared by the client tests: a scripted peer on a virtual
//! clock that drives a `Client` the way a driver would.
#![allow(dead_code)]

use mqtt_core::codec::{decode, Connect, Packet, PacketType, Publish, QoS};
use mqtt_core::{Client, ClientError, Config, DisconnectReason, Event, LinkAction, State, Storage};

pub type TestClient = Client<Vec<u8>>;

/// What a test can compare: an event without borrows.
#[derive(Debug, Clone, PartialEq)]
pub enum Ev {
    Connected,
    Disconnected(DisconnectReason),
    Message {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        dup: bool,
    },
    Subscribed {
        id: u16,
        codes: Vec<u8>,
    },
    Unsubscribed(u16),
    /// PUBACK of a QoS 1 publish.
    Published(u16),
    /// PUBCOMP of a QoS 2 publish (`Event::Published` with QoS 2).
    Completed(u16),
    Pong,
    Drain,
    Oversized {
        topic: String,
        size: usize,
        qos: QoS,
    },
}

pub fn owned(e: Event<'_>) -> Ev {
    match e {
        Event::Connected { .. } => Ev::Connected,
        Event::Disconnected { reason } => Ev::Disconnected(reason),
        Event::Message(p) => Ev::Message { topic: p.topic.into(), payload: p.payload.into(), qos: p.qos, dup: p.dup },
        Event::Subscribed { packet_id, return_codes } => Ev::Subscribed { id: packet_id, codes: return_codes.into() },
        Event::Unsubscribed { packet_id } => Ev::Unsubscribed(packet_id),
        Event::Published { packet_id, qos: QoS::ExactlyOnce } => Ev::Completed(packet_id),
        Event::Published { packet_id, .. } => Ev::Published(packet_id),
        Event::Pong => Ev::Pong,
        Event::Drain => Ev::Drain,
        Event::Oversized { topic, size, qos } => Ev::Oversized { topic: topic.into(), size, qos },
    }
}

pub fn msg(topic: &str, payload: &[u8], qos: QoS, dup: bool) -> Ev {
    Ev::Message { topic: topic.into(), payload: payload.into(), qos, dup }
}

pub struct Peer {
    pub c: TestClient,
    pub now: u64,
}

pub const CONNACK_OK: [u8; 4] = [0x20, 2, 0, 0];
pub const PINGRESP: [u8; 2] = [0xd0, 0];

pub fn storage_for(config: &Config<'_>, outbound: usize, inflight: usize) -> Storage<Vec<u8>> {
    let len = config.connect_len().unwrap();
    Storage {
        inbound: vec![0; 4096],
        outbound: vec![0; outbound],
        inflight: vec![0; inflight],
        pending: vec![0; 64 * mqtt_core::PENDING_RECORD],
        ids: vec![0; mqtt_core::ALL_IDS_BYTES],
        connect: vec![0; len],
        awaiting_pubrel: vec![0; 64 * mqtt_core::AWAITING_PUBREL_RECORD],
    }
}

/// `Client::new`'s error (the client itself has no `Debug`).
pub fn new_client_error(config: Config<'_>) -> ClientError {
    let storage = Storage {
        inbound: vec![0; 4096],
        outbound: vec![0; 4096],
        inflight: vec![0; 4096],
        pending: vec![0; 96],
        ids: vec![0; mqtt_core::ALL_IDS_BYTES],
        connect: vec![0; 4096],
        awaiting_pubrel: vec![0; 64],
    };
    match Client::new(&config, storage) {
        Err(e) => e,
        Ok(_) => panic!("Client::new accepted {config:?}"),
    }
}

impl Peer {
    pub fn new() -> Peer {
        Self::with(Config::new("tester"), 4096, 4096)
    }

    pub fn with(config: Config<'_>, outbound: usize, inflight: usize) -> Peer {
        let storage = storage_for(&config, outbound, inflight);
        Peer { c: Client::new(&config, storage).unwrap(), now: 1_000 }
    }

    /// A client that reconnects at once after every loss.
    pub fn reconnecting(config: Config<'_>) -> Peer {
        let mut p = Self::with(config, 4096, 4096);
        p.c.set_auto_reconnect(true);
        p.c.set_reconnect_delays_ms(&[0]).unwrap();
        p
    }

    /// Everything the client wants to send now, as the socket would take it.
    pub fn drain(&mut self) -> Vec<u8> {
        self.drain_by(usize::MAX)
    }

    /// The same, through a socket that takes at most `n` bytes per write.
    pub fn drain_by(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = self.c.poll_transmit();
            if b.is_empty() {
                return out;
            }
            let b = b[..b.len().min(n)].to_vec();
            out.extend_from_slice(&b);
            self.c.advance_transmit(self.now, b.len());
        }
    }

    pub fn events(&mut self) -> Vec<Ev> {
        let mut v = Vec::new();
        while let Some(e) = self.c.poll_event(self.now) {
            v.push(owned(e));
        }
        v
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Ev> {
        assert_eq!(self.c.handle_input(bytes), bytes.len());
        self.events()
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.c.handle_timeout(self.now);
    }

    /// Starts an attempt (or lets a due reconnect start) and brings the TCP
    /// link up; returns what was sent.
    pub fn open_link(&mut self) -> Vec<u8> {
        if self.c.state() == State::Idle {
            self.c.connect(self.now).unwrap();
        }
        // A reconnect waits at least the floor (MIN_RECONNECT_DELAY_MS).
        if self.c.state() == State::WaitingToReconnect {
            self.now = self.now.max(self.c.poll_timeout().unwrap_or(self.now));
        }
        self.c.handle_timeout(self.now);
        assert_eq!(self.c.poll_action(), Some(LinkAction::Open));
        self.c.handle_link_up(self.now);
        self.drain()
    }

    pub fn connect(&mut self) -> Vec<u8> {
        let sent = self.open_link();
        assert_eq!(self.feed(&CONNACK_OK), vec![Ev::Connected]);
        assert_eq!(self.c.state(), State::Connected);
        sent
    }

    /// The link drops (the server or the network closed it).
    pub fn drop_link(&mut self) {
        self.c.handle_link_down(self.now, DisconnectReason::NetworkError);
        assert_eq!(self.events(), [Ev::Disconnected(DisconnectReason::NetworkError)]);
    }
}

/// Splits bytes into whole packets (type, bytes).
pub fn packets(bytes: &[u8]) -> Vec<(PacketType, Vec<u8>)> {
    let mut at = 0;
    let mut v = Vec::new();
    while at < bytes.len() {
        let (p, used) = decode(&bytes[at..], usize::MAX).unwrap().expect("whole packets only");
        v.push((p.packet_type(), bytes[at..at + used].to_vec()));
        at += used;
    }
    v
}

pub fn types(bytes: &[u8]) -> Vec<PacketType> {
    packets(bytes).into_iter().map(|(t, _)| t).collect()
}

pub fn publish_of(bytes: &[u8]) -> Publish<'_> {
    match decode(bytes, usize::MAX).unwrap().unwrap().0 {
        Packet::Publish(p) => p,
        other => panic!("not a PUBLISH: {other:?}"),
    }
}

pub fn connect_of(bytes: &[u8]) -> Connect<'_> {
    match decode(bytes, usize::MAX).unwrap().unwrap().0 {
        Packet::Connect(c) => c,
        other => panic!("not a CONNECT: {other:?}"),
    }
}

/// (topic, packet id, dup) of every PUBLISH in `bytes`; other packets are skipped.
pub fn published(bytes: &[u8]) -> Vec<(String, Option<u16>, bool)> {
    packets(bytes)
        .iter()
        .filter(|(t, _)| *t == PacketType::Publish)
        .map(|(_, b)| {
            let p = publish_of(b);
            (p.topic.to_string(), p.packet_id, p.dup)
        })
        .collect()
}

/// The packet ids of the PUBACKs in `bytes`, in order.
pub fn pubacks(bytes: &[u8]) -> Vec<u16> {
    packets(bytes)
        .iter()
        .filter(|(t, _)| *t == PacketType::PubAck)
        .map(|(_, b)| u16::from_be_bytes([b[2], b[3]]))
        .collect()
}

pub fn inbound_publish(topic: &str, payload: &[u8], qos: QoS, id: Option<u16>) -> Vec<u8> {
    inbound_publish_flags(topic, payload, qos, id, false, false)
}

pub fn inbound_publish_flags(
    topic: &str,
    payload: &[u8],
    qos: QoS,
    id: Option<u16>,
    dup: bool,
    retain: bool,
) -> Vec<u8> {
    let p = Packet::Publish(Publish { dup, qos, retain, topic, packet_id: id, payload });
    let mut buf = vec![0; p.encoded_len().unwrap()];
    p.encode(&mut buf).unwrap();
    buf
}

pub fn puback(id: u16) -> [u8; 4] {
    let [hi, lo] = id.to_be_bytes();
    [0x40, 2, hi, lo]
}

pub fn pubrec(id: u16) -> [u8; 4] {
    let [hi, lo] = id.to_be_bytes();
    [0x50, 2, hi, lo]
}

pub fn pubrel(id: u16) -> [u8; 4] {
    let [hi, lo] = id.to_be_bytes();
    [0x62, 2, hi, lo]
}

pub fn pubcomp(id: u16) -> [u8; 4] {
    let [hi, lo] = id.to_be_bytes();
    [0x70, 2, hi, lo]
}

/// CONNACK accepted, with the session-present flag.
pub fn connack(session_present: bool) -> [u8; 4] {
    [0x20, 2, u8::from(session_present), 0]
}

pub fn suback(id: u16, codes: &[u8]) -> Vec<u8> {
    let [hi, lo] = id.to_be_bytes();
    let mut v = vec![0x90, 2 + codes.len() as u8, hi, lo];
    v.extend_from_slice(codes);
    v
}

pub fn unsuback(id: u16) -> [u8; 4] {
    let [hi, lo] = id.to_be_bytes();
    [0xb0, 2, hi, lo]
}
