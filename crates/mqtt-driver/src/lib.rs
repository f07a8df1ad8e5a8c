//! The std driver: sockets, time and the connection table around
//! `mqtt-core`. One I/O thread serves every connection with a readiness
//! poll; the application's thread queues into a connection's outbound
//! buffer directly and wakes the I/O thread only when it was idle. Events
//! come out as one byte batch per wake (see [`events`]).

pub mod events;
mod conn;
mod io_thread;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use mqtt_core::codec::QoS;
use mqtt_core::{Client, Config, Sizes, State, Storage};

use conn::Conn;

pub use events::{read_batch, DriverEvent};

/// Connection limits and buffer sizes of a platform.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    pub max_connections: usize,
    pub sizes: Sizes,
    /// Undelivered event bytes at which the I/O thread stops reading.
    pub max_pending_events: usize,
    /// Whether the IP stack is up; `open` is refused while it is not.
    pub network_up: bool,
}

impl Profile {
    pub const PC: Profile =
        Profile { max_connections: 16, sizes: Sizes::PC, max_pending_events: 8 << 20, network_up: true };
    /// Two connections, small buffers, and no network until the firmware
    /// says the station has an address.
    pub const ESP32: Profile =
        Profile { max_connections: 2, sizes: Sizes::ESP32, max_pending_events: 16 << 10, network_up: false };
}

/// Options of `open` beyond host, port and client id.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    /// Seconds; 60 by default, 0 turns keep-alive off.
    pub keep_alive_secs: Option<u16>,
    pub connect_timeout_ms: Option<u32>,
}

/// A refusal with a sentence a user can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn err<T>(msg: impl Into<String>) -> Result<T, Error> {
    Err(Error(msg.into()))
}

pub(crate) struct Table {
    conns: HashMap<i32, Arc<Mutex<Conn>>>,
    next_handle: i32,
    /// Handles not yet explicitly disconnected.
    live: usize,
}

/// Events waiting for the application.
pub(crate) struct Batch {
    buf: Vec<u8>,
    notified: bool,
}

pub(crate) struct Shared {
    profile: Profile,
    table: Mutex<Table>,
    batch: Mutex<Batch>,
    notify: Box<dyn Fn() + Send + Sync>,
    waker: mio::Waker,
    wake_pending: AtomicBool,
    /// The I/O thread stopped reading because events were not taken.
    reading_paused: AtomicBool,
    network_up: AtomicBool,
    /// Host names resolved off the caller's thread: (handle, attempt, result).
    resolved: Mutex<Vec<(i32, u64, std::io::Result<std::net::SocketAddr>)>>,
    epoch: Instant,
}

impl Shared {
    pub(crate) fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
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

    /// Appends the I/O thread's events; tells the application once.
    pub(crate) fn deliver(&self, events: &mut Vec<u8>) {
        if events.is_empty() {
            return;
        }
        let call = {
            let mut b = self.batch.lock().unwrap_or_else(|e| e.into_inner());
            if b.buf.is_empty() {
                std::mem::swap(&mut b.buf, events);
            } else {
                b.buf.append(events);
            }
            !std::mem::replace(&mut b.notified, true)
        };
        if call {
            (self.notify)();
        }
    }

    pub(crate) fn pending_events(&self) -> usize {
        self.batch.lock().unwrap_or_else(|e| e.into_inner()).buf.len()
    }
}

/// The process's MQTT connections and the thread that serves them.
pub struct Driver {
    shared: Arc<Shared>,
}

impl Driver {
    /// Starts the I/O thread. `notify` runs on that thread whenever events
    /// become available after the last `take_events`.
    pub fn start(profile: Profile, notify: Box<dyn Fn() + Send + Sync>) -> std::io::Result<Driver> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), io_thread::WAKER)?;
        let shared = Arc::new(Shared {
            profile,
            table: Mutex::new(Table { conns: HashMap::new(), next_handle: 0, live: 0 }),
            batch: Mutex::new(Batch { buf: Vec::new(), notified: false }),
            notify,
            waker,
            wake_pending: AtomicBool::new(false),
            reading_paused: AtomicBool::new(false),
            network_up: AtomicBool::new(profile.network_up),
            resolved: Mutex::new(Vec::new()),
            epoch: Instant::now(),
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("mqtt-io".into())
            .spawn(move || io_thread::run(poll, thread_shared))?;
        Ok(Driver { shared })
    }

    /// Tells the driver whether the IP stack is up (the firmware's got-IP
    /// and lost-IP handlers).
    pub fn set_network_up(&self, up: bool) {
        self.shared.network_up.store(up, Ordering::Release);
        self.shared.kick();
    }

    /// Starts a connection; it proceeds on its own. Returns its handle
    /// (never reused in this process).
    pub fn open(&self, host: &str, port: i64, client_id: &str, opts: &OpenOptions) -> Result<i32, Error> {
        if !self.shared.network_up.load(Ordering::Acquire) {
            return err("network is not up: open from the got-IP handler");
        }
        if host.is_empty() || host.contains('\0') {
            return err("host must be a non-empty name or address");
        }
        if !(1..=65_535).contains(&port) {
            return err("port must be an integer from 1 to 65535");
        }
        let mut config = Config::new(client_id);
        config.username = opts.username.as_deref();
        config.password = opts.password.as_deref();
        if let Some(k) = opts.keep_alive_secs {
            config.keep_alive_secs = k;
        }
        if let Some(t) = opts.connect_timeout_ms {
            config.connect_timeout_ms = t;
        }
        let connect_len = config.connect_len().map_err(|e| Error(format!("cannot connect: {}", e.reason())))?;
        let sizes = self.shared.profile.sizes;
        let storage = Storage {
            inbound: vec![0; sizes.inbound],
            outbound: vec![0; sizes.outbound],
            inflight: vec![0; sizes.inflight],
            connect: vec![0; connect_len],
        };
        let mut client = Client::new(&config, storage).map_err(|e| Error(e.reason().into()))?;
        let handle = {
            let mut t = self.shared.table();
            if t.live >= self.shared.profile.max_connections {
                return err(format!(
                    "too many connections: at most {} in this profile",
                    self.shared.profile.max_connections
                ));
            }
            let handle = t.next_handle;
            t.next_handle += 1;
            t.live += 1;
            let _ = client.connect(self.shared.now());
            t.conns.insert(handle, Arc::new(Mutex::new(Conn::new(handle, client, host, port as u16))));
            handle
        };
        self.shared.kick();
        Ok(handle)
    }

    fn conn(&self, handle: i32) -> Result<Arc<Mutex<Conn>>, Error> {
        let t = self.shared.table();
        match t.conns.get(&handle) {
            Some(c) => Ok(c.clone()),
            None => err(format!("unknown or closed connection handle {handle}")),
        }
    }

    /// Runs `f` on a connection the application still owns.
    fn with<T>(&self, handle: i32, f: impl FnOnce(&mut Conn) -> Result<T, Error>) -> Result<T, Error> {
        let conn = self.conn(handle)?;
        let mut c = conn.lock().unwrap_or_else(|e| e.into_inner());
        if c.released {
            return err(format!("connection {handle} was disconnected"));
        }
        f(&mut c)
    }

    fn qos(qos: i64) -> Result<QoS, Error> {
        match qos {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            _ => err("qos must be 0 or 1"),
        }
    }

    /// Queues a PUBLISH whole or refuses it (backpressure: the outbound
    /// buffer is full; try again later).
    pub fn publish(&self, conn: i32, topic: &str, payload: &[u8], qos: i64, retain: bool) -> Result<(), Error> {
        let qos = Self::qos(qos)?;
        let kick = self.with(conn, |c| {
            let idle = c.client.state() == State::Connected && c.client.poll_transmit().is_empty();
            c.client.publish(topic, payload, qos, retain).map_err(|e| Error(e.reason().into()))?;
            Ok(idle)
        })?;
        if kick {
            self.shared.kick();
        }
        Ok(())
    }

    pub fn subscribe(&self, conn: i32, filter: &str, qos: i64) -> Result<(), Error> {
        let qos = Self::qos(qos)?;
        self.with(conn, |c| {
            let id = c.client.subscribe(&[(filter, qos)]).map_err(|e| Error(e.reason().into()))?;
            c.sub_topics.insert(id, filter.to_owned());
            Ok(())
        })?;
        self.shared.kick();
        Ok(())
    }

    pub fn unsubscribe(&self, conn: i32, filter: &str) -> Result<(), Error> {
        self.with(conn, |c| c.client.unsubscribe(&[filter]).map(|_| ()).map_err(|e| Error(e.reason().into())))?;
        self.shared.kick();
        Ok(())
    }

    /// Flushes what is queued, sends DISCONNECT and closes. One final
    /// `disconnected` event ("disconnect requested") follows; then nothing.
    pub fn disconnect(&self, conn: i32) -> Result<(), Error> {
        let now = self.shared.now();
        self.with(conn, |c| {
            c.released = true;
            c.client.disconnect(now);
            Ok(())
        })?;
        self.shared.table().live -= 1;
        self.shared.kick();
        Ok(())
    }

    pub fn set_auto_reconnect(&self, conn: i32, enabled: bool) -> Result<(), Error> {
        self.with(conn, |c| {
            c.client.set_auto_reconnect(enabled);
            Ok(())
        })?;
        self.shared.kick();
        Ok(())
    }

    /// Seconds (fractions allowed), at most 8, the last repeats.
    pub fn set_reconnect_delays(&self, conn: i32, delays_secs: &[f64]) -> Result<(), Error> {
        self.with(conn, |c| c.client.set_reconnect_delays_secs(delays_secs).map_err(|e| Error(e.reason().into())))
    }

    /// "connecting", "connected" or "disconnected".
    pub fn state(&self, conn: i32) -> Result<&'static str, Error> {
        self.with(conn, |c| {
            Ok(match c.client.state() {
                State::Idle | State::Connecting => "connecting",
                State::Connected => "connected",
                _ => "disconnected",
            })
        })
    }

    /// Sends a PINGREQ now.
    pub fn ping(&self, conn: i32) -> Result<(), Error> {
        let now = self.shared.now();
        self.with(conn, |c| {
            if c.client.ping(now) {
                Ok(())
            } else {
                err("not connected")
            }
        })?;
        self.shared.kick();
        Ok(())
    }

    /// Every event since the last call, as one batch (see [`events`]).
    pub fn take_events(&self) -> Vec<u8> {
        let buf = {
            let mut b = self.shared.batch.lock().unwrap_or_else(|e| e.into_inner());
            b.notified = false;
            std::mem::take(&mut b.buf)
        };
        if self.shared.reading_paused.load(Ordering::Acquire) {
            self.shared.kick();
        }
        buf
    }

    /// Handles not yet explicitly disconnected.
    pub fn live_connections(&self) -> usize {
        self.shared.table().live
    }
}
