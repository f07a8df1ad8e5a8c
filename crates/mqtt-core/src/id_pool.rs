//! Packet identifiers: never 0, never one still in use [MQTT-2.3.1-1/2].
//! They count up from 1, skipping 0 and any id in use.

/// One bit per id: 8 KiB, so allocation is O(1) however many are in flight.
pub struct IdPool {
    used: [u64; 1024],
    last: u16,
    in_use: u32,
}

impl IdPool {
    pub const fn new() -> Self {
        IdPool { used: [0; 1024], last: 0, in_use: 0 }
    }

    fn bit(id: u16) -> (usize, u64) {
        ((id >> 6) as usize, 1u64 << (id & 63))
    }

    pub fn is_used(&self, id: u16) -> bool {
        let (w, b) = Self::bit(id);
        self.used[w] & b != 0
    }

    /// The next free id after the last one given, or `None` when all
    /// 65,535 are in use.
    pub fn allocate(&mut self) -> Option<u16> {
        if self.in_use >= u16::MAX as u32 {
            return None;
        }
        let mut id = self.last;
        loop {
            id = id.wrapping_add(1);
            if id != 0 && !self.is_used(id) {
                break;
            }
        }
        let (w, b) = Self::bit(id);
        self.used[w] |= b;
        self.in_use += 1;
        self.last = id;
        Some(id)
    }

    pub fn release(&mut self, id: u16) {
        if self.is_used(id) {
            let (w, b) = Self::bit(id);
            self.used[w] &= !b;
            self.in_use -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_2_3_1_1_ids_start_at_1_and_are_never_0() {
        let mut p = IdPool::new();
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
        let mut p = IdPool::new();
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
        let mut p = IdPool::new();
        for _ in 0..65_535 {
            assert!(p.allocate().is_some());
        }
        assert_eq!(p.allocate(), None);
        p.release(77);
        assert_eq!(p.allocate(), Some(77));
    }
}
