//! The handle table: live connections of the process, the limit on them,
//! and handles never reused.

use std::sync::Arc;

use crate::conn::Conn;
use crate::events::Handle;
use crate::host::Host;

/// The address given to `open`, then the failover brokers, parsed.
pub(crate) type Brokers = Vec<(Host, u16)>;

/// A connection the I/O thread has not set up yet.
pub(crate) type NewConn = (Handle, Arc<Conn>, Brokers);

pub(crate) struct Table {
    /// At most a profile's few connections (plus closing ones): a scan of
    /// this short list beats hashing on the per-call path.
    conns: Vec<(Handle, Arc<Conn>)>,
    /// Opened since the I/O thread last looked: it sets up their links.
    new: Vec<NewConn>,
    next_handle: Handle,
    /// Handles not yet explicitly disconnected.
    pub live: usize,
}

impl Table {
    pub fn new() -> Table {
        Table { conns: Vec::new(), new: Vec::new(), next_handle: 0, live: 0 }
    }

    pub fn next_handle(&self) -> Handle {
        self.next_handle
    }

    pub fn insert(&mut self, conn: Arc<Conn>, brokers: Brokers) {
        let handle = conn.handle;
        self.next_handle = handle + 1;
        self.live += 1;
        self.conns.push((handle, conn.clone()));
        self.new.push((handle, conn, brokers));
    }

    pub fn get(&self, handle: Handle) -> Option<Arc<Conn>> {
        self.conns.iter().find(|(h, _)| *h == handle).map(|(_, c)| c.clone())
    }

    pub fn take_new(&mut self) -> Vec<NewConn> {
        std::mem::take(&mut self.new)
    }

    /// The final event was delivered.
    pub fn remove(&mut self, handle: Handle) {
        self.conns.retain(|(h, _)| *h != handle);
    }

    /// Handles (live or closing) whose events go to `sink`.
    pub fn handles_of(&self, sink: &Arc<dyn crate::EventSink>) -> Vec<Handle> {
        let same = |c: &Arc<Conn>| std::ptr::addr_eq(Arc::as_ptr(&c.sink), Arc::as_ptr(sink));
        self.conns.iter().filter(|(_, c)| same(c)).map(|(h, _)| *h).collect()
    }
}
