//! The #[napi] definitions of the Node addon. This is the one file that
//! defines what JavaScript sees; `napi build` generates index.js and
//! index.d.ts at the repository root from it.
//!
//! Shape:
//! - One process-wide [`Driver`] (one I/O thread for every connection of
//!   every JavaScript environment), started on first use. The connection
//!   limit is per process.
//! - Each environment (the main thread and every worker thread that loads
//!   the package) calls `init(callback)` once: it gets its own
//!   [`NodeSink`] (events of its own handles, as batches) and its own
//!   threadsafe function, which the sink calls when a batch starts. The
//!   callback only schedules a pull: JavaScript takes the whole batch with
//!   `takeEvents()` when it gets to it, as one `Buffer` that owns the bytes
//!   (no copy). Taking is what makes room: reading from the sockets waits
//!   while a batch is not taken, so JavaScript sets the pace.
//! - The threadsafe function is created weak and referenced while the
//!   environment has a handle whose final event has not been taken, so an
//!   open connection keeps the process alive and a closed one does not.
//! - Every value is validated in Rust, once (the driver and the core), with
//!   one wording; calls return the handle / 0, or -1 and keep the reason
//!   for `lastError()`. The TypeScript layer checks only what Rust cannot
//!   see: JavaScript types, lone surrogates, handles that fit an i32.

mod batch;

use std::cell::RefCell;
use std::ptr;
use std::sync::{Arc, Mutex, OnceLock};

use batch::NodeSink;
use mqtt_driver::{ConnState, Driver, DriverError, EventSink, OpenOptions, Profile, QoS, TlsOptions, WillOptions};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env, JsString, JsValue};
use napi_derive::napi;

// ---- process-wide and per-environment state ----------------------------------

/// Carries "a batch is waiting" to one environment's JS thread. Callee not
/// error-handled, weak (unreferenced until a connection opens).
type BatchTsfn = ThreadsafeFunction<(), Unknown<'static>, (), Status, false, true>;

static DRIVER: OnceLock<std::result::Result<Driver, String>> = OnceLock::new();

/// One JavaScript environment's side of the addon. Each environment runs
/// on its own thread, so thread-locals are per environment.
struct EnvState {
    sink: Arc<NodeSink>,
    tsfn: Arc<Mutex<Option<BatchTsfn>>>,
    /// Whether the threadsafe function is referenced (keeps the loop alive).
    referenced: bool,
}

thread_local! {
    static ENV: RefCell<Option<EnvState>> = const { RefCell::new(None) };
    /// The reason for the last -1 on this thread.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
    /// Reused UTF-8 scratch space for topic and payload strings.
    static SCRATCH_TOPIC: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static SCRATCH_PAYLOAD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The driver, started on first use by any environment.
fn driver() -> std::result::Result<&'static Driver, String> {
    DRIVER
        .get_or_init(|| {
            return_large_blocks_to_the_os();
            Driver::start(Profile::PC).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Event batches are blocks of up to a few MiB, allocated on the I/O
/// thread and freed on a JavaScript thread when V8 collects their Buffer.
/// glibc raises its mmap threshold after such frees and then keeps later
/// batches in arenas it does not give back, so RSS ratchets up under a
/// long flood. A fixed threshold keeps every block of 1 MiB or more in its
/// own mapping, returned to the OS when freed.
fn return_large_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a tuning parameter of glibc's allocator;
    // it is safe to call at any time from any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn fail(reason: impl Into<String>) -> i32 {
    let reason = reason.into();
    LAST_ERROR.with(|e| *e.borrow_mut() = reason);
    -1
}

fn status<T>(r: std::result::Result<T, DriverError>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => fail(e.to_string()),
    }
}

/// The driver for a call on `conn`, or -1 with the reason.
fn with_driver(conn: i32, f: impl FnOnce(&'static Driver) -> i32) -> i32 {
    match DRIVER.get() {
        Some(Ok(d)) => f(d),
        _ => fail(DriverError::UnknownHandle(conn).to_string()),
    }
}

fn qos(qos: i64) -> std::result::Result<QoS, String> {
    match qos {
        0 => Ok(QoS::AtMostOnce),
        1 => Ok(QoS::AtLeastOnce),
        2 => Ok(QoS::ExactlyOnce),
        _ => Err(format!("qos must be 0, 1 or 2, got {qos}")),
    }
}

/// A whole number in `range`, or the sentence saying what `name` must be.
fn whole<T: TryFrom<i64>>(
    name: &str,
    v: f64,
    range: std::ops::RangeInclusive<i64>,
    unit: &str,
) -> std::result::Result<T, String> {
    let bad = || format!("{name} must be an integer from {} to {}{unit}, got {v}", range.start(), range.end());
    if v.fract() != 0.0 || !v.is_finite() {
        return Err(bad());
    }
    #[allow(clippy::cast_possible_truncation)] // finite and whole: checked just above
    let n = v as i64;
    if !range.contains(&n) {
        return Err(bad());
    }
    T::try_from(n).map_err(|_| bad())
}

/// Keeps this environment's event loop alive while it has open handles.
#[allow(deprecated)] // refer/unref check `aborted`; the raw calls would not
fn keep_alive(env: &Env, state: &mut EnvState) {
    if state.referenced {
        return;
    }
    if let Some(t) = state.tsfn.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        if t.refer(env).is_ok() {
            state.referenced = true;
        }
    }
}

#[allow(deprecated)] // see keep_alive
fn release_if_idle(env: &Env, state: &mut EnvState) {
    if !state.referenced || state.sink.open_handles() > 0 {
        return;
    }
    if let Some(t) = state.tsfn.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        if t.unref(env).is_ok() {
            state.referenced = false;
        }
    }
}

/// Takes this environment's pending batch.
fn take_batch(env: &Env) -> Buffer {
    let batch = ENV.with(|cell| {
        let mut slot = cell.borrow_mut();
        let Some(state) = slot.as_mut() else { return Vec::new() };
        let batch = state.sink.take();
        if let Some(Ok(d)) = DRIVER.get() {
            // Reading may have paused on this backlog: let it resume.
            if batch.len() >= d.profile().max_pending_events {
                d.wake();
            }
        }
        release_if_idle(env, state);
        batch
    });
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
        // SAFETY: `raw_env` and `raw` are the live env and string of this
        // call; `buf` is a valid writable region of `buf.len()` bytes.
        let mut st =
            unsafe { sys::napi_get_value_string_utf8(raw_env, raw, buf.as_mut_ptr().cast(), buf.len(), &mut copied) };
        // N-API writes at most len-1 bytes and never half a character: a
        // result within 4 bytes of the end may have been cut short.
        if st == sys::Status::napi_ok && copied + 4 >= buf.len() {
            let mut need = 0usize;
            // SAFETY: a null buffer asks only for the length, written to `need`.
            st = unsafe { sys::napi_get_value_string_utf8(raw_env, raw, ptr::null_mut(), 0, &mut need) };
            if st == sys::Status::napi_ok && need + 1 > buf.len() {
                buf.resize(need + 1, 0);
                // SAFETY: as above, with the buffer grown to `need + 1` bytes.
                st = unsafe {
                    sys::napi_get_value_string_utf8(raw_env, raw, buf.as_mut_ptr().cast(), buf.len(), &mut copied)
                };
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
    /// The broker still had this client's session (CONNACK's session-present
    /// flag): its subscriptions hold and queued messages follow. Always
    /// false with `cleanSession: true` (the default).
    pub session_present: bool,
    /// Which broker answered: 0 for the address given to `open`, n for
    /// `options.brokers[n - 1]`.
    pub broker: u32,
    /// That broker's host and port, as given.
    pub host: String,
    pub port: u32,
}

/// `disconnected`: the link is gone (once per loss of the link, explicit or
/// not); `cause` says why in a word to compare against, `reason` in a
/// sentence (with the OS error or the CONNACK code where there is one).
/// `cause: 'tls'`: TLS refused the link, `reason` saying why ("TLS:
/// certificate not trusted (unknown CA)", "TLS: certificate is for another
/// host name (not ...)", "TLS: certificate expired", ...).
#[napi(object)]
pub struct MqttDisconnected {
    pub conn: i32,
    pub reason: String,
    #[napi(
        ts_type = "'requested' | 'connect-failed' | 'connect-timeout' | 'refused' | 'keep-alive' | 'closed-by-peer' | 'network' | 'protocol' | 'tls'"
    )]
    pub cause: String,
    /// On the final event after `disconnect`: how many QoS 1/2 messages it
    /// gave up on (not acknowledged within the grace period). 0 otherwise.
    pub abandoned: u32,
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

/// `unsubscribed`: the UNSUBACK for an `unsubscribe`.
#[napi(object)]
pub struct MqttUnsubscribed {
    pub conn: i32,
    /// The filter passed to `unsubscribe`.
    pub topic: String,
    pub packet_id: u32,
}

/// `published`: the broker has a QoS 1 or 2 publish (`packetId` as
/// returned by `publishWithId`): its PUBACK (QoS 1) or PUBCOMP (QoS 2).
#[napi(object)]
pub struct MqttPublished {
    pub conn: i32,
    pub packet_id: u32,
    pub qos: u32,
}

/// `drain`: after a `publish` returned -1 for lack of room, there is room
/// again (half the outbound buffer free): retry now.
#[napi(object)]
pub struct MqttDrain {
    pub conn: i32,
}

/// `oversized`: a message larger than `maxInboundPacket` arrived; it was
/// skipped without being buffered and acknowledged per its QoS. The link
/// stays up.
#[napi(object)]
pub struct MqttOversized {
    pub conn: i32,
    pub topic: String,
    /// Bytes of the whole packet.
    pub size: u32,
    pub qos: u32,
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
    /// The broker's packet id for QoS 1 and 2 (a QoS 2 message is delivered
    /// once, even if the broker sends it again); 0 for QoS 0.
    pub packet_id: u32,
}

/// The will of `MqttOpenOptions`: published by the broker when the link is
/// lost without a DISCONNECT (not after `disconnect`).
#[napi(object)]
pub struct MqttWill {
    /// A topic name, checked like publish's.
    pub topic: String,
    /// Bytes (the TypeScript layer turns a string into UTF-8); empty by default.
    pub payload: Option<Buffer>,
    /// 0, 1 or 2 (default 0).
    pub qos: Option<f64>,
    /// Default false.
    pub retain: Option<bool>,
}

/// A broker of `MqttOpenOptions.brokers`.
#[napi(object)]
pub struct MqttBroker {
    /// A name or an IP address, checked like `open`'s host.
    pub host: String,
    /// 1 to 65535.
    pub port: f64,
}

/// `tls` of `MqttOpenOptions`: TLS (rustls) over the TCP link. PEM
/// contents, not file names.
#[napi(object)]
pub struct MqttTlsOptions {
    /// The CAs to trust (PEM, one or more certificates) instead of the
    /// system's roots.
    pub ca: Option<Buffer>,
    /// A client certificate chain (PEM) for mutual TLS, with `key`.
    pub cert: Option<Buffer>,
    /// The private key of `cert` (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: Option<Buffer>,
    /// The name the server's certificate must carry (default: the host).
    pub servername: Option<String>,
    /// false turns certificate checks off: anyone on the path can read and
    /// change the traffic. For tests only. Default true.
    pub reject_unauthorized: Option<bool>,
}

/// Options of `open`/`openAuth` beyond the reference API.
#[napi(object)]
pub struct MqttOpenOptions {
    /// Keep-alive interval in seconds (default 60; 0 turns keep-alive off).
    pub keep_alive: Option<f64>,
    /// How long the TCP connect plus CONNACK may take, in milliseconds
    /// (default 10 000).
    pub connect_timeout_ms: Option<f64>,
    /// The largest packet accepted from the broker, in bytes (default the
    /// inbound buffer, 2 MiB; from 128 to 268 435 460). A larger message
    /// is skipped and reported as `oversized`.
    pub max_inbound_packet: Option<f64>,
    /// false asks the broker to keep the session between connections
    /// (subscriptions, messages queued while offline); default true. Needs
    /// a non-empty client id.
    pub clean_session: Option<bool>,
    /// The last will, sent in every CONNECT.
    pub will: Option<MqttWill>,
    /// Failover: brokers tried after the address given to `open`, in order,
    /// wrapping around (at most 16). A failed attempt or a lost link moves
    /// to the next; the reconnect delays apply once per round over them.
    /// `connected` says which broker answered.
    pub brokers: Option<Vec<MqttBroker>>,
    /// TLS over the link; `{}` trusts the system's roots and checks the
    /// host name.
    pub tls: Option<MqttTlsOptions>,
}

/// The limits of this build.
#[napi(object)]
pub struct MqttLimits {
    /// Live connections at most, per process (all worker threads together).
    pub max_connections: u32,
    /// Bytes: the default largest packet accepted from the broker.
    pub inbound_buffer: u32,
    /// Bytes queued for the socket per connection (backpressure beyond).
    pub outbound_buffer: u32,
    /// Bytes of QoS 1/2 packets awaiting PUBACK/PUBCOMP per connection
    /// (publish returns -1 beyond).
    pub inflight_buffer: u32,
    /// Inbound QoS 2 messages awaiting their PUBREL per connection (the
    /// link closes with a reason beyond).
    pub max_awaiting_pubrel: u32,
    /// SUBSCRIBE/UNSUBSCRIBE requests awaiting their acknowledgement per
    /// connection (subscribe returns -1 beyond).
    pub max_pending_requests: u32,
    /// Bytes of events not yet handed to JavaScript at which reading from
    /// the sockets pauses (flow control to the broker).
    pub max_pending_events: u32,
}

// ---- functions ---------------------------------------------------------------

/// Version of the Rust crates compiled into this addon.
#[napi]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Registers the function that receives this environment's event batches
/// (once per environment: the main thread and each worker thread).
#[napi(ts_args_type = "callback: () => void")]
pub fn init(env: Env, callback: Function<'_, (), Unknown<'static>>) -> Result<()> {
    if ENV.with(|e| e.borrow().is_some()) {
        return Err(Error::new(
            Status::GenericFailure,
            "mqtt-rs-client: init() was already called in this JavaScript environment (are two copies of the package loaded?)",
        ));
    }
    let tsfn: BatchTsfn = callback
        .build_threadsafe_function::<()>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(|_| Ok(()))?;
    let slot = Arc::new(Mutex::new(Some(tsfn)));
    let notify_slot = slot.clone();
    let sink = Arc::new(NodeSink::new(Box::new(move || {
        if let Some(t) = notify_slot.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            // NonBlocking on an unbounded queue: never waits. It fails only
            // while the environment is shutting down.
            let _ = t.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    })));
    ENV.with(|e| *e.borrow_mut() = Some(EnvState { sink, tsfn: slot, referenced: false }));
    // A worker that ends takes its connections with it.
    env.add_env_cleanup_hook((), |()| {
        if let Some(state) = ENV.with(|e| e.borrow_mut().take()) {
            if let Some(Ok(d)) = DRIVER.get() {
                let sink: Arc<dyn EventSink> = state.sink.clone();
                d.disconnect_all(&sink);
            }
            state.tsfn.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    })?;
    Ok(())
}

/// Takes the events queued since the last take as one batch (the callback
/// given to `init` says when there are some).
#[napi]
pub fn take_events(env: Env) -> Buffer {
    take_batch(&env)
}

/// Starts a connection; returns its handle (>= 0, never reused) or -1.
#[napi]
pub fn open(
    env: Env,
    host: String,
    port: f64,
    client_id: String,
    username: Option<String>,
    password: Option<&[u8]>,
    options: Option<MqttOpenOptions>,
) -> i32 {
    let d = match driver() {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let Some(sink) = ENV.with(|e| e.borrow().as_ref().map(|s| s.sink.clone())) else {
        return fail("mqtt-rs-client: init() was not called in this JavaScript environment");
    };
    let opts = match open_options(username, password, options) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let port: u16 = match whole("port", port, 1..=65_535, "") {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    match d.open(&host, port, &client_id, &opts, sink.clone()) {
        Ok(h) => {
            sink.opened();
            ENV.with(|e| {
                if let Some(state) = e.borrow_mut().as_mut() {
                    keep_alive(&env, state);
                }
            });
            h
        }
        Err(e) => fail(e.to_string()),
    }
}

fn open_options(
    username: Option<String>,
    password: Option<&[u8]>,
    options: Option<MqttOpenOptions>,
) -> std::result::Result<OpenOptions, String> {
    let mut opts = OpenOptions { username, password: password.map(<[u8]>::to_vec), ..Default::default() };
    if let Some(o) = options {
        if let Some(k) = o.keep_alive {
            opts.keep_alive_secs = Some(whole("options.keepAlive", k, 0..=65_535, " seconds")?);
        }
        if let Some(t) = o.connect_timeout_ms {
            opts.connect_timeout_ms = Some(whole("options.connectTimeoutMs", t, 1..=0xffff_ffff, " ms")?);
        }
        if let Some(m) = o.max_inbound_packet {
            let range = mqtt_driver::MIN_INBOUND_PACKET as i64..=mqtt_driver::MAX_INBOUND_PACKET as i64;
            opts.max_inbound_packet = Some(whole("options.maxInboundPacket", m, range, " bytes")?);
        }
        opts.clean_session = o.clean_session;
        if let Some(w) = o.will {
            let qos = match w.qos {
                Some(q) => qos(whole("options.will.qos", q, 0..=2, "")?)?,
                None => QoS::AtMostOnce,
            };
            let payload = w.payload.map(|p| p.to_vec()).unwrap_or_default();
            opts.will = Some(WillOptions { topic: w.topic, payload, qos, retain: w.retain.unwrap_or(false) });
        }
        for (i, b) in o.brokers.into_iter().flatten().enumerate() {
            let port = whole(&format!("options.brokers[{i}].port"), b.port, 1..=65_535, "")?;
            opts.brokers.push(mqtt_driver::Broker { host: b.host, port });
        }
        opts.tls = o.tls.map(|t| TlsOptions {
            ca: t.ca.map(|b| b.to_vec()),
            cert: t.cert.map(|b| b.to_vec()),
            key: t.key.map(|b| b.to_vec()),
            server_name: t.servername,
            reject_unauthorized: t.reject_unauthorized,
        });
    }
    Ok(opts)
}

/// Flushes what is queued, sends DISCONNECT, closes and frees the handle.
#[napi]
pub fn disconnect(conn: i32) -> i32 {
    with_driver(conn, |d| status(d.disconnect(conn)))
}

fn publish_result(r: std::result::Result<Option<u16>, DriverError>) -> i32 {
    match r {
        Ok(id) => i32::from(id.unwrap_or(0)),
        Err(e) => fail(e.to_string()),
    }
}

/// Queues a PUBLISH with a binary payload whole: its packet id (QoS 1 or
/// 2), 0 (QoS 0), or -1.
#[napi]
pub fn publish(env: Env, conn: i32, topic: JsString, payload: &[u8], qos_num: i64, retain: bool) -> i32 {
    with_driver(conn, |d| {
        let qos = match qos(qos_num) {
            Ok(q) => q,
            Err(e) => return fail(e),
        };
        with_utf8(&env, &topic, &SCRATCH_TOPIC, |t| match t {
            Ok(t) => publish_result(d.publish(conn, t, payload, qos, retain)),
            Err(e) => fail(format!("topic: {e}")),
        })
    })
}

/// Queues a PUBLISH whose payload is a string (sent as UTF-8): its packet
/// id (QoS 1 or 2), 0 (QoS 0), or -1.
#[napi]
pub fn publish_string(env: Env, conn: i32, topic: JsString, payload: JsString, qos_num: i64, retain: bool) -> i32 {
    with_driver(conn, |d| {
        let qos = match qos(qos_num) {
            Ok(q) => q,
            Err(e) => return fail(e),
        };
        with_utf8(&env, &topic, &SCRATCH_TOPIC, |t| match t {
            Ok(t) => with_utf8(&env, &payload, &SCRATCH_PAYLOAD, |p| match p {
                Ok(p) => publish_result(d.publish(conn, t, p.as_bytes(), qos, retain)),
                Err(e) => fail(format!("payload: {e}")),
            }),
            Err(e) => fail(format!("topic: {e}")),
        })
    })
}

/// Queues a SUBSCRIBE; the SUBACK comes as a `subscribed` event.
#[napi]
pub fn subscribe(conn: i32, filter: String, qos_num: i64) -> i32 {
    with_driver(conn, |d| match qos(qos_num) {
        Ok(q) => status(d.subscribe(conn, &filter, q)),
        Err(e) => fail(e),
    })
}

/// Queues an UNSUBSCRIBE; the UNSUBACK comes as an `unsubscribed` event.
#[napi]
pub fn unsubscribe(conn: i32, filter: String) -> i32 {
    with_driver(conn, |d| status(d.unsubscribe(conn, &filter)))
}

#[napi]
pub fn set_auto_reconnect(conn: i32, enabled: bool) -> i32 {
    with_driver(conn, |d| status(d.set_auto_reconnect(conn, enabled)))
}

/// Seconds (fractions allowed), at most 8, the last repeats.
#[napi]
pub fn set_reconnect_delays(conn: i32, delays: Vec<f64>) -> i32 {
    with_driver(conn, |d| status(d.set_reconnect_delays(conn, &delays)))
}

/// The connection's state, or null (with `lastError()`) for an unknown or
/// closed handle.
#[napi(ts_return_type = "'connecting' | 'connected' | 'disconnected' | null")]
pub fn state(conn: i32) -> Option<&'static str> {
    let mut out = None;
    with_driver(conn, |d| match d.state(conn) {
        Ok(s) => {
            out = Some(s.as_str());
            0
        }
        Err(e) => fail(e.to_string()),
    });
    out
}

/// `state` as a number, for the TypeScript API's hot path (no string is
/// made): 0 connecting, 1 connected, 2 disconnected, -1 unknown or closed
/// handle (with `lastError()`).
#[napi]
pub fn state_code(conn: i32) -> i32 {
    with_driver(conn, |d| match d.state(conn) {
        Ok(ConnState::Connecting) => 0,
        Ok(ConnState::Connected) => 1,
        Ok(ConnState::Disconnected) => 2,
        Err(e) => fail(e.to_string()),
    })
}

/// QoS 1/2 messages published and not yet acknowledged (PUBACK, or
/// PUBCOMP), queued ones included; -1 for an unknown handle.
#[napi]
pub fn inflight(conn: i32) -> i32 {
    with_driver(conn, |d| match d.inflight(conn) {
        Ok(n) => i32::try_from(n).unwrap_or(i32::MAX),
        Err(e) => fail(e.to_string()),
    })
}

/// Sends a PINGREQ now.
#[napi]
pub fn ping(conn: i32) -> i32 {
    with_driver(conn, |d| status(d.ping(conn)))
}

/// The reason for the last -1 (or refusal) on this thread.
#[napi]
pub fn last_error() -> String {
    LAST_ERROR.with(|e| e.borrow().clone())
}

/// Handles opened and not yet explicitly disconnected, in the process.
#[napi]
pub fn live_connections() -> u32 {
    match DRIVER.get() {
        Some(Ok(d)) => u32::try_from(d.live_connections()).unwrap_or(u32::MAX),
        _ => 0,
    }
}

/// The limits of this build.
#[napi]
pub fn limits() -> MqttLimits {
    let p = match DRIVER.get() {
        Some(Ok(d)) => d.profile(),
        _ => Profile::PC,
    };
    let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    MqttLimits {
        max_connections: n(p.max_connections),
        inbound_buffer: n(p.sizes.inbound),
        outbound_buffer: n(p.sizes.outbound),
        inflight_buffer: n(p.sizes.inflight),
        max_awaiting_pubrel: n(p.sizes.max_awaiting_pubrel()),
        max_pending_requests: n(p.sizes.max_pending_requests()),
        max_pending_events: n(p.max_pending_events),
    }
}
