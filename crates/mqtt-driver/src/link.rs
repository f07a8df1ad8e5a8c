//! The transport seam: what the I/O thread reads from and writes to. Plain
//! TCP now; TLS (rustls) and esp-tls fit behind the same trait, where
//! "ready" will mean after the handshake.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

/// A non-blocking byte stream registered with the I/O thread's poll.
pub trait Link: Read + Write + Send {
    fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()>;
    fn deregister(&mut self, registry: &Registry);
    /// Whether the link is ready to carry MQTT bytes. `Ok(false)`: not yet
    /// (wait for readiness); `Err`: it failed.
    fn poll_ready(&mut self) -> io::Result<bool>;
}

/// TCP with Nagle off: latency must not wait for it.
pub struct TcpLink {
    stream: TcpStream,
    ready: bool,
}

impl TcpLink {
    /// Starts a non-blocking connect.
    pub fn connect(addr: SocketAddr) -> io::Result<TcpLink> {
        Ok(TcpLink { stream: TcpStream::connect(addr)?, ready: false })
    }
}

impl Link for TcpLink {
    fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut self.stream, token, Interest::READABLE | Interest::WRITABLE)
    }

    fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }

    fn poll_ready(&mut self) -> io::Result<bool> {
        if self.ready {
            return Ok(true);
        }
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => {
                self.stream.set_nodelay(true)?;
                self.ready = true;
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Read for TcpLink {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for TcpLink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
