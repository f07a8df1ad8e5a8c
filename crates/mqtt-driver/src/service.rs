//! The I/O thread's side of one connection: its link, readiness and the
//! step that moves bytes and events. Only the I/O thread touches this. The
//! shared [`Conn`] is never locked across a socket call: bytes are read
//! into scratch space and written from a staging buffer without the lock,
//! so `publish` waits at most for a copy, never for the kernel.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use mio::{Registry, Token};
use mqtt_core::{DisconnectReason, LinkAction, State};

use crate::conn::{Conn, ConnInner};
use crate::events::Event;
use crate::host::Host;
use crate::link::{AnyLink, Link, TlsError};
use crate::{Profile, Shared};

/// Does the client want a link in this state (one opening, up or closing)?
fn has_link(state: State) -> bool {
    matches!(state, State::Connecting | State::Connected | State::Disconnecting)
}

/// Writes `bytes` as far as the socket takes them now (before a close):
/// how many went.
fn write_now(l: &mut impl Write, bytes: &[u8]) -> usize {
    let mut done = 0;
    while done < bytes.len() {
        match l.write(&bytes[done..]) {
            Ok(n) if n > 0 => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    done
}

/// Reads per service before the other connections get their turn.
const READS_PER_TURN: usize = 16;

pub(crate) struct IoConn {
    pub conn: Arc<Conn>,
    /// The address given to `open`, then `OpenOptions::brokers`: the core
    /// says which one each attempt goes to.
    brokers: Vec<(Host, u16)>,
    /// The broker of the current attempt (an index into `brokers`).
    broker: usize,
    link: Option<AnyLink>,
    /// TCP connect (and the TLS handshake, if any) under way.
    connecting: bool,
    /// Readiness seen and not yet used up (edge-triggered poll).
    readable: bool,
    write_blocked: bool,
    /// Counts attempts, so a late DNS answer for an old one is ignored.
    attempt: u64,
    resolving: bool,
    /// Addresses of this attempt not tried yet.
    addrs: Vec<SocketAddr>,
    /// The address being connected to, named in a failure's reason.
    addr: Option<SocketAddr>,
    /// Read from the socket, not yet taken by the client.
    scratch: Box<[u8]>,
    scratch_start: usize,
    scratch_end: usize,
    /// Taken from the client (which counts it as sent), not yet accepted by
    /// the socket: written before anything else, and before the link closes.
    staged: Box<[u8]>,
    staged_start: usize,
    staged_end: usize,
    /// Reading stopped because the sink is behind.
    paused: bool,
    /// The client took no more input until its PUBACKs are written: only a
    /// write can unblock it (no point in polling again at once).
    input_blocked: bool,
    /// After DISCONNECT: read until the server closes, or this deadline.
    linger_until: Option<u64>,
    /// The final event was delivered: remove from the table.
    pub finished: bool,
}

impl IoConn {
    pub fn new(conn: Arc<Conn>, brokers: Vec<(Host, u16)>, profile: &Profile) -> IoConn {
        IoConn {
            conn,
            brokers,
            broker: 0,
            link: None,
            connecting: false,
            readable: false,
            write_blocked: false,
            attempt: 0,
            resolving: false,
            addrs: Vec::new(),
            addr: None,
            scratch: vec![0; profile.read_chunk].into_boxed_slice(),
            scratch_start: 0,
            scratch_end: 0,
            staged: vec![0; profile.write_chunk].into_boxed_slice(),
            staged_start: 0,
            staged_end: 0,
            paused: false,
            input_blocked: false,
            linger_until: None,
            finished: false,
        }
    }

    fn token(&self) -> Token {
        Token(self.conn.handle as usize)
    }

    /// When this connection next needs the I/O thread without readiness
    /// (an attempt due while the network is down waits for it).
    pub fn next_deadline(&self, network_up: bool) -> Option<u64> {
        let client = self.conn.lock().client.poll_timeout().filter(|_| network_up || self.link.is_some());
        [client, self.linger_until].into_iter().flatten().min()
    }

    /// Work left that no readiness event will announce.
    pub fn has_more(&self) -> bool {
        let unread = self.readable || self.scratch_start < self.scratch_end;
        let idle = self.paused || self.input_blocked || self.linger_until.is_some();
        self.link.is_some() && !self.connecting && unread && !idle
    }

    pub fn on_ready(&mut self, readable: bool, writable: bool) {
        self.readable |= readable;
        if writable {
            self.write_blocked = false;
        }
    }

    pub fn on_resolved(
        &mut self,
        registry: &Registry,
        shared: &Shared,
        attempt: u64,
        addrs: std::io::Result<Vec<SocketAddr>>,
    ) {
        if attempt != self.attempt || !self.resolving {
            return;
        }
        self.resolving = false;
        match addrs {
            Ok(mut addrs) => {
                addrs.reverse(); // popped from the end: first answer first
                self.addrs = addrs;
                self.connect_next(registry, shared, None);
            }
            Err(e) => {
                let name = match &self.brokers[self.broker].0 {
                    Host::Name(n) => n.as_str(),
                    Host::Ip(_) => "",
                };
                self.fail(shared, DisconnectReason::ConnectFailed, format!("cannot resolve {name}: {e}"));
            }
        }
    }

    fn open(&mut self, registry: &Registry, shared: &Shared) {
        self.attempt += 1;
        // The core counts the rounds over the brokers; an index past the
        // list cannot happen (the core's count is the list's length).
        self.broker = usize::from(self.conn.lock().client.broker()).min(self.brokers.len() - 1);
        let (host, port) = &self.brokers[self.broker];
        match host {
            Host::Ip(ip) => {
                self.addrs = vec![SocketAddr::new(*ip, *port)];
                self.connect_next(registry, shared, None);
            }
            Host::Name(name) => {
                self.resolving = true;
                if let Err(e) =
                    shared.resolver.resolve(self.conn.handle, self.attempt, name, *port, &shared.on_resolved)
                {
                    self.resolving = false;
                    self.fail(shared, DisconnectReason::ConnectFailed, e.to_string());
                }
            }
        }
    }

    /// Tries the next address of this attempt; fails the attempt when none
    /// is left (with the last error seen, and the address it came from).
    fn connect_next(&mut self, registry: &Registry, shared: &Shared, mut last_error: Option<std::io::Error>) {
        self.drop_link(registry);
        let mut failed_at = self.addr.take().filter(|_| last_error.is_some());
        while let Some(addr) = self.addrs.pop() {
            let token = self.token();
            let host = &self.brokers[self.broker].0;
            let started =
                self.conn.transport.connect(addr, host).and_then(|mut l| l.register(registry, token).map(|()| l));
            match started {
                Ok(l) => {
                    self.link = Some(l);
                    self.addr = Some(addr);
                    self.connecting = true;
                    self.write_blocked = true;
                    return;
                }
                Err(e) => (last_error, failed_at) = (Some(e), Some(addr)),
            }
        }
        match (last_error, failed_at) {
            // A TLS refusal's text is the whole reason ("TLS: certificate expired").
            (Some(e), _) if TlsError::of(&e).is_some() => self.fail_io(shared, DisconnectReason::ConnectFailed, &e),
            (Some(e), Some(a)) => self.fail(shared, DisconnectReason::ConnectFailed, format!("{a}: {e}")),
            (Some(e), None) => self.fail_io(shared, DisconnectReason::ConnectFailed, &e),
            (None, _) => self.fail(shared, DisconnectReason::ConnectFailed, "no address".to_owned()),
        }
    }

    fn drop_link(&mut self, registry: &Registry) {
        self.flush_staged();
        self.write_parting();
        if let Some(mut l) = self.link.take() {
            if !self.connecting {
                l.close();
            }
            l.deregister(registry);
        }
        self.connecting = false;
        self.readable = false;
        self.write_blocked = false;
        self.scratch_start = 0;
        self.scratch_end = 0;
        self.staged_start = 0;
        self.staged_end = 0;
        self.input_blocked = false;
    }

    /// Before a close: what is staged goes out, as far as the socket takes
    /// it now (the client already counts it as sent: a DISCONNECT, say).
    fn flush_staged(&mut self) {
        let Some(l) = &mut self.link else { return };
        if self.connecting {
            return;
        }
        self.staged_start += write_now(l, &self.staged[self.staged_start..self.staged_end]);
        // What the link itself still holds (TLS records).
        let _ = l.flush();
    }

    /// The link failed under the client (not through its own decision).
    /// What was read and not yet handed over still goes to the client:
    /// whole PUBLISHes received before a reset are delivered, not dropped.
    fn fail(&self, shared: &Shared, reason: DisconnectReason, detail: String) {
        self.fail_as(shared, reason, detail, false);
    }

    /// `fail` with an I/O error, which may be TLS's own refusal.
    fn fail_io(&self, shared: &Shared, reason: DisconnectReason, e: &std::io::Error) {
        self.fail_as(shared, reason, e.to_string(), TlsError::of(e).is_some());
    }

    fn fail_as(&self, shared: &Shared, reason: DisconnectReason, detail: String, tls: bool) {
        let mut c = self.conn.lock();
        c.last_io_error = Some(detail);
        c.tls_failed = tls;
        c.client.handle_link_down(shared.now(), reason);
        let mut rest = &self.scratch[self.scratch_start..self.scratch_end];
        loop {
            self.conn.drain_events(&mut c, shared.now());
            let n = c.client.handle_input(rest);
            if n == 0 {
                break;
            }
            rest = &rest[n..];
        }
    }

    fn check_connected(&mut self, registry: &Registry, shared: &Shared) {
        let Some(link) = &mut self.link else { return };
        if self.write_blocked && !self.readable {
            return;
        }
        match link.poll_ready() {
            Ok(true) => {
                self.connecting = false;
                self.write_blocked = false;
                self.addrs.clear();
                self.addr = None;
                self.conn.lock().client.handle_link_up(shared.now());
            }
            Ok(false) => self.write_blocked = true,
            // Refused here: the next address of the same attempt, if any.
            Err(e) => self.connect_next(registry, shared, Some(e)),
        }
    }

    /// The IP stack went down (the firmware's lost-IP handler): the link
    /// is gone with it; auto-reconnect takes it back once the network is up.
    pub fn on_network_down(&mut self, registry: &Registry, shared: &Shared) {
        if self.link.is_some() || self.resolving {
            self.resolving = false;
            self.drop_link(registry);
            self.fail(shared, DisconnectReason::NetworkError, "network down".to_owned());
        }
    }

    /// Moves everything that can move now. While the network is down, no
    /// attempt starts: one that falls due waits for the network.
    pub fn service(&mut self, registry: &Registry, shared: &Shared, network_up: bool) {
        for _ in 0..64 {
            let now = shared.now();
            let mut progress = false;
            let (actions, state, disconnect_sent, grace_until) = {
                let mut c = self.conn.lock();
                let may_start = network_up || self.link.is_some() || c.released;
                if may_start && c.client.poll_timeout().is_some_and(|t| now >= t) {
                    c.client.handle_timeout(now);
                }
                let mut actions = [None, None];
                for a in actions.iter_mut() {
                    *a = c.client.poll_action();
                }
                progress |= self.conn.drain_events(&mut c, now);
                (actions, c.client.state(), c.client.disconnect_sent(), c.grace_until)
            };
            for action in actions.into_iter().flatten() {
                progress = true;
                match action {
                    LinkAction::Close if state == State::Closed && disconnect_sent && !self.connecting => {
                        self.start_linger(now, grace_until);
                    }
                    LinkAction::Close => self.drop_link(registry),
                    LinkAction::Open => {
                        self.drop_link(registry);
                        self.open(registry, shared);
                    }
                }
            }
            if self.connecting {
                self.check_connected(registry, shared);
            }
            if self.linger_until.is_some() {
                self.linger(registry, now);
                break;
            }
            if self.link.is_some() && !self.connecting {
                progress |= self.write(shared);
                progress |= self.read(shared);
            }
            // The snapshot is exact here: every change is made under the lock,
            // and unlocking publishes it.
            if self.link.is_some() && !has_link(self.conn.snapshot().0) && self.linger_until.is_none() {
                // The client let go of the link (reported down): close it.
                self.drop_link(registry);
            }
            if !progress {
                break;
            }
        }
        self.finish_if_done();
    }

    /// Every released handle ends with exactly one final event, once its
    /// socket is really closed.
    fn finish_if_done(&mut self) {
        if self.finished || self.link.is_some() {
            return;
        }
        let (state, released) = self.conn.snapshot();
        if released && state == State::Closed {
            self.finished = true;
            let cause = DisconnectReason::Requested;
            let abandoned = self.conn.lock().client.abandoned();
            let event = Event::Disconnected { reason: cause.reason(), cause, tls: false, last: true, abandoned };
            self.conn.sink.event(self.conn.handle, event);
        }
    }

    /// PUBACKs owed on a link the client closed over a violation: written
    /// once, as far as the socket takes them now.
    fn write_parting(&mut self) {
        let Some(l) = &mut self.link else { return };
        if self.connecting {
            return;
        }
        let mut c = self.conn.lock();
        loop {
            let bytes = c.client.parting_bytes();
            let (len, n) = (bytes.len(), write_now(l, bytes));
            c.client.advance_parting(n);
            if n == 0 || n < len {
                break;
            }
        }
    }

    fn start_linger(&mut self, now: u64, grace_until: Option<u64>) {
        match grace_until {
            Some(t) if now < t && self.link.is_some() => {
                self.linger_until = Some(t);
                self.readable = true;
            }
            _ => self.linger_until = None,
        }
    }

    /// Reads and discards until the server closes, or the deadline: unread
    /// bytes would turn our close into a reset that makes the server drop
    /// what it has not read yet.
    fn linger(&mut self, registry: &Registry, now: u64) {
        // The DISCONNECT may still be staged: it goes first.
        self.flush_staged();
        let done = loop {
            let Some(l) = &mut self.link else { break true };
            if self.linger_until.is_some_and(|t| now >= t) {
                break true;
            }
            match l.read(&mut self.scratch) {
                Ok(0) => break true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        if done {
            self.linger_until = None;
            self.drop_link(registry);
        }
    }

    /// Writes what is staged; when it is all out, stages the client's next
    /// bytes under the lock (one copy) and writes them without it.
    fn write(&mut self, shared: &Shared) -> bool {
        let mut progress = false;
        while !self.write_blocked && self.link.is_some() {
            let staged = self.staged_start < self.staged_end || self.stage(shared);
            let Some(l) = &mut self.link else { break };
            let written = if staged {
                progress = true;
                l.write(&self.staged[self.staged_start..self.staged_end])
            } else {
                // Nothing new: what the link itself still holds (TLS
                // records the socket did not take) goes out now.
                l.flush().map(|()| 0)
            };
            match written {
                Ok(0) => break,
                Ok(n) => self.staged_start += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.write_blocked = true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail_io(shared, DisconnectReason::NetworkError, &e);
                    return true;
                }
            }
        }
        progress
    }

    /// Copies as much of the client's outgoing bytes as the staging buffer
    /// holds, and tells the client they are sent. False when it had none.
    fn stage(&mut self, shared: &Shared) -> bool {
        let now = shared.now();
        let mut c = self.conn.lock();
        let mut filled = 0;
        while filled < self.staged.len() {
            let bytes = c.client.poll_transmit();
            if bytes.is_empty() {
                break;
            }
            let n = bytes.len().min(self.staged.len() - filled);
            self.staged[filled..filled + n].copy_from_slice(&bytes[..n]);
            c.client.advance_transmit(now, n);
            filled += n;
        }
        self.staged_start = 0;
        self.staged_end = filled;
        if filled > 0 {
            // Room was made: a PUBACK-bound packet may now go in.
            self.input_blocked = false;
            self.conn.drain_events(&mut c, now);
        }
        filled > 0
    }

    /// Reads without the lock into scratch space, then hands the bytes to
    /// the client under it. Stops while the sink is behind (flow control
    /// to the broker) and after a turn's worth of reads.
    fn read(&mut self, shared: &Shared) -> bool {
        let mut progress = false;
        for _ in 0..READS_PER_TURN {
            if self.scratch_start < self.scratch_end {
                let now = shared.now();
                let mut c = self.conn.lock();
                let n = c.client.handle_input(&self.scratch[self.scratch_start..self.scratch_end]);
                self.scratch_start += n;
                progress |= n > 0;
                progress |= self.conn.drain_events(&mut c, now);
                if self.scratch_start < self.scratch_end {
                    if !has_link(c.client.state()) {
                        self.scratch_start = self.scratch_end; // the link is void
                    } else {
                        // A whole packet waits for room for its PUBACK: write first.
                        self.input_blocked = true;
                    }
                    break;
                }
            }
            if !self.readable {
                break;
            }
            let behind = self.conn.sink.backlog() >= shared.profile.max_pending_events;
            if behind != self.paused {
                self.paused = behind;
                self.conn.lock().client.set_receive_paused(shared.now(), behind);
            }
            if behind {
                break;
            }
            let Some(l) = &mut self.link else { break };
            match l.read(&mut self.scratch) {
                Ok(0) => {
                    self.fail(shared, DisconnectReason::ClosedByPeer, String::new());
                    return true;
                }
                Ok(n) => {
                    self.scratch_start = 0;
                    self.scratch_end = n;
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail_io(shared, DisconnectReason::NetworkError, &e);
                    return true;
                }
            }
        }
        progress
    }
}

impl ConnInner {
    /// For `Driver::disconnect`.
    pub fn release(&mut self, now: u64, grace_ms: u64) {
        self.released = true;
        self.grace_until = Some(now + grace_ms);
        self.client.disconnect(now);
    }
}
