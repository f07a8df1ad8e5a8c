//! The store of QoS 1 and QoS 2 messages sent and not yet acknowledged,
//! kept as their encoded bytes so they can be sent again, whole, with DUP
//! set, after a reconnect. A QoS 2 message whose PUBREC came becomes a
//! PUBREL record (its payload is given back at the next compaction), so
//! what goes again after a reconnect is that PUBREL, never the PUBLISH
//! [MQTT-4.3.3-1]. Bounded: space is reserved when `publish` admits a
//! packet, so moving it here after it is sent cannot fail.

use crate::codec::{publish, QoS};

/// Record header: packet id (2), state (1), pad (1), length (4).
pub const RECORD_HEADER: usize = 8;

/// Record states (byte 2 of the header).
const HOLE: u8 = 0;
const PUBLISHED: u8 = 1;
const RELEASED: u8 = 2;
const PUBREL_LEN: usize = 4;

/// A live record found by its packet id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub at: usize,
    /// The PUBLISH's QoS (1 or 2).
    pub qos: QoS,
    /// QoS 2 with its PUBREC received: now a PUBREL awaiting PUBCOMP.
    pub released: bool,
}

pub struct InflightStore<B> {
    buf: B,
    head: usize,
    tail: usize,
    reserved: usize,
    live: usize,
    /// Bytes of live records (acknowledged ones are holes until squeezed out).
    live_bytes: usize,
    /// Where the last acknowledged record ended: acks usually come in order,
    /// so the next one is looked for there first.
    ack_hint: usize,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> InflightStore<B> {
    pub fn new(buf: B) -> Self {
        InflightStore { buf, head: 0, tail: 0, reserved: 0, live: 0, live_bytes: 0, ack_hint: 0 }
    }

    pub fn capacity(&self) -> usize {
        self.buf.as_ref().len()
    }

    pub fn live(&self) -> usize {
        self.live
    }

    /// Can a packet of `len` bytes be admitted now?
    pub fn can_reserve(&self, len: usize) -> bool {
        self.live_bytes + self.reserved + len + RECORD_HEADER <= self.capacity()
    }

    /// Could it ever be admitted?
    pub fn fits_at_all(&self, len: usize) -> bool {
        len + RECORD_HEADER <= self.capacity()
    }

    pub fn reserve(&mut self, len: usize) {
        self.reserved += len + RECORD_HEADER;
    }

    /// Stores a sent packet under its reservation. May squeeze out the
    /// holes of acknowledged records, so offsets held outside are void
    /// (nothing is re-sent while new packets go out, so none are held).
    pub fn push(&mut self, id: u16, packet: &[u8]) {
        let need = packet.len() + RECORD_HEADER;
        self.reserved -= need;
        if self.capacity() - self.tail < need {
            self.squeeze();
        }
        let at = self.tail;
        let buf = self.buf.as_mut();
        buf[at..at + 2].copy_from_slice(&id.to_be_bytes());
        buf[at + 2] = PUBLISHED;
        buf[at + 3] = 0;
        buf[at + 4..at + 8].copy_from_slice(&(packet.len() as u32).to_le_bytes());
        buf[at + 8..at + need].copy_from_slice(packet);
        self.tail += need;
        self.live += 1;
        self.live_bytes += need;
    }

    /// Moves the live records, in order, to the start of the buffer.
    fn squeeze(&mut self) {
        let (mut read, mut write) = (self.head, 0);
        while let Some((_, live, _, next)) = self.record(read) {
            if live {
                // A PUBREL record keeps its header and its 4 bytes only.
                let end = read + self.charged(read);
                self.buf.as_mut().copy_within(read..end, write);
                let kept = (end - read - RECORD_HEADER) as u32;
                self.buf.as_mut()[write + 4..write + 8].copy_from_slice(&kept.to_le_bytes());
                write += end - read;
            }
            read = next;
        }
        self.head = 0;
        self.tail = write;
        self.ack_hint = 0;
    }

    /// The record at `offset`: (id, live, packet bytes to send, next
    /// offset). A released record's bytes are its PUBREL.
    pub fn record(&self, offset: usize) -> Option<(u16, bool, &[u8], usize)> {
        if offset >= self.tail {
            return None;
        }
        let b = &self.buf.as_ref()[offset..self.tail];
        let id = u16::from_be_bytes([b[0], b[1]]);
        let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let send = if b[2] == RELEASED { PUBREL_LEN } else { len };
        Some((id, b[2] != HOLE, &b[RECORD_HEADER..RECORD_HEADER + send], offset + RECORD_HEADER + len))
    }

    /// Bytes the live record at `at` counts against the capacity.
    fn charged(&self, at: usize) -> usize {
        self.record(at).map_or(0, |(_, _, bytes, _)| RECORD_HEADER + bytes.len())
    }

    pub fn head(&self) -> usize {
        self.head
    }

    /// The first live record at or after `offset`.
    pub fn next_live(&self, mut offset: usize) -> Option<usize> {
        while let Some((_, live, _, next)) = self.record(offset) {
            if live {
                return Some(offset);
            }
            offset = next;
        }
        None
    }

    /// The live record of `id`, if any.
    pub fn find(&self, id: u16) -> Option<Found> {
        let hint = if self.ack_hint >= self.head { self.ack_hint } else { self.head };
        let (at, _) = self.find_live(id, hint, self.tail).or_else(|| self.find_live(id, self.head, hint))?;
        let b = self.buf.as_ref();
        let released = b[at + 2] == RELEASED;
        let qos = if released {
            QoS::ExactlyOnce
        } else {
            publish::qos_of(&b[at + RECORD_HEADER..]).unwrap_or(QoS::AtLeastOnce)
        };
        Some(Found { at, qos, released })
    }

    /// The message at `at` is settled (PUBACK, or PUBCOMP): its record
    /// goes. Settled records at the front are dropped at once; usually
    /// that is all of them, since a server acknowledges in order
    /// [MQTT-4.6.0-2]. Records from `floor` on stay (one is being re-sent).
    pub fn remove(&mut self, at: usize, floor: usize) {
        let Some((_, _, _, next)) = self.record(at) else { return };
        self.live_bytes -= self.charged(at);
        self.buf.as_mut()[at + 2] = HOLE;
        self.live -= 1;
        self.ack_hint = next;
        while self.head < floor {
            match self.record(self.head) {
                Some((_, false, _, next)) => self.head = next,
                _ => break,
            }
        }
        if self.head == self.tail {
            self.head = 0;
            self.tail = 0;
            self.ack_hint = 0;
        }
    }

    /// PUBREC for the QoS 2 PUBLISH at `at`: from now on the record is its
    /// PUBREL, and the payload's room counts as free.
    pub fn release(&mut self, at: usize, id: u16) {
        let before = self.charged(at);
        let [hi, lo] = id.to_be_bytes();
        let buf = self.buf.as_mut();
        buf[at + 2] = RELEASED;
        buf[at + RECORD_HEADER..at + RECORD_HEADER + PUBREL_LEN].copy_from_slice(&[0x62, 0x02, hi, lo]);
        self.live_bytes -= before - self.charged(at);
    }

    /// PUBACK (or PUBCOMP) for `id`: false when no live record has it.
    #[cfg(test)]
    pub fn ack(&mut self, id: u16, floor: usize) -> bool {
        match self.find(id) {
            Some(f) => {
                self.remove(f.at, floor);
                true
            }
            None => false,
        }
    }

    fn find_live(&self, id: u16, mut at: usize, end: usize) -> Option<(usize, usize)> {
        while at < end {
            let (rid, live, _, next) = self.record(at)?;
            if live && rid == id {
                return Some((at, next));
            }
            at = next;
        }
        None
    }

    /// Before sending them again on a new link: DUP on every PUBLISH
    /// record [MQTT-3.3.1-1] (a PUBREL has no DUP).
    pub fn mark_all_dup(&mut self) {
        let mut at = self.head;
        while let Some((_, _, _, next)) = self.record(at) {
            let len = u32::from_le_bytes(self.buf.as_ref()[at + 4..at + 8].try_into().unwrap_or_default()) as usize;
            publish::set_dup(&mut self.buf.as_mut()[at + RECORD_HEADER..at + RECORD_HEADER + len]);
            at = next;
        }
    }

    pub fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
        self.reserved = 0;
        self.live = 0;
        self.live_bytes = 0;
        self.ack_hint = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn reserve_push_ack_in_order() {
        let mut s = InflightStore::new(vec![0u8; 64]);
        let p = [0x32, 6, 0, 1, b'a', 0, 1, b'x'];
        assert!(s.can_reserve(p.len()));
        s.reserve(p.len());
        s.push(1, &p);
        assert_eq!(s.live(), 1);
        assert!(!s.ack(2, usize::MAX));
        assert!(s.ack(1, usize::MAX));
        assert_eq!(s.live(), 0);
        assert_eq!(s.next_live(s.head()), None);
    }

    #[test]
    fn bounded_by_capacity_including_reservations() {
        let mut s = InflightStore::new(vec![0u8; 32]);
        assert!(s.can_reserve(16));
        s.reserve(16);
        assert!(!s.can_reserve(1));
        assert!(!s.fits_at_all(25));
    }

    #[test]
    fn one_unacknowledged_record_does_not_fill_the_store_with_holes() {
        let mut s = InflightStore::new(vec![0u8; 64]);
        let p = [0x32, 5, 0, 1, b't', 0, 1];
        s.reserve(p.len());
        s.push(1, &p);
        for id in 2..1000u16 {
            assert!(s.can_reserve(p.len()), "id {id}");
            s.reserve(p.len());
            s.push(id, &p);
            assert!(s.ack(id, usize::MAX));
        }
        assert_eq!(s.live(), 1);
        assert_eq!(s.record(s.next_live(s.head()).unwrap()).unwrap().0, 1);
    }

    #[test]
    fn out_of_order_ack_keeps_the_rest_and_dup_marks_all() {
        let mut s = InflightStore::new(vec![0u8; 128]);
        for id in 1..=3u16 {
            let p = [0x32, 5, 0, 1, b't', 0, id as u8];
            s.reserve(p.len());
            s.push(id, &p);
        }
        assert!(s.ack(2, usize::MAX));
        s.mark_all_dup();
        let first = s.next_live(s.head()).unwrap();
        let (id, _, bytes, next) = s.record(first).unwrap();
        assert_eq!((id, bytes[0]), (1, 0x3a));
        let (id, _, _, _) = s.record(s.next_live(next).unwrap()).unwrap();
        assert_eq!(id, 3);
    }

    #[test]
    fn a_released_qos2_record_is_its_pubrel_and_gives_its_payload_back() {
        let mut s = InflightStore::new(vec![0u8; 64]);
        let big = [0x34, 14, 0, 1, b't', 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        s.reserve(big.len());
        s.push(9, &big);
        assert!(!s.can_reserve(40));
        let f = s.find(9).unwrap();
        assert_eq!((f.qos, f.released), (QoS::ExactlyOnce, false));
        s.release(f.at, 9);
        assert!(s.find(9).unwrap().released);
        assert_eq!(s.record(f.at).unwrap().2, [0x62, 2, 0, 9]);
        // Room is back; a push squeezes the record to its PUBREL.
        assert!(s.can_reserve(40));
        let p = [0x32, 38, 0, 1, b'u', 0, 10];
        let mut q = p.to_vec();
        q.resize(40, 0);
        s.reserve(q.len());
        s.push(10, &q);
        let first = s.next_live(s.head()).unwrap();
        assert_eq!(s.record(first).unwrap().2, [0x62, 2, 0, 9]);
        s.mark_all_dup();
        assert_eq!(s.record(first).unwrap().2, [0x62, 2, 0, 9], "no DUP on a PUBREL");
        assert!(s.ack(9, usize::MAX));
        assert!(s.ack(10, usize::MAX));
        assert_eq!(s.live(), 0);
    }
}
