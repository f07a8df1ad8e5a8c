//! TLS over the TCP link, with rustls and its `ring` provider (no OpenSSL).
//!
//! The handshake runs on the I/O thread without blocking: `poll_ready`
//! moves it on as the socket allows (`read_tls` / `process_new_packets` /
//! `write_tls`) and reports ready only once it is done, so its time counts
//! in the connect timeout, which the core runs until CONNACK. Afterwards
//! the link reads and writes plaintext like TCP: a write either hands
//! bytes to rustls (which then owns them until the socket takes the
//! records) or reports WouldBlock, and no more plaintext is taken while
//! records are still waiting for the socket, so memory stays bounded and
//! backpressure reaches the driver as it does over TCP.
//!
//! Options are checked once, at `open` ([`TlsSetup::new`]), with reasons
//! that name the field. Trust comes from the given CA PEM, or else from the
//! OS store (rustls-native-certs), or, where the OS has none, Mozilla's
//! roots compiled in (webpki-roots).

use std::io::{self, ErrorKind, Read, Write};
use std::sync::{Arc, OnceLock};

use mio::{Registry, Token};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};

use crate::error::DriverError;
use crate::host::Host;
use crate::link::{Link, TcpLink, TlsError};
use crate::TlsOptions;

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// The OS's trusted roots, read once per process (a few ms); Mozilla's
/// compiled-in roots where the OS store is missing or empty.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut store = RootCertStore::empty();
            store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if store.is_empty() {
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            Arc::new(store)
        })
        .clone()
}

fn invalid(why: impl Into<String>) -> DriverError {
    DriverError::InvalidTls(why.into())
}

/// Every certificate of a PEM text; `field` names it in the reasons.
fn certificates(field: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, DriverError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("{field}: not valid PEM ({e})")))?;
    if certs.is_empty() {
        return Err(invalid(format!("{field}: no certificate in the PEM")));
    }
    Ok(certs)
}

/// The CAs of `tls.ca`: each must be a certificate webpki can use as a root.
fn roots(pem: &[u8]) -> Result<Arc<RootCertStore>, DriverError> {
    let mut store = RootCertStore::empty();
    for (i, cert) in certificates("tls.ca", pem)?.into_iter().enumerate() {
        store.add(cert).map_err(|e| invalid(format!("tls.ca: certificate {} is not usable as a CA ({e})", i + 1)))?;
    }
    Ok(Arc::new(store))
}

fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, DriverError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => invalid("tls.key: no private key in the PEM"),
        e => invalid(format!("tls.key: not valid PEM ({e})")),
    })
}

/// The server name to check: `tls.servername`, else the host connected to.
fn server_name_of(host: &Host) -> Result<ServerName<'static>, DriverError> {
    match host {
        Host::Ip(ip) => Ok(ServerName::IpAddress((*ip).into())),
        Host::Name(n) => ServerName::try_from(n.clone())
            .map_err(|_| invalid("tls: the host is not a DNS name TLS can check: give tls.servername")),
    }
}

/// A connection's TLS configuration, checked and built at `open`.
pub(crate) struct TlsSetup {
    config: Arc<ClientConfig>,
    /// `tls.servername`; otherwise each connect checks the host it dials.
    server_name: Option<ServerName<'static>>,
}

impl TlsSetup {
    pub fn new(o: &TlsOptions, host: &Host) -> Result<TlsSetup, DriverError> {
        let server_name = match &o.server_name {
            Some(n) => Some(
                ServerName::try_from(n.clone())
                    .map_err(|_| invalid("tls.servername: not a valid DNS name or IP address"))?,
            ),
            None => {
                server_name_of(host)?;
                None
            }
        };
        let roots = match &o.ca {
            Some(pem) => Some(roots(pem)?),
            None => None,
        };
        let client_auth = match (&o.cert, &o.key) {
            (Some(cert), Some(key)) => Some((certificates("tls.cert", cert)?, private_key(key)?)),
            (None, None) => None,
            _ => return Err(invalid("tls.cert and tls.key go together: give both or neither")),
        };
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("tls: {e}")))?;
        let builder = if o.reject_unauthorized == Some(false) {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
        } else {
            builder.with_root_certificates(roots.unwrap_or_else(system_roots))
        };
        let config = match client_auth {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => invalid("tls.key: does not match the certificate of tls.cert"),
                e => invalid(format!("tls.key: {e}")),
            })?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsSetup { config: Arc::new(config), server_name })
    }

    /// TLS over a TCP connect just started to one of `host`'s addresses.
    pub fn connect(&self, tcp: TcpLink, host: &Host) -> io::Result<TlsLink> {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => server_name_of(host).map_err(|e| TlsError(e.to_string()).into_io())?,
        };
        let shown = name.to_str().into_owned();
        let tls = ClientConnection::new(self.config.clone(), name).map_err(|e| failure(&e, &shown))?;
        Ok(TlsLink { tcp, tls, server_name: shown, ready: false, eof: false })
    }
}

/// `rejectUnauthorized: false`: any certificate, any name, is taken. The
/// handshake's signatures are still checked (they prove the server holds
/// the key of the certificate it sent), which is all that is left.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// rustls's error in words a user acts on.
pub(crate) fn describe(e: &rustls::Error, server_name: &str) -> String {
    use CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "TLS: certificate not trusted (unknown CA)".into(),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                format!("TLS: certificate is for another host name (not {server_name})")
            }
            C::Expired | C::ExpiredContext { .. } => "TLS: certificate expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => "TLS: certificate not valid yet".into(),
            C::Revoked => "TLS: certificate revoked".into(),
            C::BadSignature => "TLS: certificate badly signed".into(),
            c => format!("TLS: certificate refused ({c:?})"),
        },
        rustls::Error::AlertReceived(a) => match a {
            AlertDescription::CertificateRequired => "TLS: the server requires a client certificate".into(),
            AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied => format!("TLS: the server refused the client certificate (alert {a:?})"),
            a => format!("TLS: the server refused the handshake (alert {a:?})"),
        },
        e => format!("TLS: {e}"),
    }
}

fn failure(e: &rustls::Error, server_name: &str) -> io::Error {
    TlsError(describe(e, server_name)).into_io()
}

/// TLS over a [`TcpLink`].
pub(crate) struct TlsLink {
    tcp: TcpLink,
    tls: ClientConnection,
    /// For the reasons ("not <name>").
    server_name: String,
    /// The handshake is done.
    ready: bool,
    /// The socket reported end of stream.
    eof: bool,
}

impl TlsLink {
    /// Hands the records rustls holds to the socket. WouldBlock: some are
    /// left (the socket's writable edge brings the driver back).
    fn send_tls(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Like `send_tls`, where records left over are fine for now.
    fn send_tls_if_possible(&mut self) -> io::Result<()> {
        match self.send_tls() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(()),
            r => r,
        }
    }

    /// Feeds what the socket has to rustls and processes it. False when the
    /// socket had nothing (WouldBlock); true after bytes or end of stream.
    fn receive_tls(&mut self) -> io::Result<bool> {
        loop {
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            break;
        }
        if let Err(e) = self.tls.process_new_packets() {
            // rustls queued an alert that tells the server why: send it.
            let _ = self.send_tls();
            return Err(failure(&e, &self.server_name));
        }
        Ok(true)
    }

    /// A write failed (the server hung up): an alert it sent before, not
    /// read yet, says why better than the broken pipe.
    fn explain(&mut self, e: io::Error) -> io::Error {
        if e.kind() == ErrorKind::WouldBlock {
            return e;
        }
        match self.receive_tls() {
            Err(tls) if TlsError::of(&tls).is_some() => tls,
            _ => e,
        }
    }

    /// Moves the handshake on as far as the socket allows. The socket
    /// failing meanwhile is a TLS failure too: a server that speaks no TLS
    /// on this port resets the connection.
    fn handshake(&mut self) -> io::Result<bool> {
        self.handshake_step().map_err(|e| {
            if TlsError::of(&e).is_some() {
                return e;
            }
            TlsError(format!("TLS: the server closed the connection during the handshake ({e})")).into_io()
        })
    }

    fn handshake_step(&mut self) -> io::Result<bool> {
        loop {
            self.send_tls_if_possible()?;
            if !self.tls.is_handshaking() {
                self.ready = true;
                return Ok(true);
            }
            if self.eof {
                return Err(TlsError("TLS: the server closed the connection during the handshake".into()).into_io());
            }
            if !self.receive_tls()? {
                return Ok(false);
            }
        }
    }
}

impl Link for TlsLink {
    fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.tcp.register(registry, token)
    }

    fn deregister(&mut self, registry: &Registry) {
        self.tcp.deregister(registry)
    }

    fn poll_ready(&mut self) -> io::Result<bool> {
        if self.ready {
            return Ok(true);
        }
        if !self.tcp.poll_ready()? {
            return Ok(false);
        }
        self.handshake()
    }

    fn close(&mut self) {
        if self.ready {
            self.tls.send_close_notify();
            let _ = self.send_tls();
        }
    }
}

impl Read for TlsLink {
    /// Plaintext rustls already holds first; then the socket, until it
    /// would block (the poll is edge-triggered).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // Closed without close_notify: MQTT frames its packets by
                // length, so a cut is seen there; to us it is a close.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(0);
            }
            if !self.receive_tls()? {
                return Err(ErrorKind::WouldBlock.into());
            }
            // Anything rustls owes the server now (a key update) goes along.
            self.send_tls_if_possible()?;
        }
    }
}

impl Write for TlsLink {
    /// Takes plaintext only once the records before it are with the
    /// socket: either some bytes are taken (rustls keeps them until the
    /// socket takes their records; `flush` or the next write sends them) or
    /// WouldBlock, never a loss.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send_tls().map_err(|e| self.explain(e))?;
        let n = self.tls.writer().write(buf)?;
        self.send_tls_if_possible().map_err(|e| self.explain(e))?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_tls().map_err(|e| self.explain(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> TlsOptions {
        TlsOptions::default()
    }

    fn err(o: &TlsOptions) -> String {
        match TlsSetup::new(o, &Host::Ip([127, 0, 0, 1].into())) {
            Ok(_) => panic!("accepted {o:?}"),
            Err(e) => e.to_string(),
        }
    }

    // Made once with openssl for these tests (EC P-256, ten years): a CA,
    // a client certificate it signed with that certificate's key, and a
    // key of nothing. Parsed and matched here, never used to connect.
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBkjCCATmgAwIBAgIUZ+SUIzW07rfNQTaeUxqqWhEdZPUwCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUbXF0dC1ycyB1bml0IHRlc3QgQ0EwHhcNMjYxMjAxMDUwMDQ5
WhcNMzYxMTI4MDUwMDQ5WjAfMR0wGwYDVQQDDBRtcXR0LXJzIHVuaXQgdGVzdCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABAWaSw5n5r9ObnA8TroJCWY2cLxb
K8mebG2wpkZGQowt8UXpb/3mcXC5CMwFliTExm4OwGlWaB8H98YEQk2FWaOjUzBR
MB0GA1UdDgQWBBReCeHm+BzU6oF1ashObpU+Hxxu0DAfBgNVHSMEGDAWgBReCeHm
+BzU6oF1ashObpU+Hxxu0DAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cA
MEQCIBE2eT0z9cOdcjP/EhikBnuhnR/+yKa5iz0yaS/tK9sRAiBQE016IWd+XTtz
kirld7rjOvlcFgsjfTY1S6YIxiMedA==
-----END CERTIFICATE-----
";
    const CLIENT_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBhzCCASygAwIBAgIBBzAKBggqhkjOPQQDAjAfMR0wGwYDVQQDDBRtcXR0LXJz
IHVuaXQgdGVzdCBDQTAeFw0yNjEyMDEwNTAwNDlaFw0zNjExMjgwNTAwNDlaMBYx
FDASBgNVBAMMC3VuaXQgY2xpZW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
4yJIzqlws2ltU0tJXeWv/hUzG6G7Xqfue8TuNd/dKk3l62NiXASn6ayKA+1uvbSG
nQhGyavBnAICponjLxmLraNiMGAwCQYDVR0TBAIwADATBgNVHSUEDDAKBggrBgEF
BQcDAjAdBgNVHQ4EFgQUfkQzOGf0x9GFZYEOsSkRuH+WFmMwHwYDVR0jBBgwFoAU
Xgnh5vgc1OqBdWrITm6VPh8cbtAwCgYIKoZIzj0EAwIDSQAwRgIhAOF672fDeNSG
af77OjaqvAfM0uwp3b+0Qvld8NMvKWhQAiEA+iyFG7juZkI6VPyr59nPHT4HOn/U
GTkmqODTWpOibZo=
-----END CERTIFICATE-----
";
    const CLIENT_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgEd57wrV+YPEYnXbE
Nqyh5Ao59cfuOoqeoCz/jH9R3X2hRANCAATjIkjOqXCzaW1TS0ld5a/+FTMbobte
p+57xO41390qTeXrY2JcBKfprIoD7W69tIadCEbJq8GcAgKmieMvGYut
-----END PRIVATE KEY-----
";
    const OTHER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSw6iOZGeCiA7sKly
C+piR/hRK6JD5onQUhpPel2B8hahRANCAASrjHrR8B3TBtqY4QOhGf+WxocKCLze
VZhY3L/FNakN4+nMZ5b+6j/BhtLeeM+5W5QbuhYnRoNXhSFYBomjscRZ
-----END PRIVATE KEY-----
";

    #[test]
    fn defaults_build_with_the_system_roots() {
        assert!(TlsSetup::new(&opts(), &Host::Name("broker.example".into())).is_ok());
        assert!(TlsSetup::new(&opts(), &Host::Ip([127, 0, 0, 1].into())).is_ok());
    }

    #[test]
    fn ca_without_a_certificate_is_named() {
        let o = TlsOptions { ca: Some(b"not a certificate".to_vec()), ..opts() };
        assert_eq!(err(&o), "tls.ca: no certificate in the PEM");
        let o = TlsOptions { ca: Some(Vec::new()), ..opts() };
        assert_eq!(err(&o), "tls.ca: no certificate in the PEM");
    }

    #[test]
    fn ca_and_client_certificate_are_taken() {
        let o = TlsOptions {
            ca: Some(CA.as_bytes().to_vec()),
            cert: Some(CLIENT_CERT.as_bytes().to_vec()),
            key: Some(CLIENT_KEY.as_bytes().to_vec()),
            ..opts()
        };
        assert!(TlsSetup::new(&o, &Host::Name("localhost".into())).is_ok());
    }

    #[test]
    fn ca_that_is_not_a_certificate_is_named() {
        // Cut in the middle of its base64: a DER that ends too soon.
        let lines: Vec<&str> = CA.lines().collect();
        let cut = [&lines[..3], &lines[lines.len() - 1..]].concat().join("\n");
        let o = TlsOptions { ca: Some(cut.into_bytes()), ..opts() };
        assert!(err(&o).starts_with("tls.ca: certificate 1 is not usable as a CA"), "{}", err(&o));
        let o = TlsOptions {
            ca: Some(b"-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n".to_vec()),
            ..opts()
        };
        assert!(err(&o).starts_with("tls.ca: not valid PEM"), "{}", err(&o));
    }

    #[test]
    fn cert_and_key_go_together() {
        let o = TlsOptions { cert: Some(CA.as_bytes().to_vec()), ..opts() };
        assert_eq!(err(&o), "tls.cert and tls.key go together: give both or neither");
        let o = TlsOptions { key: Some(b"x".to_vec()), ..opts() };
        assert_eq!(err(&o), "tls.cert and tls.key go together: give both or neither");
        let o = TlsOptions { cert: Some(b"x".to_vec()), key: Some(b"x".to_vec()), ..opts() };
        assert_eq!(err(&o), "tls.cert: no certificate in the PEM");
        let cert = Some(CLIENT_CERT.as_bytes().to_vec());
        let o = TlsOptions { cert: cert.clone(), key: cert.clone(), ..opts() };
        assert_eq!(err(&o), "tls.key: no private key in the PEM");
        let o = TlsOptions { cert, key: Some(OTHER_KEY.as_bytes().to_vec()), ..opts() };
        assert_eq!(err(&o), "tls.key: does not match the certificate of tls.cert");
    }

    #[test]
    fn server_name_is_checked() {
        let o = TlsOptions { server_name: Some("not a name!".into()), ..opts() };
        assert_eq!(err(&o), "tls.servername: not a valid DNS name or IP address");
        let o = TlsOptions { server_name: Some("broker.example".into()), ..opts() };
        assert!(TlsSetup::new(&o, &Host::Ip([127, 0, 0, 1].into())).is_ok());
        let o = TlsOptions { server_name: Some("10.0.0.1".into()), ..opts() };
        assert!(TlsSetup::new(&o, &Host::Ip([127, 0, 0, 1].into())).is_ok());
    }

    #[test]
    fn refusals_read_as_reasons() {
        let name = "wrong.example";
        let e = |c| describe(&rustls::Error::InvalidCertificate(c), name);
        assert_eq!(e(CertificateError::UnknownIssuer), "TLS: certificate not trusted (unknown CA)");
        assert_eq!(
            e(CertificateError::NotValidForName),
            "TLS: certificate is for another host name (not wrong.example)"
        );
        assert_eq!(e(CertificateError::Expired), "TLS: certificate expired");
        let alert = describe(&rustls::Error::AlertReceived(AlertDescription::CertificateRequired), name);
        assert_eq!(alert, "TLS: the server requires a client certificate");
    }
}
