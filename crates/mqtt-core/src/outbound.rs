//! The bounded outbound queue: whole packets in, bytes out. A packet is
//! admitted whole or not at all, and the queue always knows where the packet
//! at its head begins, so a link that drops mid-packet can send that packet
//! again from its first byte on the next link.

use crate::codec::wire_packet_len;

pub struct OutboundQueue<B> {
    buf: B,
    /// First byte of the oldest packet not yet fully handed to the socket.
    start: usize,
    /// First byte not yet handed to the socket (`start <= sent <= end`).
    sent: usize,
    end: usize,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> OutboundQueue<B> {
    pub fn new(buf: B) -> Self {
        OutboundQueue { buf, start: 0, sent: 0, end: 0 }
    }

    pub fn capacity(&self) -> usize {
        self.buf.as_ref().len()
    }

    /// Bytes queued, sent or not, of packets not yet fully handed over.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn free(&self) -> usize {
        self.capacity() - self.len()
    }

    /// Admits a packet of exactly `len` bytes written by `write`, or
    /// returns `false` and changes nothing.
    pub fn push_with(&mut self, len: usize, write: impl FnOnce(&mut [u8])) -> bool {
        if len > self.free() {
            return false;
        }
        if self.capacity() - self.end < len {
            self.compact();
        }
        write(&mut self.buf.as_mut()[self.end..self.end + len]);
        self.end += len;
        true
    }

    fn compact(&mut self) {
        let start = self.start;
        self.buf.as_mut().copy_within(start..self.end, 0);
        self.sent -= start;
        self.end -= start;
        self.start = 0;
    }

    /// Bytes to hand to the socket next.
    pub fn unsent(&self) -> &[u8] {
        &self.buf.as_ref()[self.sent..self.end]
    }

    /// Is the socket in the middle of a packet of this queue?
    pub fn mid_packet(&self) -> bool {
        self.sent > self.start
    }

    /// `n` bytes were handed over; `done` sees each packet now fully sent.
    pub fn advance(&mut self, n: usize, mut done: impl FnMut(&[u8])) {
        self.sent = (self.sent + n).min(self.end);
        while self.start < self.end {
            let buf = &self.buf.as_ref()[self.start..self.end];
            let len = wire_packet_len(buf);
            if self.start + len > self.sent {
                break;
            }
            done(&buf[..len]);
            self.start += len;
        }
        if self.start == self.end {
            self.start = 0;
            self.sent = 0;
            self.end = 0;
        }
    }

    /// For a new link: nothing half-written continues; the head packet goes
    /// out again whole. Returns that packet when it had been partly sent.
    pub fn rewind(&mut self) -> Option<&mut [u8]> {
        let partial = self.sent > self.start;
        self.sent = self.start;
        if partial {
            let len = wire_packet_len(&self.buf.as_ref()[self.start..self.end]);
            Some(&mut self.buf.as_mut()[self.start..self.start + len])
        } else {
            None
        }
    }

    pub fn clear(&mut self) {
        self.start = 0;
        self.sent = 0;
        self.end = 0;
    }
}

/// A small queue for the client's own packets (PUBACK, PINGREQ,
/// DISCONNECT) so that they never wait behind, or are refused by, a full
/// application queue.
pub struct ControlQueue {
    buf: [u8; CONTROL_QUEUE_BYTES],
    sent: usize,
    end: usize,
}

/// Room for 64 PUBACKs between two writes to the socket.
pub const CONTROL_QUEUE_BYTES: usize = 256;

impl ControlQueue {
    pub const fn new() -> Self {
        ControlQueue { buf: [0; CONTROL_QUEUE_BYTES], sent: 0, end: 0 }
    }

    pub fn push(&mut self, packet: &[u8]) -> bool {
        if CONTROL_QUEUE_BYTES - self.end < packet.len() {
            return false;
        }
        self.buf[self.end..self.end + packet.len()].copy_from_slice(packet);
        self.end += packet.len();
        true
    }

    pub fn unsent(&self) -> &[u8] {
        &self.buf[self.sent..self.end]
    }

    pub fn is_empty(&self) -> bool {
        self.sent == self.end
    }

    pub fn mid_packet(&self) -> bool {
        self.sent > 0
    }

    pub fn advance(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.end);
        if self.sent == self.end {
            self.clear();
        }
    }

    pub fn clear(&mut self) {
        self.sent = 0;
        self.end = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn ping() -> [u8; 2] {
        [0xc0, 0]
    }

    #[test]
    fn admits_whole_or_not_at_all() {
        let mut q = OutboundQueue::new(vec![0u8; 5]);
        assert!(q.push_with(2, |b| b.copy_from_slice(&ping())));
        assert!(q.push_with(2, |b| b.copy_from_slice(&ping())));
        assert!(!q.push_with(2, |_| panic!("must not write")));
        assert_eq!(q.unsent(), [0xc0, 0, 0xc0, 0]);
    }

    #[test]
    fn partial_head_is_rewound_whole() {
        let mut q = OutboundQueue::new(vec![0u8; 16]);
        q.push_with(4, |b| b.copy_from_slice(&[0x40, 2, 0, 7]));
        q.push_with(2, |b| b.copy_from_slice(&ping()));
        let mut done = Vec::new();
        q.advance(5, |p| done.push(p.to_vec()));
        assert_eq!(done, [vec![0x40, 2, 0, 7]]);
        assert!(q.mid_packet());
        assert_eq!(q.rewind().map(|p| p.to_vec()), Some(vec![0xc0, 0]));
        assert_eq!(q.unsent(), ping());
    }

    #[test]
    fn compacts_to_admit_after_draining() {
        let mut q = OutboundQueue::new(vec![0u8; 6]);
        q.push_with(4, |b| b.copy_from_slice(&[0x40, 2, 0, 1]));
        q.push_with(2, |b| b.copy_from_slice(&ping()));
        q.advance(4, |_| {});
        assert!(q.push_with(4, |b| b.copy_from_slice(&[0x40, 2, 0, 2])));
        assert_eq!(q.unsent(), [0xc0, 0, 0x40, 2, 0, 2]);
    }
}
