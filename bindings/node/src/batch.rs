//! The Node sink: every event of a JavaScript environment's connections,
//! packed into one byte batch that JavaScript takes in one call and slices
//! payloads out of, instead of one call and one Buffer per message.
//!
//! Each record: `kind: u8`, `conn: i32`, then by kind (all little-endian;
//! every length is a u32, so no string can overflow its field):
//! - `CONNECTED` (1): `session_present: u8`, `broker: u8` (0 the address
//!   given to `open`, n `brokers[n - 1]`), `port: u16`, `host_len: u32`,
//!   host
//! - `DISCONNECTED` (2): `last: u8` (1 on a handle's final event after
//!   `disconnect`), `cause: u8` (see [`cause_code`]; 8 for a TLS
//!   failure), `abandoned: u32`
//!   (QoS 1/2 messages a `disconnect` gave up on), `reason_len: u32`,
//!   reason
//! - `SUBSCRIBED` (3): `packet_id: u16`, `code: u8` (granted QoS, or 0x80
//!   refused), `filter_len: u32`, filter
//! - `MESSAGE` (4): `qos: u8`, `flags: u8` (1 retain, 2 dup),
//!   `packet_id: u16` (0 for QoS 0), `topic_len: u32`, `payload_len: u32`,
//!   topic, payload
//! - `PUBLISHED` (5): `packet_id: u16`, `qos: u8` (1 PUBACK, 2 PUBCOMP)
//! - `UNSUBSCRIBED` (6): `packet_id: u16`, `filter_len: u32`, filter
//! - `DRAIN` (7): nothing more
//! - `OVERSIZED` (8): `qos: u8`, `size: u32`, `topic_len: u32`, topic
//!
//! The sink's backlog is the batch not yet taken: the driver stops reading
//! the sockets of this environment's connections while it is at its bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use mqtt_driver::{DisconnectReason, Event, EventSink, Handle};

pub const CONNECTED: u8 = 1;
pub const DISCONNECTED: u8 = 2;
pub const SUBSCRIBED: u8 = 3;
pub const MESSAGE: u8 = 4;
pub const PUBLISHED: u8 = 5;
pub const UNSUBSCRIBED: u8 = 6;
pub const DRAIN: u8 = 7;
pub const OVERSIZED: u8 = 8;

struct Pending {
    buf: Vec<u8>,
    /// The JavaScript side was told and has not taken the batch yet.
    notified: bool,
}

pub struct NodeSink {
    pending: Mutex<Pending>,
    /// Tells JavaScript that a batch is waiting (a threadsafe-function call).
    notify: Box<dyn Fn() + Send + Sync>,
    /// Handles of this environment whose final event has not been written:
    /// while any, the environment's event loop is kept alive.
    open_handles: AtomicUsize,
}

impl NodeSink {
    pub fn new(notify: Box<dyn Fn() + Send + Sync>) -> NodeSink {
        NodeSink {
            pending: Mutex::new(Pending { buf: Vec::new(), notified: false }),
            notify,
            open_handles: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything written since the last take.
    pub fn take(&self) -> Vec<u8> {
        let mut p = self.lock();
        p.notified = false;
        std::mem::take(&mut p.buf)
    }

    pub fn opened(&self) {
        self.open_handles.fetch_add(1, Ordering::AcqRel);
    }

    pub fn open_handles(&self) -> usize {
        self.open_handles.load(Ordering::Acquire)
    }
}

/// The `cause` byte of a DISCONNECTED record; the TypeScript layer maps it
/// to the names in `CAUSES` there, in this order. A TLS failure is 8
/// ('tls'), whatever the core's cause under it.
pub fn cause_code(cause: DisconnectReason, tls: bool) -> u8 {
    if tls {
        return 8;
    }
    match cause {
        DisconnectReason::Requested => 0,
        DisconnectReason::ConnectFailed => 1,
        DisconnectReason::ConnectTimeout => 2,
        DisconnectReason::Refused(_) => 3,
        DisconnectReason::KeepAliveTimeout => 4,
        DisconnectReason::ClosedByPeer => 5,
        DisconnectReason::NetworkError => 6,
        DisconnectReason::Protocol(_) => 7,
    }
}

fn len32(n: usize) -> [u8; 4] {
    // Inbound packets are at most 268,435,460 bytes and hosts 253: a
    // length never exceeds u32. Saturate rather than wrap, to be sure.
    u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes()
}

/// Appends one record.
pub fn write_record(b: &mut Vec<u8>, conn: Handle, event: &Event<'_>) {
    let text = |b: &mut Vec<u8>, s: &[u8]| {
        b.extend_from_slice(&len32(s.len()));
        b.extend_from_slice(s);
    };
    let head = |b: &mut Vec<u8>, kind: u8| {
        b.push(kind);
        b.extend_from_slice(&conn.to_le_bytes());
    };
    match *event {
        Event::Connected { session_present, broker, host, port } => {
            head(b, CONNECTED);
            b.push(u8::from(session_present));
            b.push(broker);
            b.extend_from_slice(&port.to_le_bytes());
            text(b, host.as_bytes());
        }
        Event::Disconnected { reason, cause, tls, last, abandoned } => {
            head(b, DISCONNECTED);
            b.push(u8::from(last));
            b.push(cause_code(cause, tls));
            b.extend_from_slice(&len32(abandoned));
            text(b, reason.as_bytes());
        }
        Event::Subscribed { packet_id, filter, code } => {
            head(b, SUBSCRIBED);
            b.extend_from_slice(&packet_id.to_le_bytes());
            b.push(code);
            text(b, filter.as_bytes());
        }
        Event::Message { topic, payload, qos, retain, dup, packet_id } => {
            head(b, MESSAGE);
            b.push(qos as u8);
            b.push(u8::from(retain) | u8::from(dup) << 1);
            b.extend_from_slice(&packet_id.unwrap_or(0).to_le_bytes());
            b.extend_from_slice(&len32(topic.len()));
            b.extend_from_slice(&len32(payload.len()));
            b.extend_from_slice(topic.as_bytes());
            b.extend_from_slice(payload);
        }
        Event::Published { packet_id, qos } => {
            head(b, PUBLISHED);
            b.extend_from_slice(&packet_id.to_le_bytes());
            b.push(qos as u8);
        }
        Event::Unsubscribed { packet_id, filter } => {
            head(b, UNSUBSCRIBED);
            b.extend_from_slice(&packet_id.to_le_bytes());
            text(b, filter.as_bytes());
        }
        Event::Drain => head(b, DRAIN),
        Event::Oversized { topic, size, qos } => {
            head(b, OVERSIZED);
            b.push(qos as u8);
            b.extend_from_slice(&len32(size));
            text(b, topic.as_bytes());
        }
    }
}

impl EventSink for NodeSink {
    fn event(&self, conn: Handle, event: Event<'_>) {
        let tell = {
            let mut p = self.lock();
            // Counted down before the record can be taken, so whoever takes
            // it sees the count without it.
            if let Event::Disconnected { last: true, .. } = event {
                self.open_handles.fetch_sub(1, Ordering::AcqRel);
            }
            write_record(&mut p.buf, conn, &event);
            !std::mem::replace(&mut p.notified, true)
        };
        if tell {
            (self.notify)();
        }
    }

    fn backlog(&self) -> usize {
        self.lock().buf.len()
    }
}
