//! Host checks at `open`, so a malformed host fails at once with a reason
//! instead of later with "cannot resolve".

use std::net::{IpAddr, Ipv6Addr};

use crate::error::DriverError;

/// The longest DNS name (RFC 1035).
pub const MAX_HOST_LEN: usize = 253;

/// What to connect to: an IP address, or a name to resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    Ip(IpAddr),
    Name(String),
}

pub(crate) fn parse_host(host: &str) -> Result<Host, DriverError> {
    let bad = |why| Err(DriverError::InvalidHost(why));
    if host.is_empty() {
        return bad("host must not be empty");
    }
    if host.len() > MAX_HOST_LEN {
        return bad("host is longer than 253 bytes");
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("host must not contain spaces or control characters");
    }
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']').and_then(|s| s.parse::<Ipv6Addr>().ok()) {
            Some(ip) => Ok(Host::Ip(IpAddr::V6(ip))),
            None => bad("host in brackets must be an IPv6 address, like [::1]"),
        };
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    if host.contains(':') {
        return bad("host must not include a port: pass the port separately");
    }
    if host.contains('/') || host.contains('@') {
        return bad("host must be a name or an address, not a URL");
    }
    if !host.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_')) {
        return bad("host may contain only letters, digits, '-', '.' and '_'");
    }
    Ok(Host::Name(host.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_hosts_are_refused_with_a_reason() {
        assert!(parse_host("127.0.0.1:1883").is_err());
        assert!(parse_host(" 127.0.0.1").is_err());
        assert!(parse_host("").is_err());
        assert!(parse_host(&"a".repeat(70_000)).is_err());
        assert!(parse_host("mqtt://x").is_err());
        assert!(parse_host("[nope]").is_err());
        assert_eq!(parse_host("[::1]"), Ok(Host::Ip("::1".parse().unwrap())));
        assert_eq!(parse_host("::1"), Ok(Host::Ip("::1".parse().unwrap())));
        assert_eq!(parse_host("broker.local"), Ok(Host::Name("broker.local".into())));
        assert_eq!(parse_host(&"a".repeat(253)), Ok(Host::Name("a".repeat(253))));
    }
}
