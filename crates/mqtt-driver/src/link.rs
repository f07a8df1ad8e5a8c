//! The transport seam: what the I/O thread reads from and writes to. Plain
//! TCP, and TLS over it with rustls (feature `tls`, [`crate::tls`]); esp-tls
//! would fit behind the same trait on ESP32. "Ready" means ready to carry
//! MQTT bytes: after the TLS handshake, where there is one.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::error::DriverError;
use crate::host::Host;
use crate::TlsOptions;

/// A non-blocking byte stream registered with the I/O thread's poll.
pub trait Link: Read + Write + Send {
    fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()>;
    fn deregister(&mut self, registry: &Registry);
    /// Whether the link is ready to carry MQTT bytes. `Ok(false)`: not yet
    /// (wait for readiness); `Err`: it failed.
    fn poll_ready(&mut self) -> io::Result<bool>;
    /// Before the socket closes: a goodbye of the link's own (TLS's
    /// close_notify), as far as the socket takes it now. Nothing for TCP.
    fn close(&mut self) {}
}

/// A failure of the link's security layer (the TLS handshake refused, a
/// bad record): its text is the whole reason the application sees
/// ("TLS: certificate expired"). It travels inside an `io::Error`.
#[derive(Debug)]
pub struct TlsError(pub String);

impl TlsError {
    pub fn into_io(self) -> io::Error {
        io::Error::new(ErrorKind::InvalidData, self)
    }

    /// The TLS failure an I/O error carries, if it carries one.
    pub fn of(e: &io::Error) -> Option<&TlsError> {
        e.get_ref()?.downcast_ref()
    }
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// How a connection reaches its broker, fixed at `open`.
pub(crate) enum Transport {
    Tcp,
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsSetup),
}

impl Transport {
    /// Checks the TLS options (once, at `open`) and prepares their config.
    pub fn new(tls: Option<&TlsOptions>, host: &Host) -> Result<Transport, DriverError> {
        match tls {
            None => Ok(Transport::Tcp),
            #[cfg(feature = "tls")]
            Some(o) => Ok(Transport::Tls(crate::tls::TlsSetup::new(o, host)?)),
            #[cfg(not(feature = "tls"))]
            Some(_) => {
                let _ = host;
                Err(DriverError::InvalidTls("tls: this build has no TLS (mqtt-driver's feature \"tls\" is off)".into()))
            }
        }
    }

    /// Starts a non-blocking connect to `addr`, one of `host`'s addresses.
    pub fn connect(&self, addr: SocketAddr, host: &Host) -> io::Result<AnyLink> {
        let tcp = TcpLink::connect(addr)?;
        match self {
            Transport::Tcp => {
                let _ = host;
                Ok(AnyLink::Tcp(tcp))
            }
            #[cfg(feature = "tls")]
            Transport::Tls(setup) => Ok(AnyLink::Tls(Box::new(setup.connect(tcp, host)?))),
        }
    }
}

/// The links the driver opens, dispatched without a vtable.
pub(crate) enum AnyLink {
    Tcp(TcpLink),
    /// Boxed: rustls's connection state is large next to a socket.
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::TlsLink>),
}

macro_rules! each_link {
    ($self:expr, $l:ident => $e:expr) => {
        match $self {
            AnyLink::Tcp($l) => $e,
            #[cfg(feature = "tls")]
            AnyLink::Tls($l) => $e,
        }
    };
}

impl Link for AnyLink {
    fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        each_link!(self, l => l.register(registry, token))
    }

    fn deregister(&mut self, registry: &Registry) {
        each_link!(self, l => l.deregister(registry))
    }

    fn poll_ready(&mut self) -> io::Result<bool> {
        each_link!(self, l => l.poll_ready())
    }

    fn close(&mut self) {
        each_link!(self, l => l.close())
    }
}

impl Read for AnyLink {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        each_link!(self, l => l.read(buf))
    }
}

impl Write for AnyLink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        each_link!(self, l => l.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        each_link!(self, l => l.flush())
    }
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
