//! The store of QoS 1 PUBLISH packets sent and not yet acknowledged, kept
//! as their encoded bytes so they can be sent again, whole, with DUP set,
//! after a reconnect. Bounded: space is reserved when `publish` admits a
//! packet, so moving it here after it is sent cannot fail.

/// Record header: packet id (2), live flag (1), pad (1), length (4).
pub const RECORD_HEADER: usize = 8;

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
        buf[at + 2] = 1;
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
                self.buf.as_mut().copy_within(read..next, write);
                write += next - read;
            }
            read = next;
        }
        self.head = 0;
        self.tail = write;
        self.ack_hint = 0;
    }

    /// The record at `offset`: (id, live, packet bytes, next offset).
    pub fn record(&self, offset: usize) -> Option<(u16, bool, &[u8], usize)> {
        if offset >= self.tail {
            return None;
        }
        let b = &self.buf.as_ref()[offset..self.tail];
        let id = u16::from_be_bytes([b[0], b[1]]);
        let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
        Some((id, b[2] == 1, &b[RECORD_HEADER..RECORD_HEADER + len], offset + RECORD_HEADER + len))
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

    /// PUBACK for `id`: false when no live record has it. Acknowledged
    /// records at the front are dropped at once; usually that is all of them,
    /// since a server acknowledges in order [MQTT-4.6.0-2]. Records from
    /// `floor` on stay (one is being re-sent).
    pub fn ack(&mut self, id: u16, floor: usize) -> bool {
        let hint = if self.ack_hint >= self.head { self.ack_hint } else { self.head };
        let Some((at, next)) = self.find_live(id, hint, self.tail).or_else(|| self.find_live(id, self.head, hint))
        else {
            return false;
        };
        self.buf.as_mut()[at + 2] = 0;
        self.live -= 1;
        self.live_bytes -= next - at;
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
        true
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

    /// Before sending them again on a new link: DUP on every record
    /// [MQTT-3.3.1-1].
    pub fn mark_all_dup(&mut self) {
        let mut at = self.head;
        while let Some((_, _, _, next)) = self.record(at) {
            let len = u32::from_le_bytes(self.buf.as_ref()[at + 4..at + 8].try_into().unwrap_or_default()) as usize;
            crate::codec::publish::set_dup(&mut self.buf.as_mut()[at + RECORD_HEADER..at + RECORD_HEADER + len]);
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
}
