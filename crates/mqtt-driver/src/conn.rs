//! One connection's state shared between the application's threads and
//! the I/O thread: the core client and what the driver adds around it. The
//! mutex over it is held only to move bytes or answer a call, never across
//! a read or write loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use mqtt_core::{Client, DisconnectReason, Event as CoreEvent};

use crate::events::{Event, EventSink, Handle};

pub(crate) struct Conn {
    pub handle: Handle,
    pub sink: Arc<dyn EventSink>,
    inner: Mutex<ConnInner>,
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
}

impl Conn {
    pub fn new(handle: Handle, client: Box<Client<Vec<u8>>>, sink: Arc<dyn EventSink>) -> Conn {
        let inner = ConnInner {
            client,
            filters: HashMap::new(),
            released: false,
            grace_until: None,
            last_io_error: None,
        };
        Conn { handle, sink, inner: Mutex::new(inner) }
    }

    pub fn lock(&self) -> MutexGuard<'_, ConnInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands the client's events to the sink. True when there were any.
    pub fn drain_events(&self, c: &mut ConnInner, now: u64) -> bool {
        let (handle, sink) = (self.handle, &*self.sink);
        let ConnInner { client, filters, released, last_io_error, .. } = c;
        let mut any = false;
        while let Some(event) = client.poll_event(now) {
            any = true;
            // After `disconnect` only the final event is reported (by the
            // I/O thread, once the socket is closed).
            if *released {
                continue;
            }
            match event {
                CoreEvent::Connected { session_present } => sink.event(handle, Event::Connected { session_present }),
                CoreEvent::Disconnected { reason } => {
                    let text = match (reason, last_io_error.take()) {
                        (DisconnectReason::ConnectFailed | DisconnectReason::NetworkError, Some(d)) => {
                            format!("{}: {d}", reason.reason())
                        }
                        _ => reason.reason().to_owned(),
                    };
                    sink.event(handle, Event::Disconnected { reason: &text, cause: reason, last: false });
                }
                CoreEvent::Message(p) => sink.event(
                    handle,
                    Event::Message { topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup },
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
                CoreEvent::Published { packet_id } => sink.event(handle, Event::Published { packet_id }),
                CoreEvent::Drain => sink.event(handle, Event::Drain),
                CoreEvent::Oversized { topic, size, qos } => sink.event(handle, Event::Oversized { topic, size, qos }),
                CoreEvent::Pong => {}
            }
        }
        // Requests lost with a link are forgotten by the core: so here.
        if any && filters.len() > 0 {
            filters.retain(|id, _| client.is_request_pending(*id));
        }
        any
    }
}
