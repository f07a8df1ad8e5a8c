//! The #[napi] definitions of the Node addon. This is the one file that
//! defines what JavaScript sees; `napi build` generates index.js and
//! index.d.ts at the repository root from it.
//!
//! Shape:
//! - One process-wide [`Driver`] (one I/O thread for every connection),
//!   started on first use.
//! - `init(callback)` registers the JavaScript function that receives event
//!   batches. The driver's `notify` (called on the I/O thread when the batch
//!   goes from empty to non-empty) queues one threadsafe-function call; on
//!   the JS thread that call takes the whole batch and hands it to the
//!   callback as one `Buffer` that owns the driver's `Vec` (no copy). The
//!   TypeScript layer parses it and slices payloads out of it.
//! - The threadsafe function is created weak (it does not keep the process
//!   alive) and is referenced while a connection is live: from the first
//!   successful `open` until every handle has been disconnected and its
//!   final `disconnected` event has been delivered (so the flush and the
//!   DISCONNECT of the last `disconnect` are not cut short by the process
//!   exiting). All ref/unref happens on the JS thread.
//! - Calls return the handle / 0, or -1 and keep the reason for
//!   `lastError()`; they never throw for a bad value (the TypeScript layer
//!   throws `TypeError` for wrong types before calling in).
//!
//! The addon serves one JavaScript environment per process (the driver and
//! its callback are process-wide); a second `init` is refused.

use std::cell::{Cell, RefCell};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use mqtt_driver::events::{read_batch, DriverEvent};
use mqtt_driver::{Driver, OpenOptions, Profile};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env, JsString, JsValue};
use napi_derive::napi;

// ---- process-wide state ---------------------------------------------------

/// The threadsafe function that carries one event batch to JavaScript.
/// Callee not error-handled, weak (unreferenced until a connection opens).
type BatchTsfn = ThreadsafeFunction<(), Unknown<'static>, Buffer, Status, false, true>;

static DRIVER: OnceLock<Driver> = OnceLock::new();
static TSFN: OnceLock<BatchTsfn> = OnceLock::new();
/// `notify` fired before `init` registered the callback.
static MISSED_NOTIFY: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The reason for the last -1 on this (the JS) thread.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
    /// Whether the threadsafe function is referenced (keeps the loop alive).
    static REFERENCED: Cell<bool> = const { Cell::new(false) };
    /// Handles explicitly disconnected whose final `disconnected` event has
    /// not been handed to JavaScript yet.
    static CLOSING: RefCell<Vec<i32>> = const { RefCell::new(Vec::new()) };
    /// Reused UTF-8 scratch space for topic and payload strings.
    static SCRATCH_TOPIC: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static SCRATCH_PAYLOAD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn notify() {
    match TSFN.get() {
        Some(tsfn) => {
            // NonBlocking on an unbounded queue: never waits. A failure here
            // only happens while the environment is shutting down.
            let _ = tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
        None => MISSED_NOTIFY.store(true, Ordering::Release),
    }
}

/// The driver, started on first use.
fn driver() -> std::result::Result<&'static Driver, String> {
    if let Some(d) = DRIVER.get() {
        return Ok(d);
    }
    let d = Driver::start(Profile::PC, Box::new(notify)).map_err(|e| format!("cannot start the I/O thread: {e}"))?;
    // Only the JS thread gets here, so nobody else can have set it meanwhile.
    let _ = DRIVER.set(d);
    Ok(DRIVER.get().expect("driver just set"))
}

fn fail(reason: impl Into<String>) -> i32 {
    let reason = reason.into();
    LAST_ERROR.with(|e| *e.borrow_mut() = reason);
    -1
}

fn status(r: std::result::Result<(), mqtt_driver::Error>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => fail(e.0),
    }
}

/// References the threadsafe function (keeps the event loop alive).
fn keep_alive(env: &Env) {
    if REFERENCED.get() {
        return;
    }
    if let Some(tsfn) = TSFN.get() {
        if unsafe { sys::napi_ref_threadsafe_function(env.raw(), tsfn.raw()) } == sys::Status::napi_ok {
            REFERENCED.set(true);
        }
    }
}

/// Unreferences the threadsafe function once nothing is live or closing.
fn release_if_idle(env: &Env) {
    if !REFERENCED.get() || !CLOSING.with(|c| c.borrow().is_empty()) {
        return;
    }
    if DRIVER.get().is_some_and(|d| d.live_connections() > 0) {
        return;
    }
    if let Some(tsfn) = TSFN.get() {
        if unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn.raw()) } == sys::Status::napi_ok {
            REFERENCED.set(false);
        }
    }
}

/// Takes the pending batch; notes the final events of closing handles.
fn take_batch(env: &Env) -> Buffer {
    let batch = match DRIVER.get() {
        Some(d) => d.take_events(),
        None => Vec::new(),
    };
    let closing = CLOSING.with(|c| !c.borrow().is_empty());
    if closing && !batch.is_empty() {
        CLOSING.with(|c| {
            let mut c = c.borrow_mut();
            for ev in read_batch(&batch) {
                if let DriverEvent::Disconnected { conn, last: true, .. } = ev {
                    if let Some(i) = c.iter().position(|&h| h == conn) {
                        c.swap_remove(i);
                    }
                }
            }
        });
        release_if_idle(env);
    }
    Buffer::from(batch)
}

/// Reads a JS string as UTF-8 into a reused scratch buffer and runs `f` on
/// it: no allocation once the scratch has grown to the usual size. The
/// TypeScript layer has already refused strings that are not well-formed
/// UTF-16 (N-API would turn a lone surrogate into U+FFFD).
fn with_utf8<T>(
    env: &Env,
    s: &JsString,
    scratch: &'static std::thread::LocalKey<RefCell<Vec<u8>>>,
    f: impl FnOnce(std::result::Result<&str, String>) -> T,
) -> T {
    scratch.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < 256 {
            buf.resize(256, 0);
        }
        let raw_env = env.raw();
        let raw = s.raw();
        let mut copied = 0usize;
        let mut st = unsafe { sys::napi_get_value_string_utf8(raw_env, raw, buf.as_mut_ptr().cast(), buf.len(), &mut copied) };
        // N-API writes at most len-1 bytes and never half a character: a
        // result within 4 bytes of the end may have been cut short.
        if st == sys::Status::napi_ok && copied + 4 >= buf.len() {
            let mut need = 0usize;
            st = unsafe { sys::napi_get_value_string_utf8(raw_env, raw, ptr::null_mut(), 0, &mut need) };
            if st == sys::Status::napi_ok && need + 1 > buf.len() {
                buf.resize(need + 1, 0);
                st = unsafe { sys::napi_get_value_string_utf8(raw_env, raw, buf.as_mut_ptr().cast(), buf.len(), &mut copied) };
            }
        }
        let r = if st != sys::Status::napi_ok {
            Err("expected a string".to_string())
        } else {
            // N-API produces UTF-8; checked anyway rather than trusted.
            std::str::from_utf8(&buf[..copied]).map_err(|_| "string is not valid UTF-8".to_string())
        };
        let out = f(r);
        // Do not keep a one-off huge payload's memory forever.
        if buf.len() > 64 << 10 {
            buf.truncate(256);
            buf.shrink_to(256);
        }
        out
    })
}

// ---- types that reach index.d.ts --------------------------------------------

/// `connected`: the broker accepted the connection (CONNACK 0). Fires on
/// every (re)connect.
#[napi(object)]
pub struct MqttConnected {
    pub conn: i32,
    /// The broker kept a session (always false: the clean-session flag is set).
    pub session_present: bool,
}

/// `disconnected`: the link is gone (once per loss of the link, explicit or
/// not); `reason` says why.
#[napi(object)]
pub struct MqttDisconnected {
    pub conn: i32,
    pub reason: String,
}

/// `subscribed`: the SUBACK for a `subscribe`. `qos` is the granted QoS; a
/// refusal (SUBACK code 0x80) comes as `ok: false, qos: 128`.
#[napi(object)]
pub struct MqttSubscribed {
    pub conn: i32,
    /// The filter passed to `subscribe`.
    pub topic: String,
    pub qos: u32,
    pub ok: bool,
    pub packet_id: u32,
}

/// `message`: a PUBLISH from the broker. `payload` is the payload decoded as
/// UTF-8 (invalid sequences become U+FFFD); `bytes` is the exact payload, a
/// view into the event batch (copy it to keep it beyond the handler if the
/// batch memory should be released).
#[napi(object)]
pub struct MqttMessage {
    pub conn: i32,
    pub topic: String,
    pub payload: String,
    pub bytes: Buffer,
    pub qos: u32,
    pub retain: bool,
    pub dup: bool,
}

/// Options of `open`/`openAuth` beyond the reference API.
#[napi(object)]
pub struct MqttOpenOptions {
    /// Keep-alive interval in seconds (default 60; 0 turns keep-alive off).
    pub keep_alive: Option<u32>,
    /// How long the TCP connect plus CONNACK may take, in milliseconds.
    pub connect_timeout_ms: Option<u32>,
}

/// The limits of this build (the PC profile).
#[napi(object)]
pub struct MqttLimits {
    /// Live connections at most (`open` returns -1 beyond).
    pub max_connections: u32,
    /// Bytes: the largest packet accepted from the broker.
    pub inbound_buffer: u32,
    /// Bytes queued for the socket per connection (backpressure beyond).
    pub outbound_buffer: u32,
    /// Bytes of QoS 1 packets awaiting PUBACK per connection.
    pub inflight_buffer: u32,
}

// ---- functions ---------------------------------------------------------------

/// Version of the Rust crates compiled into this addon.
#[napi]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Registers the function that receives event batches (once per process).
#[napi(ts_args_type = "callback: (batch: Buffer) => void")]
pub fn init(env: Env, callback: Function<'_, Buffer, Unknown<'static>>) -> Result<()> {
    if TSFN.get().is_some() {
        return Err(Error::new(
            Status::GenericFailure,
            "mqtt-rs-client: init() was already called in this process (the addon serves one JavaScript environment; are two copies of the package loaded?)",
        ));
    }
    let tsfn: BatchTsfn = callback
        .build_threadsafe_function::<()>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(|ctx| Ok(take_batch(&ctx.env)))?;
    let _ = TSFN.set(tsfn);
    if REFERENCED.get() {
        REFERENCED.set(false);
        keep_alive(&env);
    }
    if MISSED_NOTIFY.swap(false, Ordering::AcqRel) {
        notify();
    }
    Ok(())
}

/// Takes the events queued since the last take as one batch (the callback
/// given to `init` normally receives them; this is for pulling).
#[napi]
pub fn take_events(env: Env) -> Buffer {
    take_batch(&env)
}

/// Starts a connection; returns its handle (>= 0, never reused) or -1.
#[napi]
pub fn open(
    env: Env,
    host: String,
    port: i64,
    client_id: String,
    username: Option<String>,
    password: Option<&[u8]>,
    options: Option<MqttOpenOptions>,
) -> i32 {
    let d = match driver() {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let mut opts = OpenOptions { username, password: password.map(|p| p.to_vec()), ..Default::default() };
    if let Some(o) = options {
        if let Some(k) = o.keep_alive {
            match u16::try_from(k) {
                Ok(k) => opts.keep_alive_secs = Some(k),
                Err(_) => return fail("keepAlive must be an integer from 0 to 65535 seconds"),
            }
        }
        opts.connect_timeout_ms = o.connect_timeout_ms;
    }
    match d.open(&host, port, &client_id, &opts) {
        Ok(h) => {
            keep_alive(&env);
            h
        }
        Err(e) => fail(e.0),
    }
}

/// Flushes what is queued, sends DISCONNECT, closes and frees the handle.
#[napi]
pub fn disconnect(conn: i32) -> i32 {
    let Some(d) = DRIVER.get() else { return fail(format!("unknown or closed connection handle {conn}")) };
    match d.disconnect(conn) {
        Ok(()) => {
            CLOSING.with(|c| c.borrow_mut().push(conn));
            0
        }
        Err(e) => fail(e.0),
    }
}

/// Queues a PUBLISH with a binary payload whole, or returns -1.
#[napi]
pub fn publish(env: Env, conn: i32, topic: JsString, payload: &[u8], qos: i64, retain: bool) -> i32 {
    let Some(d) = DRIVER.get() else { return fail(format!("unknown or closed connection handle {conn}")) };
    with_utf8(&env, &topic, &SCRATCH_TOPIC, |t| match t {
        Ok(t) => status(d.publish(conn, t, payload, qos, retain)),
        Err(e) => fail(format!("topic: {e}")),
    })
}

/// Queues a PUBLISH whose payload is a string (sent as UTF-8), or returns -1.
#[napi]
pub fn publish_string(env: Env, conn: i32, topic: JsString, payload: JsString, qos: i64, retain: bool) -> i32 {
    let Some(d) = DRIVER.get() else { return fail(format!("unknown or closed connection handle {conn}")) };
    with_utf8(&env, &topic, &SCRATCH_TOPIC, |t| match t {
        Ok(t) => with_utf8(&env, &payload, &SCRATCH_PAYLOAD, |p| match p {
            Ok(p) => status(d.publish(conn, t, p.as_bytes(), qos, retain)),
            Err(e) => fail(format!("payload: {e}")),
        }),
        Err(e) => fail(format!("topic: {e}")),
    })
}

/// Queues a SUBSCRIBE; the SUBACK comes as a `subscribed` event.
#[napi]
pub fn subscribe(conn: i32, filter: String, qos: i64) -> i32 {
    let Some(d) = DRIVER.get() else { return fail(format!("unknown or closed connection handle {conn}")) };
    status(d.subscribe(conn, &filter, qos))
}

/// Queues an UNSUBSCRIBE.
#[napi]
pub fn unsubscribe(conn: i32, filter: String) -> i32 {
    let Some(d) = DRIVER.get() else { return fail(format!("unknown or closed connection handle {conn}")) };
    status(d.unsubscribe(conn, &filter))
}

#[napi]
pub fn set_auto_reconnect(conn: i32, enabled: bool) -> i32 {
    let Some(d) = DRIVER.get() else { return fail(format!("unknown or closed connection handle {conn}")) };
    status(d.set_auto_reconnect(conn, enabled))
}

/// Seconds (fractions allowed), at most 8, the last repeats.
#[napi]
pub fn set_reconnect_delays(conn: i32, delays: Vec<f64>) -> i32 {
    let Some(d) = DRIVER.get() else { return fail(format!("unknown or closed connection handle {conn}")) };
    status(d.set_reconnect_delays(conn, &delays))
}

/// The connection's state, or null (with `lastError()`) for an unknown or
/// closed handle.
#[napi(ts_return_type = "'connecting' | 'connected' | 'disconnected' | null")]
pub fn state(conn: i32) -> Option<&'static str> {
    let Some(d) = DRIVER.get() else {
        fail(format!("unknown or closed connection handle {conn}"));
        return None;
    };
    match d.state(conn) {
        Ok(s) => Some(s),
        Err(e) => {
            fail(e.0);
            None
        }
    }
}

/// Sends a PINGREQ now.
#[napi]
pub fn ping(conn: i32) -> i32 {
    let Some(d) = DRIVER.get() else { return fail(format!("unknown or closed connection handle {conn}")) };
    status(d.ping(conn))
}

/// The reason for the last -1 (or refusal) on this thread.
#[napi]
pub fn last_error() -> String {
    LAST_ERROR.with(|e| e.borrow().clone())
}

/// Handles opened and not yet explicitly disconnected.
#[napi]
pub fn live_connections() -> u32 {
    DRIVER.get().map_or(0, |d| d.live_connections() as u32)
}

/// The limits of this build.
#[napi]
pub fn limits() -> MqttLimits {
    let p = Profile::PC;
    MqttLimits {
        max_connections: p.max_connections as u32,
        inbound_buffer: p.sizes.inbound as u32,
        outbound_buffer: p.sizes.outbound as u32,
        inflight_buffer: p.sizes.inflight as u32,
    }
}
