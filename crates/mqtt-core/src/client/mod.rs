//! The sans-IO client: the application calls `publish`, `subscribe`,
//! `disconnect`; the driver feeds `handle_*` with what the network and the
//! clock did and drains `poll_action`, `poll_transmit`, `poll_event` and
//! `poll_timeout`.

mod link_machine;
mod types;

pub use link_machine::MIN_RECONNECT_DELAY_MS;
pub use types::*;

use crate::codec::{
    decode, publish, publish_head, DecodeError, EncodeError, Packet, PacketType, Publish, QoS, Subscribe,
    SubscribeFilters, Unsubscribe, UnsubscribeFilters,
};
use crate::reconnect::ReconnectSchedule;
use link_machine::{Emit, LinkMachine, Step};

/// One MQTT connection's whole state, over caller-given buffers `B`.
///
/// # Driving it
///
/// A driver owns the socket and the clock and keeps to these rules (the
/// `client` fuzz target checks that a driver that does is never let down):
///
/// 1. **Actions first.** After `connect`, `disconnect`, any `handle_*` call
///    and any `poll_event`, drain `poll_action`: `Open` means open a new
///    link (drop any old socket first), then report `handle_link_up` or
///    `handle_link_down(ConnectFailed)`; `Close` means close the socket.
///    The client has already forgotten the link when it says `Close`; write
///    `parting_bytes` first when there are any (best effort).
/// 2. **Bytes out.** Hand `poll_transmit` to the socket and report what it
///    took with `advance_transmit(now, n)`; partial writes are fine. Never
///    write bytes of one link on another: after `Open`, nothing half-written
///    continues (the client rewinds to packet boundaries itself).
/// 3. **Bytes in.** Read into `receive_buffer` and `commit_received`, or
///    copy with `handle_input`. An empty `receive_buffer` on a live link
///    means a whole packet waits for room for its PUBACK: write first, then
///    read. Received bytes of a link are void once it is down.
/// 4. **Events.** Drain `poll_event` after every input, every
///    `advance_transmit` (it can free room: `Drain`) and every
///    `handle_timeout`. Events borrow from the inbound buffer, so take each
///    before the next call.
/// 5. **Time.** Call `handle_timeout(now)` once `now >= poll_timeout()`;
///    `now` is milliseconds from any fixed origin and never goes back.
///    `poll_timeout` changes after every other call.
/// 6. **Flow control.** A driver that stops reading because its
///    application is behind says so with `set_receive_paused`, so that a
///    PINGRESP stuck behind unread bytes does not count against the link.
///
/// The application side (`publish`, `subscribe`, `unsubscribe`, `ping`,
/// `disconnect`, the reconnect settings) may be called at any time between
/// those steps; each admits its packet whole or refuses it and changes
/// nothing.
pub struct Client<B> {
    inbound: Inbound<B>,
    machine: LinkMachine<B>,
}

/// Received bytes not yet decoded. Events borrow from here.
struct Inbound<B> {
    buf: B,
    start: usize,
    end: usize,
    max_packet: usize,
    /// Bytes of an oversized PUBLISH still to discard as they arrive.
    skip: usize,
    /// The link broke under the client (reset, closed): the whole PUBLISHes
    /// it had already received are still delivered (not acknowledged: there
    /// is no link to do it on), rather than dropped with it.
    salvage: bool,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Inbound<B> {
    /// Discards what has arrived of an oversized packet being skipped.
    fn apply_skip(&mut self) {
        let n = self.skip.min(self.end - self.start);
        self.start += n;
        self.skip -= n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
        self.skip = 0;
        self.salvage = false;
    }
}

impl<'c> Config<'c> {
    fn connect_packet(&self) -> Packet<'c> {
        Packet::Connect(crate::codec::Connect {
            clean_session: self.clean_session,
            keep_alive: self.keep_alive_secs,
            client_id: self.client_id,
            will: self.will,
            username: self.username,
            password: self.password,
        })
    }

    /// The size of the CONNECT packet (for `Storage::connect`), or why the
    /// configuration cannot be encoded.
    pub fn connect_len(&self) -> Result<usize, ClientError> {
        Ok(self.connect_packet().encoded_len()?)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Client<B> {
    /// Checks the configuration and encodes its CONNECT once; every link
    /// sends those bytes first [MQTT-3.1.0-1].
    pub fn new(config: &Config<'_>, mut storage: Storage<B>) -> Result<Self, ClientError> {
        let connect = config.connect_packet();
        let needed = connect.encoded_len()?;
        let connect_len =
            connect.encode(storage.connect.as_mut()).map_err(|_| ClientError::ConnectBufferTooSmall { needed })?;
        let capacity = storage.inbound.as_ref().len();
        let max_packet = match config.max_inbound_packet {
            0 => capacity,
            n => n.min(capacity),
        };
        Ok(Client {
            inbound: Inbound { buf: storage.inbound, start: 0, end: 0, max_packet, skip: 0, salvage: false },
            machine: LinkMachine::new(
                config,
                [storage.outbound, storage.inflight, storage.pending, storage.ids, storage.awaiting_pubrel],
                storage.connect,
                connect_len,
            ),
        })
    }

    // ---- getters ----

    pub fn state(&self) -> State {
        self.machine.state()
    }

    /// Bytes free in the outbound buffer now.
    pub fn outbound_free(&self) -> usize {
        self.machine.out.free()
    }

    /// QoS 1 and 2 messages sent or queued and not yet acknowledged (PUBACK,
    /// or PUBCOMP).
    pub fn inflight(&self) -> usize {
        self.machine.inflight.live() + self.machine.queued_acked
    }

    /// Inbound QoS 2 messages delivered whose PUBREL has not come yet.
    pub fn awaiting_pubrel(&self) -> usize {
        self.machine.awaiting_pubrel.len()
    }

    /// QoS 1/2 messages the close after `disconnect` gave up on (not
    /// acknowledged within the grace period, or never sent); 0 before.
    pub fn abandoned(&self) -> usize {
        self.machine.abandoned
    }

    /// Is a SUBSCRIBE/UNSUBSCRIBE with this id still awaiting its
    /// acknowledgement (or still queued)?
    pub fn is_request_pending(&self, packet_id: u16) -> bool {
        self.machine.pending.contains(packet_id)
    }

    /// How many SUBSCRIBE/UNSUBSCRIBE requests may wait at once.
    pub fn max_pending_requests(&self) -> usize {
        self.machine.pending.capacity()
    }

    /// The largest packet accepted from the server.
    pub fn max_inbound_packet(&self) -> usize {
        self.inbound.max_packet
    }

    /// The last close was graceful: DISCONNECT went out whole.
    pub fn disconnect_sent(&self) -> bool {
        self.machine.disconnect_sent()
    }

    pub fn reconnect_schedule(&self) -> &ReconnectSchedule {
        &self.machine.schedule
    }

    pub fn auto_reconnect(&self) -> bool {
        self.machine.auto_reconnect
    }

    /// The broker (index into the configured list, from 0) of the current
    /// or last attempt: the one `LinkAction::Open` means.
    pub fn broker(&self) -> u8 {
        self.machine.brokers.current()
    }

    /// The broker of the last CONNACK accepted: the one a `Connected`
    /// event is about (even if that link failed since the event was queued).
    pub fn connected_broker(&self) -> u8 {
        self.machine.brokers.answered()
    }

    // ---- what the application asks ----

    /// Starts the first attempt (or a new one after `Disconnected`).
    pub fn connect(&mut self, now: u64) -> Result<(), ClientError> {
        self.machine.connect(now)
    }

    /// Queues a PUBLISH whole, or refuses it and changes nothing. Returns the
    /// packet id for QoS 1 and 2. Allowed while the link is down: it goes out
    /// after the next CONNACK.
    pub fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Result<Option<u16>, ClientError> {
        self.machine.check_deliverable()?;
        // The topic is checked here, once; the encoding trusts it.
        crate::topic::validate_name(topic).map_err(ClientError::Topic)?;
        let probe = |packet_id| Publish { dup: false, qos, retain, topic, packet_id, payload };
        // The id does not change the size; 1 stands in while checking.
        let placeholder = (qos != QoS::AtMostOnce).then_some(1);
        let len = publish::encoded_len_prevalidated(&probe(placeholder)).ok_or(EncodeError::TooLarge)?;
        let s = &mut self.machine;
        let acked = qos != QoS::AtMostOnce;
        if acked && !s.inflight.fits_at_all(len) {
            let limit = s.inflight.capacity().saturating_sub(crate::inflight::RECORD_HEADER);
            return Err(ClientError::TooLarge { size: len, limit });
        }
        s.admit(len)?;
        let packet_id = if acked {
            if !s.inflight.can_reserve(len) {
                s.want_drain = true;
                return Err(ClientError::InflightFull);
            }
            let Some(id) = s.ids.allocate() else {
                s.want_drain = true;
                return Err(ClientError::NoPacketId);
            };
            s.inflight.reserve(len);
            s.queued_acked += 1;
            Some(id)
        } else {
            None
        };
        let packet = probe(packet_id);
        s.out.push_with(len, |buf| publish::encode_prevalidated(&packet, buf));
        Ok(packet_id)
    }

    /// Queues a SUBSCRIBE for the filters; `Event::Subscribed` carries its
    /// SUBACK. Returns the packet id.
    pub fn subscribe(&mut self, filters: &[(&str, QoS)]) -> Result<u16, ClientError> {
        for (filter, _) in filters {
            crate::topic::validate_filter(filter).map_err(ClientError::Topic)?;
        }
        let count = filters.len();
        self.machine.queue_with_id(link_machine::PendingKind::Subscribe, count, |packet_id| {
            Packet::Subscribe(Subscribe { packet_id, filters: SubscribeFilters::List(filters) })
        })
    }

    /// Queues an UNSUBSCRIBE; `Event::Unsubscribed` carries its UNSUBACK.
    pub fn unsubscribe(&mut self, filters: &[&str]) -> Result<u16, ClientError> {
        for filter in filters {
            crate::topic::validate_filter(filter).map_err(ClientError::Topic)?;
        }
        let count = filters.len();
        self.machine.queue_with_id(link_machine::PendingKind::Unsubscribe, count, |packet_id| {
            Packet::Unsubscribe(Unsubscribe { packet_id, filters: UnsubscribeFilters::List(filters) })
        })
    }

    /// Sends a PINGREQ now (when connected). False when it could not be
    /// queued.
    pub fn ping(&mut self, now: u64) -> bool {
        self.machine.ping(now)
    }

    /// Flushes what is queued, sends DISCONNECT, closes; no reconnect after.
    pub fn disconnect(&mut self, now: u64) {
        self.machine.disconnect(now);
        self.inbound.salvage = false;
        self.sync_inbound();
    }

    /// Turning it on while the link is already down (a first attempt that
    /// failed before this call) schedules the next attempt, measured from
    /// the loss; turning it off cancels a scheduled one.
    pub fn set_auto_reconnect(&mut self, enabled: bool) {
        self.machine.set_auto_reconnect(enabled);
    }

    /// The driver stopped (or resumed) reading because the application is
    /// behind on events. While paused, a late PINGRESP cannot be seen, so
    /// it does not count against the link.
    pub fn set_receive_paused(&mut self, now: u64, paused: bool) {
        self.machine.set_receive_paused(now, paused);
    }

    pub fn set_reconnect_delays_ms(&mut self, delays: &[u32]) -> Result<(), ClientError> {
        self.machine.schedule.set_delays_ms(delays).map_err(ClientError::Schedule)
    }

    pub fn set_reconnect_delays_secs(&mut self, delays: &[f64]) -> Result<(), ClientError> {
        self.machine.schedule.set_delays_secs(delays).map_err(ClientError::Schedule)
    }

    // ---- what the network and the clock did ----

    /// The TCP connection asked for by `LinkAction::Open` is up.
    pub fn handle_link_up(&mut self, now: u64) {
        self.inbound.reset();
        self.machine.link_up(now);
    }

    /// The socket closed or failed (or the connect failed). Whole PUBLISHes
    /// already received on it are still delivered by `poll_event`, before
    /// the `Disconnected`; the driver may hand over bytes it had read and
    /// not yet given (`handle_input`) until then.
    pub fn handle_link_down(&mut self, now: u64, reason: DisconnectReason) {
        let was_up = matches!(self.machine.state(), State::Connected | State::Disconnecting);
        self.machine.lose_link(now, reason, false);
        self.inbound.salvage = was_up && !self.machine.closing();
        self.sync_inbound();
    }

    pub fn handle_timeout(&mut self, now: u64) {
        self.machine.handle_timeout(now);
        self.sync_inbound();
    }

    /// Free space to read socket bytes into; then call `commit_received`.
    /// Empty while there is no link, or while the buffer holds a whole
    /// packet not yet taken out by `poll_event` (backpressure).
    pub fn receive_buffer(&mut self) -> &mut [u8] {
        let inb = &mut self.inbound;
        if !self.machine.link_readable() && !inb.salvage {
            return &mut [];
        }
        inb.apply_skip();
        if inb.start > 0 {
            let (start, end) = (inb.start, inb.end);
            inb.buf.as_mut().copy_within(start..end, 0);
            inb.end -= start;
            inb.start = 0;
        }
        let end = inb.end;
        &mut inb.buf.as_mut()[end..]
    }

    pub fn commit_received(&mut self, n: usize) {
        let inb = &mut self.inbound;
        inb.end = (inb.end + n).min(inb.buf.as_ref().len());
    }

    /// Copies in as much of `data` as fits; returns how much.
    pub fn handle_input(&mut self, data: &[u8]) -> usize {
        let room = self.receive_buffer();
        let n = room.len().min(data.len());
        room[..n].copy_from_slice(&data[..n]);
        self.commit_received(n);
        n
    }

    // ---- what comes out ----

    pub fn poll_action(&mut self) -> Option<LinkAction> {
        self.machine.poll_action()
    }

    /// Bytes to hand to the socket now (empty when nothing is due).
    pub fn poll_transmit(&self) -> &[u8] {
        self.machine.transmit()
    }

    /// `n` bytes of `poll_transmit` were handed to the socket.
    pub fn advance_transmit(&mut self, now: u64, n: usize) {
        self.machine.advance_transmit(now, n);
        self.sync_inbound();
    }

    /// After the client closed a link over a protocol violation: bytes it
    /// still owed on that link (PUBACKs of messages already delivered).
    /// Write them once, without waiting, before closing the socket.
    pub fn parting_bytes(&self) -> &[u8] {
        self.machine.parting.unsent()
    }

    /// `n` bytes of `parting_bytes` were handed to the socket.
    pub fn advance_parting(&mut self, n: usize) {
        self.machine.parting.advance(n);
    }

    /// When `handle_timeout` wants to be called next.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.machine.poll_timeout()
    }

    /// The next event, decoding received bytes as needed. A QoS 1 message
    /// is acknowledged as it is returned.
    pub fn poll_event(&mut self, now: u64) -> Option<Event<'_>> {
        if self.inbound.salvage && !self.machine.link_readable() && self.salvage_ready() {
            return self.salvaged_message();
        }
        if let Some(reason) = self.machine.events.pop() {
            return Some(Event::Disconnected { reason });
        }
        if self.machine.take_drain() {
            return Some(Event::Drain);
        }
        let inb = &mut self.inbound;
        let machine = &mut self.machine;
        inb.apply_skip();
        if inb.skip > 0 {
            return None;
        }
        // Received bytes of a link the machine dropped are void (fields
        // one by one: `data` below borrows `inb.buf`).
        macro_rules! void_input {
            () => {{
                inb.start = 0;
                inb.end = 0;
                inb.skip = 0;
            }};
        }
        loop {
            if !machine.link_readable() {
                return None;
            }
            let data = &inb.buf.as_ref()[inb.start..inb.end];
            let (packet, used) = match decode(data, inb.max_packet) {
                Ok(None) => return None,
                Ok(Some(p)) => p,
                Err(DecodeError::TooLarge { size, .. }) if data[0] >> 4 == PacketType::Publish as u8 => {
                    // Read its header, acknowledge it, report it, skip the rest.
                    let header = match publish_head(data) {
                        Ok(Some(h)) => Ok(h),
                        // Wait for more, unless the header alone cannot fit the buffer.
                        Ok(None) if data.len() < inb.buf.as_ref().len() => return None,
                        Ok(None) => Err(DecodeError::TooLarge { size, max: inb.max_packet }),
                        Err(e) => Err(e),
                    };
                    let Publish { topic, qos, packet_id, .. } = match header {
                        Ok(h) => h,
                        Err(e) => {
                            machine.violation(now, crate::client::ProtocolError::Malformed(e));
                            void_input!();
                            return machine.events.pop().map(|reason| Event::Disconnected { reason });
                        }
                    };
                    match machine.on_oversized_publish(now, qos, packet_id) {
                        Step::Stall => return None,
                        Step::Violation => {
                            void_input!();
                            return machine.events.pop().map(|reason| Event::Disconnected { reason });
                        }
                        Step::Done(Emit::Nothing) => {
                            // A QoS 2 repeat: answered, already reported.
                            // (Field by field: `topic` still borrows `inb.buf`.)
                            let here = size.min(inb.end - inb.start);
                            inb.start += here;
                            inb.skip = size - here;
                            if inb.skip > 0 {
                                return None;
                            }
                            continue;
                        }
                        Step::Done(_) => {
                            inb.skip = size;
                            return Some(Event::Oversized { topic, size, qos });
                        }
                    }
                }
                Err(e) => {
                    machine.violation(now, crate::client::ProtocolError::Malformed(e));
                    void_input!();
                    return machine.events.pop().map(|reason| Event::Disconnected { reason });
                }
            };
            match machine.on_packet(now, &packet) {
                Step::Stall => return None,
                Step::Violation => {
                    void_input!();
                    return machine.events.pop().map(|reason| Event::Disconnected { reason });
                }
                Step::Done(emit) => {
                    inb.start += used;
                    let event = match (emit, packet) {
                        (Emit::Connected { session_present }, _) => Event::Connected { session_present },
                        (Emit::Disconnected, _) => {
                            void_input!();
                            return machine.events.pop().map(|reason| Event::Disconnected { reason });
                        }
                        (Emit::Message, Packet::Publish(p)) => Event::Message(p),
                        (Emit::Subscribed, Packet::SubAck(s)) => {
                            Event::Subscribed { packet_id: s.packet_id, return_codes: s.return_codes }
                        }
                        (Emit::Unsubscribed(packet_id), _) => Event::Unsubscribed { packet_id },
                        (Emit::Published(packet_id, qos), _) => Event::Published { packet_id, qos },
                        (Emit::Pong, _) => Event::Pong,
                        _ => continue,
                    };
                    return Some(event);
                }
            }
        }
    }

    /// After the machine dropped a link, received bytes of it are void.
    fn sync_inbound(&mut self) {
        if !self.machine.link_readable() && !self.inbound.salvage {
            self.inbound.reset();
        }
    }

    /// Is a whole PUBLISH left at the front of a link that broke? Moves
    /// past other packets, and past a QoS 2 one already delivered (or with
    /// no room to note it: the server sends it again, since it got no
    /// PUBREC); an incomplete packet or the end ends the salvage.
    fn salvage_ready(&mut self) -> bool {
        let inb = &mut self.inbound;
        let held = &self.machine.awaiting_pubrel;
        inb.apply_skip();
        loop {
            let data = &inb.buf.as_ref()[inb.start..inb.end];
            let used = match decode(data, inb.max_packet) {
                Ok(Some((Packet::Publish(p), used))) if p.qos == QoS::ExactlyOnce => {
                    let id = p.packet_id.unwrap_or(0);
                    if !held.contains(id) && !held.is_full() {
                        return true;
                    }
                    used
                }
                Ok(Some((Packet::Publish(_), _))) => return true,
                Ok(Some((_, used))) => used,
                _ => {
                    inb.reset();
                    return false;
                }
            };
            inb.start += used;
        }
    }

    /// The PUBLISH `salvage_ready` found (not acknowledged: the link is
    /// gone). A QoS 2 one is noted as delivered, so that the server's
    /// re-send after the reconnect is answered and not delivered again.
    fn salvaged_message(&mut self) -> Option<Event<'_>> {
        let inb = &mut self.inbound;
        let (packet, used) = decode(&inb.buf.as_ref()[inb.start..inb.end], inb.max_packet).ok()??;
        inb.start += used;
        match packet {
            Packet::Publish(p) => {
                if let (QoS::ExactlyOnce, Some(id)) = (p.qos, p.packet_id) {
                    self.machine.awaiting_pubrel.insert(id);
                }
                Some(Event::Message(p))
            }
            _ => None,
        }
    }
}
