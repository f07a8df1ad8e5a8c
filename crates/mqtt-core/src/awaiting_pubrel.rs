//! Packet ids of QoS 2 messages received, delivered and answered with
//! PUBREC, whose PUBREL has not come yet. A PUBLISH arriving again under
//! one of these ids is the same message sent again: it is answered with
//! PUBREC and not delivered a second time [MQTT-4.3.3-2]. Kept in a
//! caller-given byte buffer, two bytes an id, so its bound is the
//! profile's.

/// Bytes of `Storage::awaiting_pubrel` per id.
pub const RECORD: usize = 2;

pub struct AwaitingPubrel<B> {
    buf: B,
    len: usize,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> AwaitingPubrel<B> {
    pub fn new(buf: B) -> Self {
        AwaitingPubrel { buf, len: 0 }
    }

    /// How many ids it can hold.
    pub fn capacity(&self) -> usize {
        self.buf.as_ref().len() / RECORD
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn position(&self, id: u16) -> Option<usize> {
        let want = id.to_be_bytes();
        self.buf.as_ref()[..self.len * RECORD].chunks_exact(RECORD).position(|c| c == want)
    }

    pub fn contains(&self, id: u16) -> bool {
        self.position(id).is_some()
    }

    pub fn is_full(&self) -> bool {
        self.len >= self.capacity()
    }

    /// False when full (nothing changes). The caller checks `contains` first.
    pub fn insert(&mut self, id: u16) -> bool {
        if self.is_full() {
            return false;
        }
        let at = self.len * RECORD;
        self.buf.as_mut()[at..at + RECORD].copy_from_slice(&id.to_be_bytes());
        self.len += 1;
        true
    }

    /// PUBREL for `id`: forget it (the last id moves into its place).
    pub fn remove(&mut self, id: u16) {
        if let Some(i) = self.position(id) {
            let last = (self.len - 1) * RECORD;
            self.buf.as_mut().copy_within(last..last + RECORD, i * RECORD);
            self.len -= 1;
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
    fn bounded_by_bytes_and_forgets_on_remove() {
        let mut s = AwaitingPubrel::new(vec![0u8; 2 * RECORD]);
        assert!(s.insert(7));
        assert!(s.insert(0x1234));
        assert!(!s.insert(9), "full");
        assert!(s.contains(7) && s.contains(0x1234) && !s.contains(9));
        s.remove(7);
        assert!(!s.contains(7) && s.contains(0x1234));
        assert!(s.insert(9));
        s.clear();
        assert_eq!(s.len(), 0);
        assert_eq!(AwaitingPubrel::new(vec![0u8; 1]).capacity(), 0);
    }
}
