//! The std driver: sockets, time and the connection table around
//! `mqtt-core`, with a typed Rust API that the Node binding and the ESP32
//! firmware both use.
//!
//! ```text
//!  application threads                 I/O thread (one per process)
//!  ──────────────────                  ─────────────────────────────
//!  Driver::publish ──lock──► Conn ◄──lock per socket call── service.rs
//!   (encodes into the       (core Client,                    │  link.rs (Link: TCP, TLS in tls.rs)
//!    outbound buffer)        filters)                        │  dns.rs  (one resolver thread)
//!                                │ events                    │
//!                                ▼                           │
//!                         EventSink (events.rs) ◄────────────┘
//!                         Node: batches for JS; firmware: closures
//! ```
//!
//! The application's thread queues into a connection's outbound buffer and
//! wakes the I/O thread only when it was idle. The I/O thread holds a
//! connection's lock for one socket call at a time, so no call waits on a
//! read or write loop. Events go to each connection's [`EventSink`], whose
//! backlog is the flow control: reading pauses while it is at its bound.

mod conn;
mod dns;
mod error;
pub mod events;
mod host;
mod io_thread;
pub mod link;
mod service;
mod table;
#[cfg(feature = "tls")]
mod tls;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use mqtt_core::codec::Will;
use mqtt_core::{Client, Config, Sizes, State as CoreState, Storage};

use conn::Conn;
use table::Table;

pub use error::DriverError;
pub use events::{DisconnectReason, Event, EventSink, FnSink, Handle};
pub use host::MAX_HOST_LEN;
pub use mqtt_core::codec::QoS;

/// Connection limits, buffer sizes and thread stacks of a platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Live connections per process.
    pub max_connections: usize,
    pub sizes: Sizes,
    /// Sink backlog at which the I/O thread stops reading.
    pub max_pending_events: usize,
    /// Whether the IP stack is up; `open` is refused while it is not.
    pub network_up: bool,
    /// Bytes read from a socket per call (and held between calls).
    pub read_chunk: usize,
    /// Bytes taken from the client at a time (under the lock) and then
    /// written to the socket (without it).
    pub write_chunk: usize,
    pub io_stack_size: usize,
    pub dns_stack_size: usize,
}

impl Profile {
    pub const PC: Profile = Profile {
        max_connections: 16,
        sizes: Sizes::PC,
        max_pending_events: 8 << 20,
        network_up: true,
        read_chunk: 64 << 10,
        write_chunk: 64 << 10,
        io_stack_size: 256 << 10,
        dns_stack_size: 64 << 10,
    };
    /// Two connections, small buffers and stacks, and no network until the
    /// firmware says the station has an address.
    pub const ESP32: Profile = Profile {
        max_connections: 2,
        sizes: Sizes::ESP32,
        max_pending_events: 16 << 10,
        network_up: false,
        read_chunk: 1 << 10,
        write_chunk: 1 << 10,
        io_stack_size: 12 << 10,
        dns_stack_size: 6 << 10,
    };
}

/// The connection's state as the application sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    Connecting,
    Connected,
    Disconnected,
}

impl ConnState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::Connecting => "connecting",
            ConnState::Connected => "connected",
            ConnState::Disconnected => "disconnected",
        }
    }
}

/// Options of `open` beyond host, port and client id.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    /// Seconds; 60 by default, 0 turns keep-alive off.
    pub keep_alive_secs: Option<u16>,
    /// TCP connect plus CONNACK, in ms (at least 1); 10 000 by default.
    pub connect_timeout_ms: Option<u32>,
    /// The largest packet accepted from the broker (a larger PUBLISH is
    /// skipped and reported); the profile's inbound size by default.
    pub max_inbound_packet: Option<usize>,
    /// false: ask the broker to keep the session (subscriptions, queued
    /// messages) across connections. true by default.
    pub clean_session: Option<bool>,
    /// Published by the broker when the link is lost without DISCONNECT.
    pub will: Option<WillOptions>,
    /// Failover: brokers tried after the address given to `open`, in
    /// order, wrapping around; each failed attempt or lost link moves to
    /// the next, and the reconnect delay comes once per round over them.
    /// At most [`MAX_BROKERS`].
    pub brokers: Vec<Broker>,
    /// TLS over the TCP link (needs the feature `tls`; without it, `open`
    /// refuses a connection that asks for TLS).
    pub tls: Option<TlsOptions>,
}

/// The `tls` of `OpenOptions`. PEM texts are contents, not file names.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// The CAs to trust, instead of the system's roots (one or more
    /// certificates).
    pub ca: Option<Vec<u8>>,
    /// A client certificate chain for mutual TLS (leaf first), with `key`.
    pub cert: Option<Vec<u8>>,
    /// The private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<Vec<u8>>,
    /// The name the server's certificate must carry; the host by default.
    pub server_name: Option<String>,
    /// `Some(false)` turns certificate checks off: any certificate of any
    /// name is taken, so anyone on the path can read and change the
    /// traffic. For tests only. Default true.
    pub reject_unauthorized: Option<bool>,
}

/// One broker address of `OpenOptions::brokers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
}

/// The most entries of `OpenOptions::brokers` (besides the address given
/// to `open`).
pub const MAX_BROKERS: usize = mqtt_core::rotation::MAX_BROKERS - 1;

/// The will message of `OpenOptions`.
#[derive(Clone, Debug)]
pub struct WillOptions {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
}

/// The largest `max_inbound_packet`: MQTT's own limit plus the fixed header.
pub const MAX_INBOUND_PACKET: usize = mqtt_core::codec::MAX_REMAINING_LENGTH + 5;
/// The smallest `max_inbound_packet`.
pub const MIN_INBOUND_PACKET: usize = 128;

pub(crate) struct Shared {
    profile: Profile,
    table: Mutex<Table>,
    waker: mio::Waker,
    wake_pending: AtomicBool,
    /// The table has connections the I/O thread has not taken yet (so it
    /// need not lock the table, which every call locks, on every wake).
    opened: AtomicBool,
    network_up: AtomicBool,
    resolver: dns::Resolver,
    /// Host names resolved on the resolver thread, for the I/O thread.
    resolved: Mutex<Vec<dns::Answer>>,
    on_resolved: Arc<dyn Fn(dns::Answer) + Send + Sync>,
    epoch: Instant,
}

impl Shared {
    pub(crate) fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Wakes the I/O thread unless a wake is already on its way.
    pub(crate) fn kick(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            let _ = self.waker.wake();
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A bad filter's reason says it is the filter (`$share/...` included).
fn filter_error(e: mqtt_core::ClientError) -> DriverError {
    match e {
        mqtt_core::ClientError::Topic(t) => DriverError::InvalidFilter(t.reason()),
        e => DriverError::Client(e),
    }
}

/// The failover list checked in one place: each host as `open`'s, each
/// port from 1, at most [`MAX_BROKERS`] entries.
fn check_brokers(brokers: &[Broker]) -> Result<Vec<(host::Host, u16)>, DriverError> {
    if brokers.len() > MAX_BROKERS {
        return Err(DriverError::InvalidOption("brokers: at most 16 entries (after the address given to open)"));
    }
    let mut out = Vec::with_capacity(brokers.len());
    for (index, b) in brokers.iter().enumerate() {
        let h = match host::parse_host(&b.host) {
            Ok(h) => h,
            Err(DriverError::InvalidHost(why)) => return Err(DriverError::InvalidBroker { index, why }),
            Err(e) => return Err(e),
        };
        if b.port == 0 {
            return Err(DriverError::InvalidBroker { index, why: "port must be an integer from 1 to 65535" });
        }
        out.push((h, b.port));
    }
    Ok(out)
}

/// The process's MQTT connections and the thread that serves them.
pub struct Driver {
    shared: Arc<Shared>,
}

impl Driver {
    /// Starts the I/O thread.
    pub fn start(profile: Profile) -> Result<Driver, DriverError> {
        let thread_err = |e: std::io::Error| DriverError::Thread(e.to_string());
        let poll = mio::Poll::new().map_err(thread_err)?;
        let waker = mio::Waker::new(poll.registry(), io_thread::WAKER).map_err(thread_err)?;
        let shared = Arc::new_cyclic(|weak: &std::sync::Weak<Shared>| {
            let weak = weak.clone();
            let on_resolved: Arc<dyn Fn(dns::Answer) + Send + Sync> = Arc::new(move |answer| {
                if let Some(s) = weak.upgrade() {
                    s.resolved.lock().unwrap_or_else(|e| e.into_inner()).push(answer);
                    s.kick();
                }
            });
            Shared {
                profile,
                table: Mutex::new(Table::new()),
                waker,
                wake_pending: AtomicBool::new(false),
                opened: AtomicBool::new(false),
                network_up: AtomicBool::new(profile.network_up),
                resolver: dns::Resolver::new(profile.dns_stack_size),
                resolved: Mutex::new(Vec::new()),
                on_resolved,
                epoch: Instant::now(),
            }
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("mqtt-io".into())
            .stack_size(profile.io_stack_size)
            .spawn(move || io_thread::run(poll, thread_shared))
            .map_err(thread_err)?;
        Ok(Driver { shared })
    }

    pub fn profile(&self) -> Profile {
        self.shared.profile
    }

    /// Tells the driver whether the IP stack is up (the firmware's got-IP
    /// and lost-IP handlers).
    pub fn set_network_up(&self, up: bool) {
        self.shared.network_up.store(up, Ordering::Release);
        self.shared.kick();
    }

    /// Wakes the I/O thread: a sink whose backlog went down calls this so
    /// that reading resumes.
    pub fn wake(&self) {
        self.shared.kick();
    }

    /// Starts a connection; it proceeds on its own, and its events go to
    /// `sink`. Returns its handle (never reused in this process).
    pub fn open(
        &self,
        host: &str,
        port: u16,
        client_id: &str,
        opts: &OpenOptions,
        sink: Arc<dyn EventSink>,
    ) -> Result<Handle, DriverError> {
        if !self.shared.network_up.load(Ordering::Acquire) {
            return Err(DriverError::NetworkDown);
        }
        let first = host::parse_host(host)?;
        if port == 0 {
            return Err(DriverError::InvalidPort);
        }
        let brokers = check_brokers(&opts.brokers)?;
        // Each broker's own host name is what its certificate is checked
        // against (unless `servername` pins one).
        let transport = link::Transport::new(opts.tls.as_ref(), &first)?;
        // Named here: the core's encoder would only say "a field is too long".
        let too_long = |s: Option<&[u8]>| s.is_some_and(|s| s.len() > usize::from(u16::MAX));
        if too_long(Some(client_id.as_bytes())) {
            return Err(DriverError::InvalidOption("clientId is longer than 65535 bytes"));
        }
        if too_long(opts.username.as_deref().map(str::as_bytes)) {
            return Err(DriverError::InvalidOption("user is longer than 65535 bytes"));
        }
        if too_long(opts.password.as_deref()) {
            return Err(DriverError::InvalidOption("pass is longer than 65535 bytes"));
        }
        if let Some(w) = &opts.will {
            // Checked like a publish's topic, and named, so the reason says "will".
            mqtt_core::topic::validate_name(&w.topic).map_err(|e| DriverError::InvalidWill(e.reason()))?;
            if too_long(Some(&w.payload)) {
                return Err(DriverError::InvalidWill("payload longer than 65535 bytes"));
            }
        }
        let sizes = self.shared.profile.sizes;
        let mut config = Config::new(client_id);
        config.username = opts.username.as_deref();
        config.password = opts.password.as_deref();
        config.clean_session = opts.clean_session.unwrap_or(true);
        config.will =
            opts.will.as_ref().map(|w| Will { topic: &w.topic, message: &w.payload, qos: w.qos, retain: w.retain });
        if let Some(k) = opts.keep_alive_secs {
            config.keep_alive_secs = k;
        }
        match opts.connect_timeout_ms {
            Some(0) => return Err(DriverError::InvalidOption("connectTimeoutMs must be at least 1 ms")),
            Some(t) => config.connect_timeout_ms = t,
            None => {}
        }
        let inbound = match opts.max_inbound_packet {
            Some(n) if !(MIN_INBOUND_PACKET..=MAX_INBOUND_PACKET).contains(&n) => {
                return Err(DriverError::InvalidOption("maxInboundPacket must be from 128 to 268435460 bytes"))
            }
            Some(n) => n,
            None => sizes.inbound,
        };
        config.max_inbound_packet = inbound;
        // At most 17: checked above.
        config.brokers = u8::try_from(brokers.len() + 1).unwrap_or(u8::MAX);
        let connect_len = config.connect_len()?;
        // Zeroed allocations: pages never touched cost no memory.
        let storage = Storage {
            inbound: vec![0; inbound],
            outbound: vec![0; sizes.outbound],
            inflight: vec![0; sizes.inflight],
            pending: vec![0; sizes.pending],
            ids: vec![0; sizes.ids],
            connect: vec![0; connect_len],
            awaiting_pubrel: vec![0; sizes.awaiting_pubrel],
        };
        // Built on the heap: the firmware calls this from a small stack.
        let mut client = Box::new(Client::new(&config, storage)?);
        let handle = {
            let mut t = self.shared.table();
            if t.live >= self.shared.profile.max_connections {
                return Err(DriverError::TooManyConnections { max: self.shared.profile.max_connections });
            }
            let handle = t.next_handle();
            client.connect(self.shared.now())?;
            let mut named = vec![Broker { host: host.to_owned(), port }];
            named.extend(opts.brokers.iter().cloned());
            let mut parsed = vec![(first, port)];
            parsed.extend(brokers);
            t.insert(Arc::new(Conn::new(handle, client, sink, named, transport)), parsed);
            self.shared.opened.store(true, Ordering::Release);
            handle
        };
        self.shared.kick();
        Ok(handle)
    }

    fn conn(&self, handle: Handle) -> Result<Arc<Conn>, DriverError> {
        self.shared.table().get(handle).ok_or(DriverError::UnknownHandle(handle))
    }

    /// Runs `f` on a connection the application still owns.
    fn with<T>(
        &self,
        handle: Handle,
        f: impl FnOnce(&mut conn::ConnInner) -> Result<T, DriverError>,
    ) -> Result<T, DriverError> {
        if conn::in_sink_of(handle) {
            return Err(DriverError::CalledFromSink(handle));
        }
        let conn = self.conn(handle)?;
        let mut c = conn.lock();
        if c.released {
            return Err(DriverError::Released(handle));
        }
        f(&mut c)
    }

    /// Queues a PUBLISH whole or refuses it (backpressure: the outbound
    /// buffer is full; an `Event::Drain` follows when there is room).
    /// Returns the packet id of a QoS 1 or 2 publish.
    pub fn publish(
        &self,
        conn: Handle,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<u16>, DriverError> {
        let (id, kick) = self.with(conn, |c| {
            let idle = c.client.state() == CoreState::Connected && c.client.poll_transmit().is_empty();
            Ok((c.client.publish(topic, payload, qos, retain)?, idle))
        })?;
        if kick {
            self.shared.kick();
        }
        Ok(id)
    }

    /// Queues a SUBSCRIBE; `Event::Subscribed` carries its SUBACK. Returns
    /// the packet id.
    pub fn subscribe(&self, conn: Handle, filter: &str, qos: QoS) -> Result<u16, DriverError> {
        let id = self.with(conn, |c| {
            let id = c.client.subscribe(&[(filter, qos)]).map_err(filter_error)?;
            c.filters.insert(id, filter.to_owned());
            Ok(id)
        })?;
        self.shared.kick();
        Ok(id)
    }

    /// Queues an UNSUBSCRIBE; `Event::Unsubscribed` carries its UNSUBACK.
    pub fn unsubscribe(&self, conn: Handle, filter: &str) -> Result<u16, DriverError> {
        let id = self.with(conn, |c| {
            let id = c.client.unsubscribe(&[filter]).map_err(filter_error)?;
            c.filters.insert(id, filter.to_owned());
            Ok(id)
        })?;
        self.shared.kick();
        Ok(id)
    }

    /// Flushes what is queued, sends DISCONNECT and closes, all within the
    /// grace period (at once when nothing needs flushing). One final
    /// `Disconnected { last: true }` follows; then nothing.
    pub fn disconnect(&self, conn: Handle) -> Result<(), DriverError> {
        let now = self.shared.now();
        self.with(conn, |c| {
            c.release(now, u64::from(Config::new("").disconnect_grace_ms));
            Ok(())
        })?;
        self.shared.table().live -= 1;
        self.shared.kick();
        Ok(())
    }

    /// Every handle whose events go to `sink` is disconnected (a worker
    /// thread's environment going away).
    pub fn disconnect_all(&self, sink: &Arc<dyn EventSink>) {
        let handles = self.shared.table().handles_of(sink);
        for h in handles {
            let _ = self.disconnect(h);
        }
    }

    pub fn set_auto_reconnect(&self, conn: Handle, enabled: bool) -> Result<(), DriverError> {
        self.with(conn, |c| {
            c.client.set_auto_reconnect(enabled);
            Ok(())
        })?;
        self.shared.kick();
        Ok(())
    }

    /// Seconds (fractions allowed), at most 8, the last repeats. The
    /// schedule in force when an attempt is due is the one used.
    pub fn set_reconnect_delays(&self, conn: Handle, delays_secs: &[f64]) -> Result<(), DriverError> {
        self.with(conn, |c| Ok(c.client.set_reconnect_delays_secs(delays_secs)?))?;
        self.shared.kick();
        Ok(())
    }

    /// Never waits for the connection's lock: it reads the state the
    /// connection had when it was last unlocked.
    pub fn state(&self, conn: Handle) -> Result<ConnState, DriverError> {
        let (state, released) = self.conn(conn)?.snapshot();
        if released {
            return Err(DriverError::Released(conn));
        }
        Ok(match state {
            CoreState::Idle | CoreState::Connecting => ConnState::Connecting,
            CoreState::Connected => ConnState::Connected,
            _ => ConnState::Disconnected,
        })
    }

    /// QoS 1 and 2 messages published and not yet acknowledged (PUBACK, or
    /// PUBCOMP), queued ones included.
    pub fn inflight(&self, conn: Handle) -> Result<usize, DriverError> {
        self.with(conn, |c| Ok(c.client.inflight()))
    }

    /// Sends a PINGREQ now.
    pub fn ping(&self, conn: Handle) -> Result<(), DriverError> {
        let now = self.shared.now();
        self.with(conn, |c| if c.client.ping(now) { Ok(()) } else { Err(DriverError::NotConnected) })?;
        self.shared.kick();
        Ok(())
    }

    /// Handles not yet explicitly disconnected.
    pub fn live_connections(&self) -> usize {
        self.shared.table().live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(host: &str, port: u16) -> Broker {
        Broker { host: host.to_owned(), port }
    }

    #[test]
    fn the_brokers_list_is_checked_in_one_place_with_reasons_naming_the_entry() {
        let reason = |list: &[Broker]| check_brokers(list).unwrap_err().to_string();
        assert_eq!(reason(&[b("a", 1), b("", 1)]), "brokers[1].host must not be empty");
        assert_eq!(reason(&[b("a", 0)]), "brokers[0].port must be an integer from 1 to 65535");
        assert!(reason(&[b("a:1883", 1)]).starts_with("brokers[0].host must not include a port"));
        assert!(reason(&vec![b("a", 1); MAX_BROKERS + 1]).starts_with("brokers: at most 16 entries"));
        let ok = check_brokers(&vec![b("a", 1); MAX_BROKERS]).unwrap();
        assert_eq!(ok.len(), MAX_BROKERS);
        assert_eq!(check_brokers(&[b("[::1]", 1883)]).unwrap(), [(host::Host::Ip("::1".parse().unwrap()), 1883)]);
        // With open's own address, the list fits the core's rotation.
        assert_eq!(MAX_BROKERS + 1, mqtt_core::rotation::MAX_BROKERS);
    }
}
