//! The link state machine behind `Client`: the life cycle of each link
//! (opening, handshake, up, down, reconnect), the close the application
//! asked for, keep-alive, acknowledgements, and what to transmit next.

use super::types::*;
use crate::awaiting_pubrel::AwaitingPubrel;
use crate::codec::{publish, ConnectReturnCode, Packet, PacketType, QoS};
use crate::id_pool::IdPool;
use crate::inflight::{Found, InflightStore};
use crate::outbound::{ControlQueue, OutboundQueue};
pub use crate::pending::PendingKind;
use crate::pending::PendingTable;
use crate::reconnect::ReconnectSchedule;
use crate::rotation::BrokerRotation;

const PINGREQ: [u8; 2] = [0xc0, 0x00];
const DISCONNECT: [u8; 2] = [0xe0, 0x00];
/// No reconnect schedule makes more than about 20 attempts a second.
pub const MIN_RECONNECT_DELAY_MS: u64 = 50;
/// Link-loss events not yet polled (one per loss; a few at most between polls).
const EVENT_RING: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Down,
    /// The driver is opening TCP.
    Opening,
    /// TCP is up; `sent` bytes of CONNECT handed over; waiting for CONNACK.
    Handshake {
        sent: usize,
    },
    Up,
}

/// Where the close the application asked for is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClosePhase {
    /// `disconnect` not called.
    Open,
    /// `disconnect` called: what is queued goes out and QoS 1 is acknowledged
    /// (within the grace period) before DISCONNECT.
    Draining,
    /// DISCONNECT is in the control queue: nothing else may follow it.
    DisconnectQueued,
    /// DISCONNECT went out whole; the link closes now.
    DisconnectSent,
    /// Final. `graceful`: DISCONNECT went out before the link closed.
    Closed { graceful: bool },
}

/// Which queue the socket is being fed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Nothing,
    Connect,
    Control,
    Resend,
    Outbound,
}

/// What a received packet produced.
pub enum Emit {
    Connected {
        session_present: bool,
    },
    Disconnected,
    Message,
    Subscribed,
    Unsubscribed(u16),
    Published(u16, QoS),
    Pong,
    /// Handled, nothing to report (a PUBREC, a PUBREL, a QoS 2 repeat).
    Nothing,
}

/// What to do with an inbound PUBLISH once its answer is queued.
enum Take {
    Deliver,
    /// A QoS 2 PUBLISH sent again before its PUBREL: answered, not delivered.
    Duplicate,
    /// No room for the answer now: try again later.
    Stall,
}

pub enum Step {
    Done(Emit),
    /// Cannot take the packet now (no room for its PUBACK): try later.
    Stall,
    Violation,
}

/// Link-loss reasons waiting for `poll_event`.
pub struct EventRing {
    items: [Option<DisconnectReason>; EVENT_RING],
    head: usize,
    len: usize,
}

impl EventRing {
    const fn new() -> Self {
        EventRing { items: [None; EVENT_RING], head: 0, len: 0 }
    }

    fn push(&mut self, r: DisconnectReason) {
        if self.len == EVENT_RING {
            // Only reachable if the driver never polls: keep the newest.
            self.pop();
        }
        self.items[(self.head + self.len) % EVENT_RING] = Some(r);
        self.len += 1;
    }

    pub fn pop(&mut self) -> Option<DisconnectReason> {
        if self.len == 0 {
            return None;
        }
        let r = self.items[self.head].take();
        self.head = (self.head + 1) % EVENT_RING;
        self.len -= 1;
        r
    }
}

pub struct LinkMachine<B> {
    connect: B,
    connect_len: usize,
    pub out: OutboundQueue<B>,
    ctrl: ControlQueue,
    /// PUBACKs owed when the client closed the link over a violation: the
    /// driver writes them once, best effort, before it closes the socket,
    /// so that a message delivered before the bad packet is acknowledged.
    pub parting: ControlQueue,
    pub inflight: InflightStore<B>,
    /// QoS 1 and 2 publishes admitted but still in `out` (not yet in `inflight`).
    pub queued_acked: usize,
    pub ids: IdPool<B>,
    /// Inbound QoS 2 ids answered with PUBREC, awaiting PUBREL.
    pub awaiting_pubrel: AwaitingPubrel<B>,
    /// QoS 1/2 messages given up by the last `disconnect` (not acknowledged
    /// within the grace period, or never sent).
    pub abandoned: usize,
    clean_session: bool,
    pub pending: PendingTable<B>,
    pub schedule: ReconnectSchedule,
    pub brokers: BrokerRotation,
    pub auto_reconnect: bool,
    pub events: EventRing,

    keep_alive_ms: u64,
    connect_timeout_ms: u64,
    pingresp_timeout_ms: u64,
    grace_ms: u64,

    link: Link,
    started: bool,
    close: ClosePhase,
    open_requested: bool,
    close_requested: bool,
    /// An attempt is scheduled: due at `lost_at` plus the schedule's
    /// current delay (read when due, so a schedule set meanwhile counts).
    reconnect_pending: bool,
    /// When the link was last lost (reconnect delays count from here).
    lost_at: u64,
    attempt_deadline: Option<u64>,
    close_deadline: Option<u64>,
    ping_deadline: Option<u64>,
    /// A keep-alive PINGREQ is due but the control queue had no room.
    ping_owed: bool,
    last_send: u64,
    /// When a packet last arrived: silence for half the keep-alive also
    /// sends a PINGREQ, so a publishing client notices a dead link too.
    last_recv: u64,
    /// The driver stopped reading (the application is behind on events):
    /// a PINGRESP cannot be seen, so its deadline waits.
    receive_paused: bool,
    /// A publish was refused for lack of room: report when there is room.
    pub want_drain: bool,
    /// Re-sending in-flight QoS 1 after a reconnect: record offset and
    /// bytes of it already handed over.
    resend: Option<(usize, usize)>,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> LinkMachine<B> {
    pub fn new(config: &Config<'_>, bufs: [B; 5], connect: B, connect_len: usize) -> Self {
        let [outbound, inflight, pending, ids, awaiting_pubrel] = bufs;
        let keep_alive_ms = config.keep_alive_secs as u64 * 1000;
        let pingresp_timeout_ms = match config.pingresp_timeout_ms {
            0 => (keep_alive_ms / 2).max(1),
            n => n as u64,
        };
        LinkMachine {
            connect,
            connect_len,
            out: OutboundQueue::new(outbound),
            ctrl: ControlQueue::new(),
            parting: ControlQueue::new(),
            inflight: InflightStore::new(inflight),
            queued_acked: 0,
            ids: IdPool::new(ids),
            awaiting_pubrel: AwaitingPubrel::new(awaiting_pubrel),
            abandoned: 0,
            clean_session: config.clean_session,
            pending: PendingTable::new(pending),
            schedule: ReconnectSchedule::new(),
            brokers: BrokerRotation::new(config.brokers),
            auto_reconnect: false,
            events: EventRing::new(),
            keep_alive_ms,
            connect_timeout_ms: config.connect_timeout_ms as u64,
            pingresp_timeout_ms,
            grace_ms: config.disconnect_grace_ms as u64,
            link: Link::Down,
            started: false,
            close: ClosePhase::Open,
            open_requested: false,
            close_requested: false,
            reconnect_pending: false,
            lost_at: 0,
            attempt_deadline: None,
            close_deadline: None,
            ping_deadline: None,
            ping_owed: false,
            last_send: 0,
            last_recv: 0,
            receive_paused: false,
            want_drain: false,
            resend: None,
        }
    }

    pub fn state(&self) -> State {
        match self.link {
            _ if self.closed() => State::Closed,
            Link::Up if self.closing() => State::Disconnecting,
            Link::Up => State::Connected,
            Link::Opening | Link::Handshake { .. } => State::Connecting,
            Link::Down if self.reconnect_pending => State::WaitingToReconnect,
            Link::Down if !self.started => State::Idle,
            Link::Down => State::Disconnected,
        }
    }

    pub fn link_readable(&self) -> bool {
        matches!(self.link, Link::Handshake { .. } | Link::Up)
    }

    /// `disconnect` was called (the close may be under way or done).
    pub fn closing(&self) -> bool {
        self.close != ClosePhase::Open
    }

    fn closed(&self) -> bool {
        matches!(self.close, ClosePhase::Closed { .. })
    }

    fn disconnect_queued(&self) -> bool {
        matches!(self.close, ClosePhase::DisconnectQueued | ClosePhase::DisconnectSent)
    }

    pub fn check_open(&self) -> Result<(), ClientError> {
        if self.closing() {
            Err(ClientError::Closed)
        } else {
            Ok(())
        }
    }

    /// Can queued packets still go out one day? Not when the link is down
    /// and no attempt will ever be made.
    pub fn check_deliverable(&self) -> Result<(), ClientError> {
        self.check_open()?;
        if self.state() == State::Disconnected {
            return Err(ClientError::LinkDown);
        }
        Ok(())
    }

    pub fn disconnect_sent(&self) -> bool {
        self.close == ClosePhase::Closed { graceful: true }
    }

    /// When the next attempt is due, if one is scheduled: the schedule's
    /// delay before a round, the floor between the brokers of a round.
    fn reconnect_due(&self) -> Option<u64> {
        let delay = if self.brokers.mid_round() { 0 } else { self.schedule.current_delay_ms() as u64 };
        self.reconnect_pending.then(|| self.lost_at + delay.max(MIN_RECONNECT_DELAY_MS))
    }

    pub fn set_receive_paused(&mut self, now: u64, paused: bool) {
        if self.receive_paused == paused {
            return;
        }
        self.receive_paused = paused;
        if !paused {
            // Reading again: what was waiting arrives now; a PINGRESP gets a
            // full timeout from here.
            self.last_recv = self.last_recv.max(now);
            if let Some(d) = &mut self.ping_deadline {
                *d = (*d).max(now + self.pingresp_timeout_ms);
            }
        }
    }

    // ---- application requests ----

    pub fn connect(&mut self, now: u64) -> Result<(), ClientError> {
        self.check_open()?;
        if self.link == Link::Down {
            self.start_attempt(now);
        }
        Ok(())
    }

    fn start_attempt(&mut self, now: u64) {
        self.started = true;
        self.link = Link::Opening;
        self.open_requested = true;
        self.reconnect_pending = false;
        self.parting.clear();
        self.attempt_deadline = Some(now + self.connect_timeout_ms);
        self.brokers.on_attempt();
    }

    /// Queues a SUBSCRIBE or UNSUBSCRIBE built by `build` around a fresh id.
    pub fn queue_with_id<'p>(
        &mut self,
        kind: PendingKind,
        count: usize,
        build: impl Fn(u16) -> Packet<'p>,
    ) -> Result<u16, ClientError> {
        self.check_deliverable()?;
        let len = build(1).encoded_len()?;
        self.admit(len)?;
        if self.pending.is_full() {
            return Err(ClientError::TooManyPending);
        }
        let id = self.ids.allocate().ok_or(ClientError::NoPacketId)?;
        let packet = build(id);
        self.out.push_with(len, |buf| {
            let _ = packet.encode(buf);
        });
        let count = u16::try_from(count).unwrap_or(u16::MAX);
        self.pending.insert(id, kind, count);
        Ok(id)
    }

    /// Room in the outbound queue for a packet of `len` bytes, or why not.
    pub fn admit(&mut self, len: usize) -> Result<(), ClientError> {
        if len > self.out.capacity() {
            return Err(ClientError::TooLarge { size: len, limit: self.out.capacity() });
        }
        if len > self.out.free() {
            self.want_drain = true;
            return Err(ClientError::OutboundFull);
        }
        Ok(())
    }

    /// Is there room again after a refusal for lack of it? Half of the
    /// outbound queue and of the in-flight store free.
    pub fn take_drain(&mut self) -> bool {
        let roomy = self.out.free() >= self.out.capacity() / 2
            && self.inflight.can_reserve((self.inflight.capacity() / 2).saturating_sub(crate::inflight::RECORD_HEADER))
            && self.ids.free() >= self.ids.capacity() / 2;
        if self.want_drain && roomy && !self.closing() {
            self.want_drain = false;
            return true;
        }
        false
    }

    pub fn ping(&mut self, now: u64) -> bool {
        if self.link != Link::Up || self.disconnect_queued() || !self.ctrl.push(&PINGREQ) {
            return false;
        }
        self.ping_deadline.get_or_insert(now + self.pingresp_timeout_ms);
        true
    }

    pub fn set_auto_reconnect(&mut self, enabled: bool) {
        if self.closing() {
            return;
        }
        self.auto_reconnect = enabled;
        self.reconnect_pending = enabled && self.link == Link::Down && self.started;
    }

    pub fn disconnect(&mut self, now: u64) {
        if self.closing() {
            return;
        }
        self.close = ClosePhase::Draining;
        self.auto_reconnect = false;
        self.reconnect_pending = false;
        let nothing_queued = self.out.is_empty() && self.inflight.live() == 0 && self.queued_acked == 0;
        match self.link {
            Link::Up => {
                self.close_deadline = Some(now + self.grace_ms);
                self.queue_disconnect_when_drained();
            }
            Link::Down => self.finish_close(),
            Link::Opening | Link::Handshake { .. } if nothing_queued => {
                self.lose_link(now, DisconnectReason::Requested, true)
            }
            // What was queued goes out if the link comes up within the grace period.
            Link::Opening | Link::Handshake { .. } => self.close_deadline = Some(now + self.grace_ms),
        }
    }

    /// DISCONNECT goes out after everything the application queued has
    /// been sent and every QoS 1 PUBLISH acknowledged (within the grace
    /// period): a DISCONNECT hard on the heels of unacknowledged PUBLISHes
    /// makes some brokers drop them (mosquitto before 2.0.22).
    fn queue_disconnect_when_drained(&mut self) {
        if self.close == ClosePhase::Draining
            && self.link == Link::Up
            && self.out.is_empty()
            && self.resend.is_none()
            && self.inflight.live() == 0
            && self.queued_acked == 0
            && self.ctrl.push(&DISCONNECT)
        {
            self.close = ClosePhase::DisconnectQueued;
        }
    }

    fn finish_close(&mut self) {
        self.abandoned = self.inflight.live() + self.queued_acked;
        self.close = ClosePhase::Closed { graceful: self.close == ClosePhase::DisconnectSent };
        self.open_requested = false;
        self.close_deadline = None;
        self.out.clear();
        self.inflight.clear();
        self.queued_acked = 0;
        self.pending.clear();
        self.ids.clear();
        self.awaiting_pubrel.clear();
        self.want_drain = false;
    }

    // ---- network and clock ----

    pub fn link_up(&mut self, _now: u64) {
        if self.link == Link::Opening {
            self.link = Link::Handshake { sent: 0 };
        }
    }

    /// The link is gone: report it, keep what the application queued for the
    /// next link, schedule the next attempt.
    pub fn lose_link(&mut self, now: u64, reason: DisconnectReason, close_socket: bool) {
        if self.link == Link::Down {
            return;
        }
        // The socket is still sound after a violation by the server: what
        // the control queue owes can go out whole, unless another packet
        // is half-written ahead of it.
        self.parting.clear();
        let ctrl_next = !self.out.mid_packet() && !matches!(self.resend, Some((_, k)) if k > 0);
        if matches!(reason, DisconnectReason::Protocol(_)) && self.link == Link::Up && ctrl_next {
            self.parting.push(self.ctrl.unsent());
        }
        self.link = Link::Down;
        self.lost_at = now;
        self.open_requested = false;
        self.close_requested |= close_socket;
        self.ctrl.clear();
        self.ping_deadline = None;
        self.ping_owed = false;
        self.attempt_deadline = None;
        self.resend = None;
        // Everything in the store went out whole: it goes again with DUP.
        self.inflight.mark_all_dup();
        // A packet cut off mid-way goes again whole; a QoS 1 PUBLISH of it
        // is then a re-delivery.
        if let Some(head) = self.out.rewind() {
            publish::set_dup(head);
        }
        // A SUBACK or UNSUBACK for what was sent on this link will never come.
        let ids = &mut self.ids;
        self.pending.drop_sent(|id| ids.release(id));
        if self.closing() {
            self.events.push(DisconnectReason::Requested);
            self.finish_close();
            return;
        }
        self.events.push(reason);
        self.brokers.on_failure();
        self.reconnect_pending = self.auto_reconnect;
    }

    pub fn violation(&mut self, now: u64, e: ProtocolError) {
        self.lose_link(now, DisconnectReason::Protocol(e), true);
    }

    pub fn handle_timeout(&mut self, now: u64) {
        if self.reconnect_due().is_some_and(|t| now >= t) && self.link == Link::Down {
            // The schedule moves on per round, not per broker.
            if !self.brokers.mid_round() {
                self.schedule.advance();
            }
            self.start_attempt(now);
        }
        if self.close_deadline.is_some_and(|t| now >= t) && self.link != Link::Down {
            self.lose_link(now, DisconnectReason::Requested, true);
            return;
        }
        let attempting = matches!(self.link, Link::Opening | Link::Handshake { .. });
        if attempting && self.attempt_deadline.is_some_and(|t| now >= t) {
            self.lose_link(now, DisconnectReason::ConnectTimeout, true);
            return;
        }
        if self.link != Link::Up {
            return;
        }
        if self.ping_deadline_enforced().is_some_and(|t| now >= t) {
            self.lose_link(now, DisconnectReason::KeepAliveTimeout, true);
        } else if self.keep_alive_due().is_some_and(|t| now >= t) {
            // The PINGRESP deadline starts now even if the control queue is
            // full: a socket that never drains is a dead link. The PINGREQ
            // itself goes out as soon as there is room.
            self.ping_owed = true;
            self.queue_owed_ping();
            self.ping_deadline = Some(now + self.pingresp_timeout_ms);
        }
    }

    fn queue_owed_ping(&mut self) {
        if self.ping_owed && !self.disconnect_queued() && self.ctrl.push(&PINGREQ) {
            self.ping_owed = false;
        }
    }

    /// PINGREQ at half the keep-alive after the last packet sent, or after
    /// the last packet received (unless reading is paused on purpose).
    fn keep_alive_due(&self) -> Option<u64> {
        if self.keep_alive_ms == 0 || self.ping_deadline.is_some() || self.closing() {
            return None;
        }
        let quiet_since = if self.receive_paused { self.last_send } else { self.last_send.min(self.last_recv) };
        Some(quiet_since + self.keep_alive_ms / 2)
    }

    fn ping_deadline_enforced(&self) -> Option<u64> {
        self.ping_deadline.filter(|_| !self.receive_paused)
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        let mut t: Option<u64> = None;
        let mut consider = |d: Option<u64>| {
            if let Some(d) = d {
                t = Some(t.map_or(d, |t| t.min(d)));
            }
        };
        match self.link {
            Link::Down => consider(self.reconnect_due()),
            Link::Opening | Link::Handshake { .. } => {
                consider(self.attempt_deadline);
                consider(self.close_deadline);
            }
            Link::Up => {
                consider(self.close_deadline);
                consider(self.ping_deadline_enforced());
                consider(self.keep_alive_due());
            }
        }
        t
    }

    pub fn poll_action(&mut self) -> Option<LinkAction> {
        if self.close_requested {
            self.close_requested = false;
            return Some(LinkAction::Close);
        }
        if self.open_requested {
            self.open_requested = false;
            return Some(LinkAction::Open);
        }
        None
    }

    // ---- transmit ----

    fn source(&self) -> Source {
        match self.link {
            Link::Handshake { sent } if sent < self.connect_len => Source::Connect,
            Link::Up => {
                // Finish a packet before starting another.
                if self.ctrl.mid_packet() {
                    Source::Control
                } else if matches!(self.resend, Some((_, k)) if k > 0) {
                    Source::Resend
                } else if self.out.mid_packet() {
                    Source::Outbound
                } else if !self.ctrl.is_empty() {
                    Source::Control
                } else if self.resend.is_some() {
                    Source::Resend
                } else if !self.out.is_empty() {
                    Source::Outbound
                } else {
                    Source::Nothing
                }
            }
            _ => Source::Nothing,
        }
    }

    pub fn transmit(&self) -> &[u8] {
        match self.source() {
            Source::Nothing => &[],
            Source::Connect => match self.link {
                Link::Handshake { sent } => &self.connect.as_ref()[sent..self.connect_len],
                _ => &[],
            },
            Source::Control => self.ctrl.unsent(),
            Source::Resend => match self.resend.and_then(|(at, k)| Some((self.inflight.record(at)?, k))) {
                Some(((_, _, bytes, _), k)) => &bytes[k..],
                None => &[],
            },
            Source::Outbound => self.out.unsent(),
        }
    }

    pub fn advance_transmit(&mut self, now: u64, n: usize) {
        if n == 0 {
            return;
        }
        match self.source() {
            Source::Nothing => return,
            Source::Connect => {
                if let Link::Handshake { sent } = &mut self.link {
                    *sent += n;
                }
            }
            Source::Control => {
                self.ctrl.advance(n);
                self.queue_owed_ping();
                if self.close == ClosePhase::DisconnectQueued && self.ctrl.is_empty() {
                    // DISCONNECT is out: close [MQTT-3.14.4-1].
                    self.last_send = now;
                    self.close = ClosePhase::DisconnectSent;
                    self.lose_link(now, DisconnectReason::Requested, true);
                    return;
                }
            }
            Source::Resend => self.advance_resend(n),
            Source::Outbound => {
                let LinkMachine { out, inflight, pending, queued_acked, resend, .. } = self;
                out.advance(n, |packet| on_packet_sent(packet, inflight, pending, queued_acked, resend));
            }
        }
        self.last_send = now;
        self.queue_disconnect_when_drained();
    }

    fn advance_resend(&mut self, n: usize) {
        let Some((at, k)) = self.resend else { return };
        let Some((_, _, bytes, next)) = self.inflight.record(at) else {
            self.resend = None;
            return;
        };
        let k = k + n;
        self.resend = if k < bytes.len() { Some((at, k)) } else { self.inflight.next_live(next).map(|o| (o, 0)) };
    }

    // ---- receive ----

    pub fn on_packet(&mut self, now: u64, packet: &Packet<'_>) -> Step {
        self.last_recv = now;
        let result = match self.link {
            Link::Handshake { .. } => self.on_handshake_packet(now, packet),
            Link::Up => self.on_link_packet(now, packet),
            _ => Ok(Step::Stall),
        };
        match result {
            Ok(step) => step,
            Err(e) => {
                self.violation(now, e);
                Step::Violation
            }
        }
    }

    fn on_handshake_packet(&mut self, now: u64, packet: &Packet<'_>) -> Result<Step, ProtocolError> {
        let Packet::ConnAck(ack) = packet else {
            return Err(ProtocolError::NotConnAckFirst(packet.packet_type()));
        };
        // A server cannot answer a CONNECT it has not wholly received.
        if matches!(self.link, Link::Handshake { sent } if sent < self.connect_len) {
            return Err(ProtocolError::ConnAckBeforeConnect);
        }
        if ack.code != ConnectReturnCode::Accepted {
            self.lose_link(now, DisconnectReason::Refused(ack.code), true);
            return Ok(Step::Done(Emit::Disconnected));
        }
        self.link = Link::Up;
        self.attempt_deadline = None;
        self.schedule.reset();
        self.brokers.on_connected();
        self.last_send = now;
        self.last_recv = now;
        // A new session (asked for, or the server lost the old one): the
        // server will not send those PUBRELs, and an id may be new again.
        if self.clean_session || !ack.session_present {
            self.awaiting_pubrel.clear();
        }
        // Unacknowledged QoS 1 and 2 go again first, in order: PUBLISH with
        // DUP, or the PUBREL of one whose PUBREC came [MQTT-4.4.0-1]
        // [MQTT-4.6.0-1], whether or not the server kept the session.
        self.resend = self.inflight.next_live(self.inflight.head()).map(|o| (o, 0));
        self.queue_disconnect_when_drained();
        Ok(Step::Done(Emit::Connected { session_present: ack.session_present }))
    }

    fn on_link_packet(&mut self, _now: u64, packet: &Packet<'_>) -> Result<Step, ProtocolError> {
        let emit = match *packet {
            Packet::ConnAck(_) => return Err(ProtocolError::SecondConnAck),
            Packet::Publish(p) => match self.acknowledge(p.qos, p.packet_id)? {
                Take::Deliver => Emit::Message,
                Take::Duplicate => Emit::Nothing,
                Take::Stall => return Ok(Step::Stall),
            },
            Packet::PubAck(id) => return self.on_ack(id, PacketType::PubAck),
            Packet::PubRec(id) => return self.on_ack(id, PacketType::PubRec),
            Packet::PubComp(id) => return self.on_ack(id, PacketType::PubComp),
            Packet::PubRel(id) => {
                // PUBCOMP with the id, whether or not it is still held
                // (nothing may follow a queued DISCONNECT) [MQTT-4.3.3-2].
                if !self.disconnect_queued() && !self.ctrl.push(&ack_packet(0x70, id)) {
                    return Ok(Step::Stall);
                }
                self.awaiting_pubrel.remove(id);
                Emit::Nothing
            }
            Packet::SubAck(s) => {
                let count = self.take_pending(s.packet_id, PendingKind::Subscribe, PacketType::SubAck)?;
                if count as usize != s.return_codes.len() {
                    return Err(ProtocolError::SubAckCountMismatch);
                }
                Emit::Subscribed
            }
            Packet::UnsubAck(id) => {
                self.take_pending(id, PendingKind::Unsubscribe, PacketType::UnsubAck)?;
                Emit::Unsubscribed(id)
            }
            Packet::PingResp => {
                self.ping_deadline = None;
                Emit::Pong
            }
            ref other => return Err(ProtocolError::UnexpectedPacket(other.packet_type())),
        };
        self.queue_disconnect_when_drained();
        Ok(Step::Done(emit))
    }

    /// PUBACK, PUBREC or PUBCOMP from the server for a publish of ours.
    fn on_ack(&mut self, id: u16, kind: PacketType) -> Result<Step, ProtocolError> {
        let unknown = ProtocolError::UnknownPacketId(kind);
        let Found { at, qos, released } = self.inflight.find(id).filter(|_| self.ids.is_used(id)).ok_or(unknown)?;
        let (floor, resend_at) = match self.resend {
            Some((r, k)) if k > 0 => (r, Some((r, k))),
            Some((r, _)) => (usize::MAX, Some((r, 0))),
            None => (usize::MAX, None),
        };
        let emit = match (kind, qos, released) {
            (PacketType::PubRec, QoS::ExactlyOnce, _) => {
                match resend_at {
                    // Its bytes are on their way to the socket: not now.
                    Some((r, k)) if r == at && k > 0 => return Ok(Step::Stall),
                    // Not re-sent on this link yet: the re-send will be the PUBREL.
                    Some((r, _)) if r <= at => {}
                    // PUBREL now, in the order the PUBRECs came [MQTT-4.6.0-4].
                    _ if self.disconnect_queued() => {}
                    _ if !self.ctrl.push(&ack_packet(0x62, id)) => return Ok(Step::Stall),
                    _ => {}
                }
                if !released {
                    self.inflight.release(at, id);
                }
                Emit::Nothing
            }
            (PacketType::PubAck, QoS::AtLeastOnce, false) | (PacketType::PubComp, QoS::ExactlyOnce, true) => {
                self.inflight.remove(at, floor);
                self.ids.release(id);
                if let Some((r, 0)) = self.resend {
                    let from = r.max(self.inflight.head());
                    self.resend = self.inflight.next_live(from).map(|o| (o, 0));
                }
                Emit::Published(id, qos)
            }
            _ => return Err(unknown),
        };
        self.queue_disconnect_when_drained();
        Ok(Step::Done(emit))
    }

    fn take_pending(&mut self, id: u16, kind: PendingKind, ack: PacketType) -> Result<u16, ProtocolError> {
        let count = self.pending.take(id, kind).ok_or(ProtocolError::UnknownPacketId(ack))?;
        self.ids.release(id);
        Ok(count)
    }

    /// An inbound PUBLISH of `qos`: queues its PUBACK or PUBREC if it
    /// needs one, and says whether to deliver it.
    fn acknowledge(&mut self, qos: QoS, packet_id: Option<u16>) -> Result<Take, ProtocolError> {
        let id = packet_id.unwrap_or(0);
        let answered = |queued: bool, then: Take| if queued { then } else { Take::Stall };
        match qos {
            QoS::AtMostOnce => Ok(Take::Deliver),
            // PUBACK after taking ownership [MQTT-4.3.2-2]; none once
            // DISCONNECT is queued (nothing may follow it).
            QoS::AtLeastOnce if self.disconnect_queued() => Ok(Take::Deliver),
            QoS::AtLeastOnce => Ok(answered(self.ctrl.push(&ack_packet(0x40, id)), Take::Deliver)),
            // Method B of 4.3.3: deliver on the first PUBLISH, keep the id
            // until PUBREL; a repeat meanwhile gets PUBREC again and is not
            // delivered again [MQTT-4.3.3-2].
            QoS::ExactlyOnce => {
                let repeat = self.awaiting_pubrel.contains(id);
                let take = if repeat { Take::Duplicate } else { Take::Deliver };
                if self.disconnect_queued() {
                    return Ok(take);
                }
                if !repeat && self.awaiting_pubrel.is_full() {
                    return Err(ProtocolError::AwaitingPubrelFull);
                }
                if !self.ctrl.push(&ack_packet(0x50, id)) {
                    return Ok(Take::Stall);
                }
                if !repeat {
                    self.awaiting_pubrel.insert(id);
                }
                Ok(take)
            }
        }
    }

    /// A PUBLISH too large to buffer, whose header has been read: it is
    /// acknowledged like any other and then skipped.
    pub fn on_oversized_publish(&mut self, now: u64, qos: QoS, packet_id: Option<u16>) -> Step {
        self.last_recv = now;
        let result = match self.link {
            Link::Handshake { .. } => Err(ProtocolError::NotConnAckFirst(PacketType::Publish)),
            Link::Up => self.acknowledge(qos, packet_id),
            _ => return Step::Stall,
        };
        match result {
            Ok(Take::Deliver) => Step::Done(Emit::Message),
            Ok(Take::Duplicate) => Step::Done(Emit::Nothing),
            Ok(Take::Stall) => Step::Stall,
            Err(e) => {
                self.violation(now, e);
                Step::Violation
            }
        }
    }
}

/// A packet of the outbound queue is now wholly with the socket.
fn on_packet_sent<B: AsRef<[u8]> + AsMut<[u8]>>(
    packet: &[u8],
    inflight: &mut InflightStore<B>,
    pending: &mut PendingTable<B>,
    queued_acked: &mut usize,
    resend: &mut Option<(usize, usize)>,
) {
    let header = packet_header_len(packet);
    let kind = packet[0] >> 4;
    if let Some(id) = publish::packet_id(packet) {
        debug_assert!(resend.is_none(), "nothing new goes out during a re-send");
        inflight.push(id, packet);
        *queued_acked -= 1;
    } else if kind == PacketType::Subscribe as u8 || kind == PacketType::Unsubscribe as u8 {
        let id = u16::from_be_bytes([packet[header], packet[header + 1]]);
        pending.mark_sent(id);
    }
}

/// PUBACK (0x40), PUBREC (0x50), PUBREL (0x62) or PUBCOMP (0x70) for `id`.
fn ack_packet(first: u8, id: u16) -> [u8; 4] {
    let [hi, lo] = id.to_be_bytes();
    [first, 0x02, hi, lo]
}

/// Fixed header length of a packet this crate encoded.
fn packet_header_len(packet: &[u8]) -> usize {
    1 + packet[1..].iter().position(|b| b & 0x80 == 0).map_or(4, |i| i + 1)
}
