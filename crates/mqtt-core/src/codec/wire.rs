//! Wire primitives: remaining length, two-byte integers, length-prefixed
//! strings and byte fields.

use super::DecodeError;

/// The largest remaining length four bytes can carry (2.2.3).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// How many bytes the remaining length `len` takes (1 to 4).
pub fn remaining_length_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes the remaining length; the caller has checked `len` and the room.
pub fn put_remaining_length(out: &mut [u8], mut len: usize) -> usize {
    let mut i = 0;
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out[i] = byte;
        i += 1;
        if len == 0 {
            return i;
        }
    }
}

/// Reads a remaining length from `buf`: `Ok(None)` when more bytes are
/// needed, else the value and how many bytes it took.
pub fn get_remaining_length(buf: &[u8]) -> Result<Option<(usize, usize)>, DecodeError> {
    let mut value = 0usize;
    for i in 0..4 {
        let Some(&byte) = buf.get(i) else {
            return Ok(None);
        };
        value |= ((byte & 0x7f) as usize) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    Err(DecodeError::RemainingLengthTooLong)
}

/// A UTF-8 string as MQTT allows it: well-formed, no U+0000 [MQTT-1.5.3-1/2].
/// A BOM (U+FEFF) is kept as it is [MQTT-1.5.3-3].
pub fn check_utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    let s = core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
    if bytes.contains(&0) {
        return Err(DecodeError::NullCharacter);
    }
    Ok(s)
}

/// A bounds-checked cursor over one packet's body.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.buf.split_first().ok_or(DecodeError::LengthMismatch)?;
        self.buf = rest;
        Ok(b)
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let hi = self.u8()?;
        let lo = self.u8()?;
        Ok(u16::from_be_bytes([hi, lo]))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::LengthMismatch);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// A two-byte length then that many bytes.
    pub fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u16()? as usize;
        self.take(n)
    }

    pub fn string(&mut self) -> Result<&'a str, DecodeError> {
        check_utf8(self.binary()?)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The body must be used up exactly.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::LengthMismatch)
        }
    }
}

/// A writer into a slice that the caller sized with `encoded_len`.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    pub fn u8(&mut self, b: u8) {
        self.buf[self.pos] = b;
        self.pos += 1;
    }

    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }

    /// Length-prefixed; the caller has checked the length fits in 16 bits.
    pub fn binary(&mut self, b: &[u8]) {
        self.u16(b.len() as u16);
        self.bytes(b);
    }

    pub fn remaining_length(&mut self, len: usize) {
        self.pos += put_remaining_length(&mut self.buf[self.pos..], len);
    }

    pub fn written(&self) -> usize {
        self.pos
    }
}

/// Iterates over already-checked length-prefixed strings, each followed by
/// a QoS byte when `with_qos` (SUBSCRIBE) or not (UNSUBSCRIBE).
pub struct WireStrings<'a> {
    reader: Reader<'a>,
    with_qos: bool,
}

impl<'a> WireStrings<'a> {
    pub fn new(buf: &'a [u8], with_qos: bool) -> Self {
        WireStrings { reader: Reader::new(buf), with_qos }
    }
}

impl<'a> Iterator for WireStrings<'a> {
    type Item = (&'a str, u8);

    fn next(&mut self) -> Option<Self::Item> {
        if self.reader.is_empty() {
            return None;
        }
        let s = self.reader.string().ok()?;
        let q = if self.with_qos { self.reader.u8().ok()? } else { 0 };
        Some((s, q))
    }
}
