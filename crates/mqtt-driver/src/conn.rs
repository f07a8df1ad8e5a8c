//! One connection as the I/O thread serves it: the core client, its socket
//! and readiness, and the step that moves bytes and events between them.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use mqtt_core::{Client, DisconnectReason, Event, LinkAction, State};

use crate::events::BatchWriter;
use crate::Shared;

/// How long a closing connection waits for the server to close after DISCONNECT.
const LINGER_MS: u64 = 2_000;

pub(crate) struct Conn {
    pub handle: i32,
    pub client: Client<Vec<u8>>,
    host: String,
    port: u16,
    socket: Option<TcpStream>,
    /// TCP connect under way.
    tcp_connecting: bool,
    /// Readiness seen and not yet used up (edge-triggered poll).
    readable: bool,
    write_blocked: bool,
    /// Counts attempts, so a late DNS answer for an old one is ignored.
    attempt: u64,
    resolving: bool,
    /// The OS error of the last failure, added to the reason.
    last_io_error: Option<String>,
    /// SUBSCRIBE packet id -> its filter, for the `subscribed` event.
    pub sub_topics: HashMap<u16, String>,
    /// The application called `disconnect`.
    pub released: bool,
    /// The final `disconnected` was delivered: remove from the table.
    pub finished: bool,
    /// After DISCONNECT: our side is shut down and we read until the server
    /// closes (or this deadline), so unread PUBACKs do not turn the close
    /// into a reset that makes the server drop what it has not read yet.
    linger_until: Option<u64>,
}

impl Conn {
    pub fn new(handle: i32, client: Client<Vec<u8>>, host: &str, port: u16) -> Conn {
        Conn {
            handle,
            client,
            host: host.to_owned(),
            port,
            socket: None,
            tcp_connecting: false,
            readable: false,
            write_blocked: false,
            attempt: 0,
            resolving: false,
            last_io_error: None,
            sub_topics: HashMap::new(),
            released: false,
            finished: false,
            linger_until: None,
        }
    }

    /// When this connection next needs the I/O thread without any readiness.
    pub fn next_deadline(&self) -> Option<u64> {
        match (self.client.poll_timeout(), self.linger_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn token(&self) -> Token {
        Token(self.handle as usize)
    }

    /// Readiness from the poll.
    pub fn on_ready(&mut self, readable: bool, writable: bool) {
        self.readable |= readable;
        if writable {
            self.write_blocked = false;
        }
    }

    /// A DNS answer arrived for `attempt`.
    pub fn on_resolved(&mut self, registry: &Registry, shared: &Shared, attempt: u64, addr: std::io::Result<SocketAddr>) {
        if attempt != self.attempt || !self.resolving {
            return;
        }
        self.resolving = false;
        match addr {
            Ok(addr) => self.connect_to(registry, shared, addr),
            Err(e) => self.fail(shared, DisconnectReason::ConnectFailed, Some(format!("cannot resolve {}: {e}", self.host))),
        }
    }

    fn open(&mut self, registry: &Registry, shared: &std::sync::Arc<Shared>) {
        self.attempt += 1;
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return self.connect_to(registry, shared, SocketAddr::new(ip, self.port));
        }
        // Resolve off every caller's thread, the I/O thread included.
        self.resolving = true;
        let (host, port, handle, attempt) = (self.host.clone(), self.port, self.handle, self.attempt);
        let to_io = shared.clone();
        let spawned = std::thread::Builder::new().name("mqtt-dns".into()).spawn(move || {
            use std::net::ToSocketAddrs;
            let addr = (host.as_str(), port).to_socket_addrs().and_then(|mut a| {
                a.next().ok_or_else(|| std::io::Error::new(ErrorKind::NotFound, "no address"))
            });
            to_io.resolved.lock().unwrap_or_else(|e| e.into_inner()).push((handle, attempt, addr));
            to_io.kick();
        });
        if let Err(e) = spawned {
            self.resolving = false;
            self.fail(shared, DisconnectReason::ConnectFailed, Some(e.to_string()));
        }
    }

    fn connect_to(&mut self, registry: &Registry, shared: &Shared, addr: SocketAddr) {
        let result = TcpStream::connect(addr).and_then(|mut s| {
            registry.register(&mut s, self.token(), Interest::READABLE | Interest::WRITABLE)?;
            Ok(s)
        });
        match result {
            Ok(s) => {
                self.socket = Some(s);
                self.tcp_connecting = true;
                self.readable = false;
                self.write_blocked = true;
            }
            Err(e) => self.fail(shared, DisconnectReason::ConnectFailed, Some(e.to_string())),
        }
    }

    fn drop_socket(&mut self, registry: &Registry) {
        if let Some(mut s) = self.socket.take() {
            let _ = registry.deregister(&mut s);
        }
        self.tcp_connecting = false;
        self.readable = false;
        self.write_blocked = false;
    }

    /// The link failed under us (not through the client's own decision).
    fn fail(&mut self, shared: &Shared, reason: DisconnectReason, detail: Option<String>) {
        self.last_io_error = detail;
        self.client.handle_link_down(shared.now(), reason);
    }

    fn check_connected(&mut self, registry: &Registry, shared: &Shared) {
        let Some(s) = &self.socket else { return };
        if self.write_blocked && !self.readable {
            return;
        }
        match s.take_error() {
            Ok(Some(e)) | Err(e) => {
                self.drop_socket(registry);
                return self.fail(shared, DisconnectReason::ConnectFailed, Some(e.to_string()));
            }
            Ok(None) => {}
        }
        match s.peer_addr() {
            Ok(_) => {
                let _ = s.set_nodelay(true);
                self.tcp_connecting = false;
                self.write_blocked = false;
                self.client.handle_link_up(shared.now());
            }
            Err(e) if e.kind() == ErrorKind::NotConnected => self.write_blocked = true,
            Err(e) => {
                self.drop_socket(registry);
                self.fail(shared, DisconnectReason::ConnectFailed, Some(e.to_string()));
            }
        }
    }

    /// Moves everything that can move now. `out` collects events;
    /// `may_read` is false while the application is behind on events.
    pub fn service(&mut self, registry: &Registry, shared: &std::sync::Arc<Shared>, out: &mut Vec<u8>, may_read: bool) {
        for _ in 0..64 {
            let now = shared.now();
            if self.client.poll_timeout().is_some_and(|t| now >= t) {
                self.client.handle_timeout(now);
            }
            let mut progress = false;
            while let Some(action) = self.client.poll_action() {
                progress = true;
                match action {
                    LinkAction::Close if self.client.state() == State::Closed && !self.tcp_connecting => {
                        self.start_linger(now);
                    }
                    LinkAction::Close => self.drop_socket(registry),
                    LinkAction::Open => {
                        self.drop_socket(registry);
                        self.open(registry, shared);
                    }
                }
            }
            if self.tcp_connecting {
                self.check_connected(registry, shared);
            }
            if self.linger_until.is_some() {
                self.drain_events(now, out);
                self.linger(registry, now);
                break;
            }
            progress |= self.drain_events(shared.now(), out);
            if self.socket.is_some() && !self.tcp_connecting {
                progress |= self.write(shared);
                if may_read {
                    progress |= self.read(shared, out);
                }
            }
            let linked = matches!(self.client.state(), State::Connecting | State::Connected | State::Disconnecting);
            if self.socket.is_some() && !linked {
                // The client let go of the link (reported down): close it.
                self.drop_socket(registry);
            }
            progress |= self.drain_events(shared.now(), out);
            if !progress {
                break;
            }
        }
        if self.released && self.client.state() == State::Closed && self.socket.is_none() && !self.finished {
            // Every released handle ends with exactly one final event, once
            // its socket is really closed.
            self.finished = true;
            BatchWriter(out).disconnected(self.handle, DisconnectReason::Requested.reason(), true);
        }
    }

    fn start_linger(&mut self, now: u64) {
        if self.socket.is_some() {
            self.linger_until = Some(now + LINGER_MS);
            self.readable = true;
        }
    }

    /// Reads and discards until the server closes, or the deadline.
    fn linger(&mut self, registry: &Registry, now: u64) {
        let mut sink = [0u8; 4096];
        let done = loop {
            let Some(s) = &mut self.socket else { break true };
            if self.linger_until.is_some_and(|t| now >= t) {
                break true;
            }
            match s.read(&mut sink) {
                Ok(0) => break true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        if done {
            self.linger_until = None;
            self.drop_socket(registry);
        }
    }

    fn write(&mut self, shared: &Shared) -> bool {
        let mut progress = false;
        while !self.write_blocked {
            let Some(s) = &mut self.socket else { break };
            let bytes = self.client.poll_transmit();
            if bytes.is_empty() {
                break;
            }
            match s.write(bytes) {
                Ok(0) => break,
                Ok(n) => {
                    self.client.advance_transmit(shared.now(), n);
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.write_blocked = true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(shared, DisconnectReason::NetworkError, Some(e.to_string()));
                    return true;
                }
            }
        }
        progress
    }

    fn read(&mut self, shared: &Shared, out: &mut Vec<u8>) -> bool {
        let mut progress = false;
        while self.readable {
            let Some(s) = &mut self.socket else { break };
            let room = self.client.receive_buffer();
            if room.is_empty() {
                // A whole packet waits (for room in the PUBACK queue): write first.
                break;
            }
            match s.read(room) {
                Ok(0) => {
                    self.fail(shared, DisconnectReason::ClosedByPeer, None);
                    return true;
                }
                Ok(n) => {
                    self.client.commit_received(n);
                    self.drain_events(shared.now(), out);
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(shared, DisconnectReason::NetworkError, Some(e.to_string()));
                    return true;
                }
            }
        }
        progress
    }

    /// Client events into the batch. True when there were any.
    fn drain_events(&mut self, now: u64, out: &mut Vec<u8>) -> bool {
        let handle = self.handle;
        let mut any = false;
        let Conn { client, sub_topics, last_io_error, released, .. } = self;
        while let Some(event) = client.poll_event(now) {
            any = true;
            let mut w = BatchWriter(out);
            match event {
                Event::Connected { session_present } => w.connected(handle, session_present),
                Event::Disconnected { reason } => {
                    let text = match (reason, last_io_error.take()) {
                        (DisconnectReason::ConnectFailed | DisconnectReason::NetworkError, Some(d)) => {
                            format!("{}: {d}", reason.reason())
                        }
                        _ => reason.reason().to_owned(),
                    };
                    // The end of a released handle's link is reported
                    // once, as its final event (see `service`).
                    if !(*released && reason == DisconnectReason::Requested) {
                        w.disconnected(handle, &text, false);
                    }
                }
                Event::Message(p) => w.message(handle, p.qos as u8, p.retain, p.dup, p.topic, p.payload),
                Event::Subscribed { packet_id, return_codes } => {
                    let topic = sub_topics.remove(&packet_id).unwrap_or_default();
                    for &code in return_codes {
                        w.subscribed(handle, packet_id, code, &topic);
                    }
                }
                Event::Published { packet_id } => w.published(handle, packet_id),
                Event::Unsubscribed { .. } | Event::Pong => {}
            }
        }
        any
    }
}
