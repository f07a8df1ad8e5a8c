//! SUBSCRIBE and UNSUBSCRIBE requests awaiting their acknowledgement, kept
//! in a caller-given byte buffer: how many may wait is bounded by bytes
//! (`RECORD` each), like the other buffers, not by a fixed small count.

/// Record: packet id (2), kind and sent flags (1), unused (1), filter count (2).
pub const RECORD: usize = 6;

const KIND_UNSUBSCRIBE: u8 = 1;
const SENT: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingKind {
    Subscribe,
    Unsubscribe,
}

pub struct PendingTable<B> {
    buf: B,
    len: usize,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> PendingTable<B> {
    pub fn new(buf: B) -> Self {
        PendingTable { buf, len: 0 }
    }

    /// How many requests may wait at once.
    pub fn capacity(&self) -> usize {
        self.buf.as_ref().len() / RECORD
    }

    pub fn is_full(&self) -> bool {
        self.len >= self.capacity()
    }

    fn at(&self, i: usize) -> &[u8] {
        &self.buf.as_ref()[i * RECORD..(i + 1) * RECORD]
    }

    fn id_at(&self, i: usize) -> u16 {
        let r = self.at(i);
        u16::from_be_bytes([r[0], r[1]])
    }

    fn find(&self, id: u16) -> Option<usize> {
        (0..self.len).find(|&i| self.id_at(i) == id)
    }

    /// False when full (nothing changes).
    pub fn insert(&mut self, id: u16, kind: PendingKind, count: u16) -> bool {
        if self.is_full() {
            return false;
        }
        let flags = if kind == PendingKind::Unsubscribe { KIND_UNSUBSCRIBE } else { 0 };
        let i = self.len;
        let [a, b] = id.to_be_bytes();
        let [c, d] = count.to_be_bytes();
        self.buf.as_mut()[i * RECORD..(i + 1) * RECORD].copy_from_slice(&[a, b, flags, 0, c, d]);
        self.len += 1;
        true
    }

    pub fn contains(&self, id: u16) -> bool {
        self.find(id).is_some()
    }

    /// The request went out whole on the current link.
    pub fn mark_sent(&mut self, id: u16) {
        if let Some(i) = self.find(id) {
            self.buf.as_mut()[i * RECORD + 2] |= SENT;
        }
    }

    /// Takes the sent request `id` of `kind`; its filter count.
    pub fn take(&mut self, id: u16, kind: PendingKind) -> Option<u16> {
        let i = self.find(id)?;
        let r = self.at(i);
        let is_unsub = r[2] & KIND_UNSUBSCRIBE != 0;
        if r[2] & SENT == 0 || is_unsub != (kind == PendingKind::Unsubscribe) {
            return None;
        }
        let count = u16::from_be_bytes([r[4], r[5]]);
        self.remove(i);
        Some(count)
    }

    fn remove(&mut self, i: usize) {
        let last = self.len - 1;
        if i != last {
            self.buf.as_mut().copy_within(last * RECORD..(last + 1) * RECORD, i * RECORD);
        }
        self.len = last;
    }

    /// The link is gone: acknowledgements of what was sent on it will
    /// never come. `release` sees each dropped id.
    pub fn drop_sent(&mut self, mut release: impl FnMut(u16)) {
        let mut i = 0;
        while i < self.len {
            if self.at(i)[2] & SENT != 0 {
                release(self.id_at(i));
                self.remove(i);
            } else {
                i += 1;
            }
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn bounded_by_bytes_and_acked_only_when_sent() {
        let mut t = PendingTable::new(vec![0u8; RECORD * 2]);
        assert!(t.insert(1, PendingKind::Subscribe, 1));
        assert!(t.insert(2, PendingKind::Unsubscribe, 3));
        assert!(!t.insert(3, PendingKind::Subscribe, 1));
        assert_eq!(t.take(1, PendingKind::Subscribe), None, "not sent yet");
        t.mark_sent(1);
        assert_eq!(t.take(1, PendingKind::Unsubscribe), None, "wrong kind");
        assert_eq!(t.take(1, PendingKind::Subscribe), Some(1));
        t.mark_sent(2);
        let mut dropped = vec![];
        t.drop_sent(|id| dropped.push(id));
        assert_eq!(dropped, [2]);
        assert!(!t.contains(2));
    }
}
