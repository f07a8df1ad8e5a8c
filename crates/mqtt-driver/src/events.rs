//! The event batch: every event of a wake, for every connection, in one
//! byte buffer, so a binding crosses into its runtime once per batch and
//! slices payloads out of it instead of allocating one buffer a message.
//!
//! Each record: `kind: u8`, `conn: i32` (LE), then by kind (all LE):
//! - `CONNECTED` (1): `session_present: u8`
//! - `DISCONNECTED` (2): `final: u8` (1 on the last event of a handle after
//!   `disconnect`), `reason_len: u16`, reason (UTF-8)
//! - `SUBSCRIBED` (3): `packet_id: u16`, `code: u8` (granted QoS, or 0x80
//!   refused), `topic_len: u16`, topic (UTF-8)
//! - `MESSAGE` (4): `qos: u8`, `flags: u8` (1 retain, 2 dup),
//!   `topic_len: u16`, `payload_len: u32`, topic (UTF-8), payload
//! - `PUBLISHED` (5): `packet_id: u16` (PUBACK received)

pub const CONNECTED: u8 = 1;
pub const DISCONNECTED: u8 = 2;
pub const SUBSCRIBED: u8 = 3;
pub const MESSAGE: u8 = 4;
pub const PUBLISHED: u8 = 5;

/// Appends records to a batch.
pub(crate) struct BatchWriter<'a>(pub &'a mut Vec<u8>);

impl BatchWriter<'_> {
    fn head(&mut self, kind: u8, conn: i32) {
        self.0.push(kind);
        self.0.extend_from_slice(&conn.to_le_bytes());
    }

    pub fn connected(&mut self, conn: i32, session_present: bool) {
        self.head(CONNECTED, conn);
        self.0.push(session_present as u8);
    }

    pub fn disconnected(&mut self, conn: i32, reason: &str, last: bool) {
        self.head(DISCONNECTED, conn);
        self.0.push(last as u8);
        self.0.extend_from_slice(&(reason.len() as u16).to_le_bytes());
        self.0.extend_from_slice(reason.as_bytes());
    }

    pub fn subscribed(&mut self, conn: i32, packet_id: u16, code: u8, topic: &str) {
        self.head(SUBSCRIBED, conn);
        self.0.extend_from_slice(&packet_id.to_le_bytes());
        self.0.push(code);
        self.0.extend_from_slice(&(topic.len() as u16).to_le_bytes());
        self.0.extend_from_slice(topic.as_bytes());
    }

    pub fn message(&mut self, conn: i32, qos: u8, retain: bool, dup: bool, topic: &str, payload: &[u8]) {
        self.head(MESSAGE, conn);
        self.0.push(qos);
        self.0.push(retain as u8 | (dup as u8) << 1);
        self.0.extend_from_slice(&(topic.len() as u16).to_le_bytes());
        self.0.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.0.extend_from_slice(topic.as_bytes());
        self.0.extend_from_slice(payload);
    }

    pub fn published(&mut self, conn: i32, packet_id: u16) {
        self.head(PUBLISHED, conn);
        self.0.extend_from_slice(&packet_id.to_le_bytes());
    }
}

/// One decoded record, borrowing from the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverEvent<'a> {
    Connected { conn: i32, session_present: bool },
    /// `last`: the handle's final event, after `disconnect`.
    Disconnected { conn: i32, reason: &'a str, last: bool },
    Subscribed { conn: i32, packet_id: u16, code: u8, topic: &'a str },
    Message { conn: i32, qos: u8, retain: bool, dup: bool, topic: &'a str, payload: &'a [u8] },
    Published { conn: i32, packet_id: u16 },
}

/// Reads a batch back (for Rust users and tests; bindings parse it in
/// their own language).
pub fn read_batch(batch: &[u8]) -> impl Iterator<Item = DriverEvent<'_>> {
    let mut at = 0usize;
    core::iter::from_fn(move || {
        let take = |at: &mut usize, n: usize| {
            let s = batch.get(*at..*at + n)?;
            *at += n;
            Some(s)
        };
        let kind = *take(&mut at, 1)?.first()?;
        let conn = i32::from_le_bytes(take(&mut at, 4)?.try_into().ok()?);
        let u16_at = |at: &mut usize| Some(u16::from_le_bytes(take(at, 2)?.try_into().ok()?));
        let text = |at: &mut usize, n: usize| core::str::from_utf8(take(at, n)?).ok();
        Some(match kind {
            CONNECTED => DriverEvent::Connected { conn, session_present: take(&mut at, 1)?[0] != 0 },
            DISCONNECTED => {
                let last = take(&mut at, 1)?[0] != 0;
                let n = u16_at(&mut at)? as usize;
                DriverEvent::Disconnected { conn, reason: text(&mut at, n)?, last }
            }
            SUBSCRIBED => {
                let packet_id = u16_at(&mut at)?;
                let code = take(&mut at, 1)?[0];
                let n = u16_at(&mut at)? as usize;
                DriverEvent::Subscribed { conn, packet_id, code, topic: text(&mut at, n)? }
            }
            MESSAGE => {
                let qf = take(&mut at, 2)?;
                let (qos, flags) = (qf[0], qf[1]);
                let tn = u16_at(&mut at)? as usize;
                let pn = u32::from_le_bytes(take(&mut at, 4)?.try_into().ok()?) as usize;
                let topic = text(&mut at, tn)?;
                let payload = take(&mut at, pn)?;
                DriverEvent::Message { conn, qos, retain: flags & 1 != 0, dup: flags & 2 != 0, topic, payload }
            }
            PUBLISHED => DriverEvent::Published { conn, packet_id: u16_at(&mut at)? },
            _ => return None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_written() {
        let mut b = Vec::new();
        let mut w = BatchWriter(&mut b);
        w.connected(3, false);
        w.message(3, 1, true, false, "a/é", &[0, 255, 7]);
        w.subscribed(3, 9, 0x80, "x/#");
        w.disconnected(3, "keep-alive timeout", false);
        w.published(3, 2);
        let got: Vec<_> = read_batch(&b).collect();
        assert_eq!(
            got,
            [
                DriverEvent::Connected { conn: 3, session_present: false },
                DriverEvent::Message { conn: 3, qos: 1, retain: true, dup: false, topic: "a/é", payload: &[0, 255, 7] },
                DriverEvent::Subscribed { conn: 3, packet_id: 9, code: 0x80, topic: "x/#" },
                DriverEvent::Disconnected { conn: 3, reason: "keep-alive timeout", last: false },
                DriverEvent::Published { conn: 3, packet_id: 2 },
            ]
        );
    }
}
