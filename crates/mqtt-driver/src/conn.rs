//! One connection's state shared between the application's threads and
//! the I/O thread: the core client and what the driver adds around it. The
//! mutex over it is held only to move bytes or answer a call, never across
//! a read or write loop.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use mqtt_core::{Client, DisconnectReason, Event as CoreEvent, State};

use crate::events::{Event, EventSink, Handle};
use crate::link::Transport;
use crate::Broker;

pub(crate) struct Conn {
    pub handle: Handle,
    pub sink: Arc<dyn EventSink>,
    /// The address given to `open`, then `OpenOptions::brokers`, as given
    /// (for the `Connected` event).
    brokers: Vec<Broker>,
    inner: Mutex<ConnInner>,
    /// The client's state and `released` as of the last unlock, so that
    /// `state()` never waits for the lock (whose holder may be descheduled
    /// on a busy machine).
    snapshot: AtomicU8,
    /// TCP or TLS, fixed at `open`.
    pub transport: Transport,
}

/// The connection locked; unlocking publishes the state snapshot.
pub(crate) struct ConnGuard<'a> {
    guard: MutexGuard<'a, ConnInner>,
    snapshot: &'a AtomicU8,
}

impl Deref for ConnGuard<'_> {
    type Target = ConnInner;
    fn deref(&self) -> &ConnInner {
        &self.guard
    }
}

impl DerefMut for ConnGuard<'_> {
    fn deref_mut(&mut self) -> &mut ConnInner {
        &mut self.guard
    }
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.snapshot.store(encode_snapshot(&self.guard), Ordering::Release);
    }
}

const RELEASED: u8 = 0x80;

thread_local! {
    /// The handle whose events the I/O thread is handing to its sink.
    static IN_SINK: std::cell::Cell<Option<Handle>> = const { std::cell::Cell::new(None) };
}

/// Marks this thread as inside `handle`'s sink until dropped.
struct InSink(Option<Handle>);

impl InSink {
    fn enter(handle: Handle) -> InSink {
        InSink(IN_SINK.replace(Some(handle)))
    }
}

impl Drop for InSink {
    fn drop(&mut self) {
        IN_SINK.set(self.0);
    }
}

/// Is this thread inside `handle`'s sink (holding its lock)?
pub(crate) fn in_sink_of(handle: Handle) -> bool {
    IN_SINK.get() == Some(handle)
}

fn encode_snapshot(c: &ConnInner) -> u8 {
    encode_state(c.client.state(), c.released)
}

/// The state to show with an event. An event borrows the client, so its
/// state is read before; a `Connected` event means connected.
fn event_state(event: &CoreEvent<'_>, before: State) -> State {
    match event {
        CoreEvent::Connected { .. } => State::Connected,
        _ => before,
    }
}

fn encode_state(state: State, released: bool) -> u8 {
    let state = match state {
        State::Idle => 0,
        State::Connecting => 1,
        State::Connected => 2,
        State::WaitingToReconnect => 3,
        State::Disconnected => 4,
        State::Disconnecting => 5,
        State::Closed => 6,
    };
    state | if released { RELEASED } else { 0 }
}

/// The core state of a snapshot, and whether the handle was released.
pub(crate) fn decode_snapshot(s: u8) -> (State, bool) {
    let state = match s & !RELEASED {
        0 => State::Idle,
        1 => State::Connecting,
        2 => State::Connected,
        3 => State::WaitingToReconnect,
        4 => State::Disconnected,
        5 => State::Disconnecting,
        _ => State::Closed,
    };
    (state, s & RELEASED != 0)
}

pub(crate) struct ConnInner {
    pub client: Box<Client<Vec<u8>>>,
    /// SUBSCRIBE/UNSUBSCRIBE packet id -> its filter, for the events.
    pub filters: HashMap<u16, String>,
    /// The application called `disconnect`: only the final event follows.
    pub released: bool,
    /// `disconnect` time plus the grace period: nothing of this handle
    /// outlives it.
    pub grace_until: Option<u64>,
    /// The OS error of the last failure, added to the reason.
    pub last_io_error: Option<String>,
    /// That failure was TLS's: its text is the whole reason.
    pub tls_failed: bool,
}

impl Conn {
    pub fn new(
        handle: Handle,
        client: Box<Client<Vec<u8>>>,
        sink: Arc<dyn EventSink>,
        brokers: Vec<Broker>,
        transport: Transport,
    ) -> Conn {
        let inner = ConnInner {
            client,
            filters: HashMap::new(),
            released: false,
            grace_until: None,
            last_io_error: None,
            tls_failed: false,
        };
        let snapshot = AtomicU8::new(encode_snapshot(&inner));
        Conn { handle, sink, brokers, inner: Mutex::new(inner), snapshot, transport }
    }

    pub fn lock(&self) -> ConnGuard<'_> {
        ConnGuard { guard: self.inner.lock().unwrap_or_else(|e| e.into_inner()), snapshot: &self.snapshot }
    }

    /// The state as of the last unlock, without waiting for the lock.
    pub fn snapshot(&self) -> (State, bool) {
        decode_snapshot(self.snapshot.load(Ordering::Acquire))
    }

    /// Hands the client's events to the sink. True when there were any.
    /// The connection stays locked meanwhile (events borrow its buffers), so
    /// a sink that calls back into the driver for this handle is refused
    /// (`DriverError::CalledFromSink`) instead of deadlocking.
    pub fn drain_events(&self, c: &mut ConnInner, now: u64) -> bool {
        let _in_sink = InSink::enter(self.handle);
        let (handle, sink) = (self.handle, &*self.sink);
        let ConnInner { client, filters, released, last_io_error, tls_failed, .. } = c;
        let mut any = false;
        loop {
            let before = client.state();
            let Some(event) = client.poll_event(now) else { break };
            any = true;
            // Whoever gets the event and asks for the state sees it current.
            let state = encode_state(event_state(&event, before), *released);
            self.snapshot.store(state, Ordering::Release);
            // After `disconnect` only the final event is reported (by the
            // I/O thread, once the socket is closed).
            if *released {
                continue;
            }
            match event {
                CoreEvent::Connected { session_present } => {
                    let broker = client.connected_broker();
                    let b = &self.brokers[usize::from(broker).min(self.brokers.len() - 1)];
                    sink.event(handle, Event::Connected { session_present, broker, host: &b.host, port: b.port });
                }
                CoreEvent::Disconnected { reason } => {
                    let io_failure = matches!(reason, DisconnectReason::ConnectFailed | DisconnectReason::NetworkError);
                    let tls = std::mem::take(tls_failed) && io_failure;
                    let text = match (reason, last_io_error.take()) {
                        // "TLS: certificate expired" says it all.
                        (_, Some(d)) if tls => d,
                        (_, Some(d)) if io_failure => format!("{}: {d}", reason.reason()),
                        _ => reason.reason().to_owned(),
                    };
                    let event = Event::Disconnected { reason: &text, cause: reason, tls, last: false, abandoned: 0 };
                    sink.event(handle, event);
                }
                CoreEvent::Message(p) => sink.event(
                    handle,
                    Event::Message {
                        topic: p.topic,
                        payload: p.payload,
                        qos: p.qos,
                        retain: p.retain,
                        dup: p.dup,
                        packet_id: p.packet_id,
                    },
                ),
                CoreEvent::Subscribed { packet_id, return_codes } => {
                    let filter = filters.remove(&packet_id).unwrap_or_default();
                    for &code in return_codes {
                        sink.event(handle, Event::Subscribed { packet_id, filter: &filter, code });
                    }
                }
                CoreEvent::Unsubscribed { packet_id } => {
                    let filter = filters.remove(&packet_id).unwrap_or_default();
                    sink.event(handle, Event::Unsubscribed { packet_id, filter: &filter });
                }
                CoreEvent::Published { packet_id, qos } => sink.event(handle, Event::Published { packet_id, qos }),
                CoreEvent::Drain => sink.event(handle, Event::Drain),
                CoreEvent::Oversized { topic, size, qos } => sink.event(handle, Event::Oversized { topic, size, qos }),
                CoreEvent::Pong => {}
            }
        }
        // Requests lost with a link are forgotten by the core: so here.
        if any && !filters.is_empty() {
            filters.retain(|id, _| client.is_request_pending(*id));
        }
        any
    }
}
