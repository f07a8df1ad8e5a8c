//! The one I/O thread: waits on every socket and the waker at once, with
//! the earliest deadline as the timeout, then serves each connection.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Poll, Token};

use crate::events::Handle;
use crate::service::IoConn;
use crate::Shared;

/// Connection tokens are their handles; the waker sits above them all.
pub(crate) const WAKER: Token = Token(usize::MAX);

pub(crate) fn run(mut poll: Poll, shared: Arc<Shared>) {
    let mut events = Events::with_capacity(256);
    let mut conns: HashMap<Handle, IoConn> = HashMap::new();
    let mut timeout = None;
    let mut network_was_up = shared.network_up.load(Ordering::Acquire);
    loop {
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                // A broken poll cannot serve anyone; avoid spinning.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        shared.wake_pending.store(false, Ordering::Release);
        if shared.opened.swap(false, Ordering::AcqRel) {
            for (handle, conn, brokers) in shared.table().take_new() {
                conns.insert(handle, IoConn::new(conn, brokers, &shared.profile));
            }
        }
        for event in events.iter() {
            if event.token() == WAKER {
                continue;
            }
            let Ok(handle) = Handle::try_from(event.token().0) else { continue };
            if let Some(c) = conns.get_mut(&handle) {
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                c.on_ready(readable, event.is_writable() || event.is_error());
            }
        }
        let resolved = std::mem::take(&mut *shared.resolved.lock().unwrap_or_else(|e| e.into_inner()));
        for (handle, attempt, addrs) in resolved {
            if let Some(c) = conns.get_mut(&handle) {
                c.on_resolved(poll.registry(), &shared, attempt, addrs);
            }
        }
        let network_up = shared.network_up.load(Ordering::Acquire);
        if network_was_up && !network_up {
            for c in conns.values_mut() {
                c.on_network_down(poll.registry(), &shared);
            }
        }
        network_was_up = network_up;
        for c in conns.values_mut() {
            c.service(poll.registry(), &shared, network_up);
        }
        let finished: Vec<Handle> = conns.iter().filter(|(_, c)| c.finished).map(|(h, _)| *h).collect();
        if !finished.is_empty() {
            let mut t = shared.table();
            for h in finished {
                conns.remove(&h);
                t.remove(h);
            }
        }
        timeout = if conns.values().any(IoConn::has_more) {
            Some(Duration::ZERO)
        } else {
            let now = shared.now();
            conns
                .values()
                .filter_map(|c| c.next_deadline(network_up))
                .min()
                .map(|t| Duration::from_millis(t.saturating_sub(now)))
        };
    }
}
