//! Packet identifiers: never 0, never one still in use [MQTT-2.3.1-1/2].
//! They count up from 1, skipping 0 and any id in use. One bit per id in a
//! caller-given buffer sized by the profile: 8 KiB covers all 65,535 ids (a
//! PC); a few dozen bytes do for a device whose in-flight store and pending
//! table bound how many ids can be live at once (an ESP32).

/// Bytes of `Storage::ids` for every id there is.
pub const ALL_IDS_BYTES: usize = 8 << 10;

pub struct IdPool<B> {
    used: B,
    /// The highest id this pool gives out.
    max: u16,
    last: u16,
    in_use: u32,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> IdPool<B> {
    pub fn new(used: B) -> Self {
        let bits = used.as_ref().len().saturating_mul(8);
        let max = u16::try_from(bits.saturating_sub(1)).unwrap_or(u16::MAX);
        let mut pool = IdPool { used, max, last: 0, in_use: 0 };
        pool.clear();
        pool
    }

    fn bit(id: u16) -> (usize, u8) {
        ((id >> 3) as usize, 1u8 << (id & 7))
    }

    pub fn is_used(&self, id: u16) -> bool {
        let (w, b) = Self::bit(id);
        id <= self.max && self.used.as_ref()[w] & b != 0
    }

    /// The next free id after the last one given, or `None` when all are
    /// in use (or the buffer holds none).
    pub fn allocate(&mut self) -> Option<u16> {
        if self.in_use >= u32::from(self.max) {
            return None;
        }
        let mut id = self.last;
        loop {
            id = if id >= self.max { 1 } else { id + 1 };
            if !self.is_used(id) {
                break;
            }
        }
        let (w, b) = Self::bit(id);
        self.used.as_mut()[w] |= b;
        self.in_use += 1;
        self.last = id;
        Some(id)
    }

    pub fn release(&mut self, id: u16) {
        if self.is_used(id) {
            let (w, b) = Self::bit(id);
            self.used.as_mut()[w] &= !b;
            self.in_use -= 1;
        }
    }

    /// How many ids this pool gives out.
    pub fn capacity(&self) -> usize {
        usize::from(self.max)
    }

    /// How many are free now.
    pub fn free(&self) -> usize {
        usize::from(self.max).saturating_sub(self.in_use as usize)
    }

    /// Every id free again; counting starts over from 1.
    pub fn clear(&mut self) {
        self.used.as_mut().fill(0);
        self.last = 0;
        self.in_use = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn mqtt_2_3_1_1_ids_start_at_1_and_are_never_0() {
        let mut p = IdPool::new(vec![0u8; ALL_IDS_BYTES]);
        assert_eq!(p.allocate(), Some(1));
        assert_eq!(p.allocate(), Some(2));
        for _ in 0..70_000 {
            let id = p.allocate().unwrap();
            assert_ne!(id, 0);
            p.release(id);
        }
    }

    #[test]
    fn mqtt_2_3_1_2_an_id_in_use_is_skipped_after_wrapping() {
        let mut p = IdPool::new(vec![0u8; ALL_IDS_BYTES]);
        let held = p.allocate().unwrap(); // 1 stays in flight
        for _ in 0..65_534 {
            let id = p.allocate().unwrap();
            p.release(id);
        }
        // The counter is at 65535; next would be 1, which is in use.
        assert_eq!(p.allocate(), Some(2));
        assert_eq!(held, 1);
    }

    #[test]
    fn all_ids_in_use_gives_none() {
        let mut p = IdPool::new(vec![0u8; ALL_IDS_BYTES]);
        for _ in 0..65_535 {
            assert!(p.allocate().is_some());
        }
        assert_eq!(p.allocate(), None);
        p.release(77);
        assert_eq!(p.allocate(), Some(77));
    }

    #[test]
    fn a_small_pool_wraps_within_its_bits() {
        let mut p = IdPool::new(vec![0u8; 2]); // ids 1..=15
        let got: std::vec::Vec<u16> = (0..15).map(|_| p.allocate().unwrap()).collect();
        assert_eq!(got, (1..=15).collect::<std::vec::Vec<u16>>());
        assert_eq!(p.allocate(), None);
        p.release(3);
        assert_eq!(p.allocate(), Some(3));
        assert!(IdPool::new(vec![0u8; 0]).allocate().is_none());
    }
}
