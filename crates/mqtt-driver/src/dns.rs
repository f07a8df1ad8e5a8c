//! Host names resolved off every caller's thread, the I/O thread included:
//! one resolver thread per driver with a stack size the profile sets,
//! started on the first name that is not an IP literal.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use crate::events::Handle;

/// A lookup's answer: every address, in the resolver's order.
pub(crate) type Answer = (Handle, u64, std::io::Result<Vec<SocketAddr>>);

struct Request {
    handle: Handle,
    attempt: u64,
    host: String,
    port: u16,
}

pub(crate) struct Resolver {
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    stack_size: usize,
}

impl Resolver {
    pub fn new(stack_size: usize) -> Resolver {
        Resolver { tx: Mutex::new(None), stack_size }
    }

    /// Queues a lookup; `done` receives the answer on the resolver thread.
    pub fn resolve(
        &self,
        handle: Handle,
        attempt: u64,
        host: &str,
        port: u16,
        done: &Arc<dyn Fn(Answer) + Send + Sync>,
    ) -> std::io::Result<()> {
        let mut tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        if tx.is_none() {
            let (t, rx) = mpsc::channel::<Request>();
            let done = done.clone();
            std::thread::Builder::new().name("mqtt-dns".into()).stack_size(self.stack_size).spawn(move || {
                for r in rx {
                    let addrs = (r.host.as_str(), r.port).to_socket_addrs().map(|a| a.collect::<Vec<_>>());
                    let addrs = addrs.and_then(|a| {
                        if a.is_empty() {
                            Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
                        } else {
                            Ok(a)
                        }
                    });
                    done((r.handle, r.attempt, addrs));
                }
            })?;
            *tx = Some(t);
        }
        let req = Request { handle, attempt, host: host.to_owned(), port };
        match tx.as_ref().map(|t| t.send(req)) {
            Some(Ok(())) => Ok(()),
            _ => {
                *tx = None;
                Err(std::io::Error::other("the resolver thread stopped"))
            }
        }
    }
}
