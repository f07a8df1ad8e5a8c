//! A `#![no_std]` `#![no_main]` binary over mqtt-core: if mqtt-core, or
//! anything it ever depends on, pulls in `std` or `alloc`, this crate stops
//! building:
//!
//! - `std` brings its own `#[panic_handler]`: "found duplicate lang item
//!   `panic_impl`" against the one below;
//! - `alloc` needs a global allocator, and there is none here: "no global
//!   memory allocator found but one is required".
//!
//! It also runs: `main` is called by the C runtime's start files (libc is the
//! only library linked, see build.rs) and exits 0 when every step behaved, or
//! the number of the first step that did not.
//!
//! It needs `panic = "abort"` in the profile it is built with (the root
//! Cargo.toml's `[profile.dev]` for `cargo build -p no-std-canary`): on a
//! hosted target a `#![no_std]` binary with unwinding is refused ("unwinding
//! panics are not supported without std"), stable Rust has no
//! `eh_personality` of its own to offer, and `panic` cannot be set per
//! package. Test builds are not affected (cargo builds them with unwinding),
//! and `test = false` in Cargo.toml keeps `cargo test` away from this crate.
//!
//! A crate that mqtt-core declares in its Cargo.toml but never uses is not
//! linked at all, so it does not trip the canary (nothing of it, nor of std,
//! reaches the binary); the moment mqtt-core uses it, it does.
#![no_std]
#![no_main]

// Without `panic = "abort"` a `#![no_std]` binary cannot be built on a
// hosted target ("unwinding panics are not supported without std"); say why.
#[cfg(panic = "unwind")]
compile_error!(
    "no-std-canary needs panic = \"abort\": set `panic = \"abort\"` under [profile.dev] (and \
     [profile.release] for --release) in the workspace's root Cargo.toml (test builds are not affected: cargo \
     always builds tests and their dependencies with unwinding)"
);

use core::cell::UnsafeCell;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use mqtt_core::codec::{decode, Connect, Packet, Publish, QoS};
use mqtt_core::{Client, Config, Event, LinkAction, Sizes, State, Storage};

extern "C" {
    /// libc's: a panic ends the process at once (SIGABRT, exit status 134)
    /// rather than hanging a CI job in a loop.
    fn abort() -> !;
}

#[panic_handler]
fn panic(_info: &PanicInfo) -> ! {
    // SAFETY: abort(3) takes no arguments and never returns.
    unsafe { abort() }
}

/// With `panic = "abort"` nothing unwinds, but the precompiled `core` (built
/// with `panic = "unwind"`) still names the personality routine in its
/// unwind tables; this stub satisfies the linker and is never called.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

// ESP32-like memory: every byte the client works in is a static array.
const INBOUND: usize = Sizes::ESP32.inbound;
const OUTBOUND: usize = Sizes::ESP32.outbound;
const INFLIGHT: usize = Sizes::ESP32.inflight;
const PENDING: usize = Sizes::ESP32.pending;
const IDS: usize = Sizes::ESP32.ids;
const CONNECT: usize = 128;
const AWAITING_PUBREL: usize = Sizes::ESP32.awaiting_pubrel;

/// A static byte array handed out once as `&'static mut [u8]` (the
/// `singleton!` pattern of embedded Rust, without `static mut`).
struct StaticBuf<const N: usize> {
    taken: AtomicBool,
    bytes: UnsafeCell<[u8; N]>,
}

// SAFETY: the bytes are only reachable through `take`, which hands them out
// at most once.
unsafe impl<const N: usize> Sync for StaticBuf<N> {}

impl<const N: usize> StaticBuf<N> {
    const fn new() -> Self {
        StaticBuf { taken: AtomicBool::new(false), bytes: UnsafeCell::new([0; N]) }
    }

    // The flag makes this sound: the `&mut` is handed out once.
    #[allow(clippy::mut_from_ref)]
    fn take(&'static self) -> Option<&'static mut [u8]> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: first and only `take`: no other reference to the bytes exists.
        Some(unsafe { &mut *self.bytes.get() })
    }
}

static INBOUND_BUF: StaticBuf<INBOUND> = StaticBuf::new();
static OUTBOUND_BUF: StaticBuf<OUTBOUND> = StaticBuf::new();
static INFLIGHT_BUF: StaticBuf<INFLIGHT> = StaticBuf::new();
static PENDING_BUF: StaticBuf<PENDING> = StaticBuf::new();
static IDS_BUF: StaticBuf<IDS> = StaticBuf::new();
static CONNECT_BUF: StaticBuf<CONNECT> = StaticBuf::new();
static AWAITING_PUBREL_BUF: StaticBuf<AWAITING_PUBREL> = StaticBuf::new();
static ENCODE_BUF: StaticBuf<CONNECT> = StaticBuf::new();

const CLIENT_ID: &str = "canary";

/// PUBLISH QoS 0, topic "a/b", payload "hi".
const PUBLISH_QOS0: [u8; 9] = [0x30, 7, 0, 3, b'a', b'/', b'b', b'h', b'i'];
/// PUBLISH QoS 1, id 7, topic "a/b", payload "hi".
const PUBLISH_QOS1: [u8; 11] = [0x32, 9, 0, 3, b'a', b'/', b'b', 0, 7, b'h', b'i'];
const CONNACK_OK: [u8; 4] = [0x20, 2, 0, 0];

/// Hands everything the client wants to send to a pretend socket that takes
/// `chunk` bytes at a time; copies it into `sink` and returns the length.
fn drain(client: &mut Client<&mut [u8]>, now: u64, chunk: usize, sink: &mut [u8]) -> usize {
    let mut total = 0;
    loop {
        let out = client.poll_transmit();
        if out.is_empty() {
            return total;
        }
        let n = out.len().min(chunk);
        if let Some(dst) = sink.get_mut(total..total + n) {
            dst.copy_from_slice(&out[..n]);
        }
        total += n;
        client.advance_transmit(now, n);
    }
}

fn run() -> Result<(), i32> {
    let take = |buf: Option<&'static mut [u8]>| buf.ok_or(100);
    let inbound = take(INBOUND_BUF.take())?;
    let outbound = take(OUTBOUND_BUF.take())?;
    let inflight = take(INFLIGHT_BUF.take())?;
    let pending = take(PENDING_BUF.take())?;
    let ids = take(IDS_BUF.take())?;
    let connect = take(CONNECT_BUF.take())?;
    let awaiting_pubrel = take(AWAITING_PUBREL_BUF.take())?;
    let encode_buf = take(ENCODE_BUF.take())?;

    // 1. Encode a CONNECT into a static buffer.
    let config = Config::new(CLIENT_ID);
    let connect_packet = Packet::Connect(Connect {
        clean_session: config.clean_session,
        keep_alive: config.keep_alive_secs,
        client_id: CLIENT_ID,
        will: None,
        username: None,
        password: None,
    });
    let connect_len = connect_packet.encode(encode_buf).map_err(|_| 1)?;
    if connect_len != config.connect_len().map_err(|_| 1)? || encode_buf[0] != 0x10 {
        return Err(1);
    }
    match decode(&encode_buf[..connect_len], CONNECT) {
        Ok(Some((p, n))) if p == connect_packet && n == connect_len => {}
        _ => return Err(1),
    }

    // 2. Decode a PUBLISH, zero-copy.
    match decode(&PUBLISH_QOS0, 256) {
        Ok(Some((Packet::Publish(p), 9)))
            if p.topic == "a/b" && p.payload == b"hi" && p.qos == QoS::AtMostOnce && p.packet_id.is_none() => {}
        _ => return Err(2),
    }

    // 3. A client over `&mut [u8]` slices of the static arrays.
    let storage = Storage { inbound, outbound, inflight, pending, ids, connect, awaiting_pubrel };
    let mut client = Client::new(&config, storage).map_err(|_| 3)?;
    if client.state() != State::Idle {
        return Err(3);
    }

    // 4. connect -> Open -> link up -> the CONNECT goes out, 5 bytes a time.
    let mut now = 1_000u64;
    client.connect(now).map_err(|_| 4)?;
    if client.poll_action() != Some(LinkAction::Open) || client.poll_action().is_some() {
        return Err(4);
    }
    now += 10;
    client.handle_link_up(now);
    if client.poll_transmit() != &encode_buf[..connect_len] {
        return Err(5);
    }
    let mut sent = [0u8; 256];
    if drain(&mut client, now, 5, &mut sent) != connect_len || sent[..connect_len] != encode_buf[..connect_len] {
        return Err(5);
    }

    // 5. CONNACK in, Connected out.
    now += 10;
    if client.handle_input(&CONNACK_OK) != CONNACK_OK.len() {
        return Err(6);
    }
    match client.poll_event(now) {
        Some(Event::Connected { session_present: false }) => {}
        _ => return Err(6),
    }
    if client.poll_event(now).is_some() || client.state() != State::Connected {
        return Err(6);
    }

    // 6. Publish QoS 0 and QoS 1, subscribe; all of it reaches the socket.
    if client.publish("a/b", b"hello", QoS::AtMostOnce, false) != Ok(None) {
        return Err(7);
    }
    let id = match client.publish("a/b", b"hello", QoS::AtLeastOnce, false) {
        Ok(Some(id)) => id,
        _ => return Err(7),
    };
    let sub = client.subscribe(&[("a/#", QoS::AtLeastOnce)]).map_err(|_| 7)?;
    let n = drain(&mut client, now, 7, &mut sent);
    // PUBLISH 2+3+2+5 + PUBLISH 2+3+2+2+5 + SUBSCRIBE 2+2+2+3+1.
    if n != 12 + 14 + 10 || client.inflight() != 1 {
        return Err(7);
    }
    match decode(&sent[12..n], 256) {
        Ok(Some((Packet::Publish(Publish { packet_id: Some(p), .. }), 14))) if p == id => {}
        _ => return Err(7),
    }

    // 7. The server's answers: PUBACK, SUBACK, then a QoS 1 message (which
    //    the client acknowledges).
    now += 10;
    let [hi, lo] = id.to_be_bytes();
    let [shi, slo] = sub.to_be_bytes();
    let acks = [0x40, 2, hi, lo, 0x90, 3, shi, slo, 1];
    if client.handle_input(&acks) != acks.len() || client.handle_input(&PUBLISH_QOS1) != PUBLISH_QOS1.len() {
        return Err(8);
    }
    match client.poll_event(now) {
        Some(Event::Published { packet_id, qos: QoS::AtLeastOnce }) if packet_id == id => {}
        _ => return Err(8),
    }
    match client.poll_event(now) {
        Some(Event::Subscribed { packet_id, return_codes: [1] }) if packet_id == sub => {}
        _ => return Err(8),
    }
    match client.poll_event(now) {
        Some(Event::Message(p)) if p.topic == "a/b" && p.payload == b"hi" && p.packet_id == Some(7) => {}
        _ => return Err(8),
    }
    if client.poll_event(now).is_some() || client.inflight() != 0 {
        return Err(8);
    }
    if drain(&mut client, now, 64, &mut sent) != 4 || sent[..4] != [0x40, 2, 0, 7] {
        return Err(9);
    }

    // 8. Keep-alive: a PINGREQ when due.
    let due = client.poll_timeout().ok_or(10)?;
    client.handle_timeout(due);
    if drain(&mut client, due, 64, &mut sent) != 2 || sent[..2] != [0xc0, 0] {
        return Err(10);
    }
    Ok(())
}

#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    match run() {
        Ok(()) => 0,
        Err(step) => step,
    }
}
