//! The one I/O thread: waits on every socket and the waker at once, with
//! the earliest client deadline as the timeout, then serves each connection.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::{Events, Poll, Token};

use crate::conn::Conn;
use crate::Shared;

/// Connection tokens are their handles; the waker sits above them all.
pub(crate) const WAKER: Token = Token(usize::MAX);

pub(crate) fn run(mut poll: Poll, shared: Arc<Shared>) {
    let mut events = Events::with_capacity(256);
    let mut out: Vec<u8> = Vec::new();
    let mut timeout = None;
    loop {
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                // A broken poll cannot serve anyone; avoid spinning.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        shared.wake_pending.store(false, Ordering::Release);
        let conns: Vec<_> = shared.table().conns.values().cloned().collect();
        for event in events.iter() {
            if event.token() == WAKER {
                continue;
            }
            let handle = event.token().0 as i32;
            let conn = shared.table().conns.get(&handle).cloned();
            if let Some(c) = conn {
                let mut c = c.lock().unwrap_or_else(|e| e.into_inner());
                c.on_ready(event.is_readable() || event.is_read_closed() || event.is_error(), event.is_writable() || event.is_error());
            }
        }
        let resolved = std::mem::take(&mut *shared.resolved.lock().unwrap_or_else(|e| e.into_inner()));
        for (handle, attempt, addr) in resolved {
            let conn = shared.table().conns.get(&handle).cloned();
            if let Some(c) = conn {
                c.lock().unwrap_or_else(|e| e.into_inner()).on_resolved(poll.registry(), &shared, attempt, addr);
            }
        }
        // Flow control: stop reading while the application is behind.
        let may_read = shared.pending_events() < shared.profile.max_pending_events;
        shared.reading_paused.store(!may_read, Ordering::Release);
        let mut finished = Vec::new();
        for c in &conns {
            let mut c = c.lock().unwrap_or_else(|e| e.into_inner());
            c.service(poll.registry(), &shared, &mut out, may_read);
            if c.finished {
                finished.push(c.handle);
            }
            if out.len() >= shared.profile.max_pending_events / 4 {
                shared.deliver(&mut out);
            }
        }
        shared.deliver(&mut out);
        if !finished.is_empty() {
            let mut t = shared.table();
            for h in finished {
                t.conns.remove(&h);
            }
        }
        // A connection opened since the snapshot kicked the waker, so the
        // next poll returns at once and sees it.
        timeout = next_timeout(&shared, &conns);
    }
}

/// The earliest deadline of any connection, as a poll timeout.
fn next_timeout(shared: &Shared, conns: &[Arc<Mutex<Conn>>]) -> Option<Duration> {
    let now = shared.now();
    conns
        .iter()
        .filter_map(|c| c.lock().ok()?.next_deadline())
        .min()
        .map(|t| Duration::from_millis(t.saturating_sub(now)))
}
