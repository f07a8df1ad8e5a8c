//! Inputs found by the fuzz targets in `fuzz/` (see fuzz/README.md), turned
//! into plain tests. An open bug is `#[ignore = "bug: ..."]`; run them with
//! `cargo test -p mqtt-core --test fuzz_regressions -- --include-ignored`.

use mqtt_core::codec::{decode, Packet, PacketType, QoS};
use mqtt_core::{Client, Config, Event, LinkAction, Storage};

fn client(config: &Config<'_>) -> Client<Vec<u8>> {
    let storage = Storage {
        inbound: vec![0; 4096],
        outbound: vec![0; 4096],
        inflight: vec![0; 4096],
        pending: vec![0; 96],
        ids: vec![0; mqtt_core::ALL_IDS_BYTES],
        connect: vec![0; config.connect_len().unwrap()],
        awaiting_pubrel: vec![0; 64],
    };
    Client::new(config, storage).unwrap()
}

fn drain(c: &mut Client<Vec<u8>>, now: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = c.poll_transmit().to_vec();
        if b.is_empty() {
            return out;
        }
        c.advance_transmit(now, b.len());
        out.extend(b);
    }
}

/// The packet types in `wire`, which must be well-formed whole packets
/// (a cut-off packet at the end is left out).
fn packet_types(wire: &[u8]) -> Vec<PacketType> {
    let mut rest = wire;
    let mut kinds = Vec::new();
    while let Some((p, n)) = decode(rest, usize::MAX).unwrap_or_else(|e| panic!("malformed {e:?} in {wire:02x?}")) {
        kinds.push(p.packet_type());
        rest = &rest[n..];
    }
    kinds
}

/// A CONNACK that arrives while the CONNECT is not yet (wholly) handed to
/// the socket, after `handed` bytes of it; then the application subscribes
/// and disconnects. Returns the CONNECT and what the client sent on the link.
fn early_connack(handed: usize) -> (Vec<u8>, Vec<u8>) {
    let config = Config::new("fuzz-client");
    let mut c = client(&config);
    let now = 1_000;
    c.connect(now).unwrap();
    assert_eq!(c.poll_action(), Some(LinkAction::Open));
    c.handle_link_up(now);
    let connect = c.poll_transmit().to_vec();
    assert_eq!(connect[0], 0x10);
    let mut wire = connect[..handed].to_vec();
    c.advance_transmit(now, handed);

    assert_eq!(c.handle_input(&[0x20, 2, 0, 0]), 4);
    let event = c.poll_event(now);
    if let Some(Event::Connected { .. }) = event {
        let _ = c.subscribe(&[("a/b", QoS::AtLeastOnce)]);
        c.disconnect(now);
    }
    wire.extend(drain(&mut c, now));
    (connect, wire)
}

/// Found by `fuzz/fuzz_targets/client.rs`, minimized input (hex)
/// `83 83 93 83 83 60 ff 04`: connect timeout, reconnect, link up, and a
/// CONNACK arrives before any byte of the new link's CONNECT has been taken
/// by the socket. The client takes it (`Event::Connected`), its link goes
/// `Up`, and `Source::Connect` is never chosen again: the first packet on
/// the link is DISCONNECT (or SUBSCRIBE, PUBLISH...) and no CONNECT is ever
/// sent, against [MQTT-3.1.0-1]. Either the rest of the CONNECT must still go
/// out first, or a CONNACK before the whole CONNECT is sent must be a
/// protocol violation that drops the link.
#[test]
fn early_connack_before_any_connect_byte_is_sent() {
    let (connect, wire) = early_connack(0);
    let kinds = packet_types(&wire);
    assert!(
        kinds.is_empty() || (kinds[0] == PacketType::Connect && wire.starts_with(&connect)),
        "first packet on the link must be the CONNECT; sent {kinds:?}: {wire:02x?}"
    );
}

/// The same with the CONNECT cut after 5 bytes (a socket that took part of
/// it): the client then sends a SUBSCRIBE in the middle of the CONNECT and
/// the stream the server sees is garbage.
#[test]
fn early_connack_mid_connect() {
    let (connect, wire) = early_connack(5);
    assert!(
        wire.len() <= 5 || wire.starts_with(&connect),
        "the CONNECT must go out whole before anything else: {wire:02x?}"
    );
    let kinds = packet_types(&wire);
    assert!(kinds.is_empty() || kinds[0] == PacketType::Connect, "{kinds:?}");
}

/// The normal order, for contrast: CONNECT wholly sent, then CONNACK.
#[test]
fn connack_after_the_whole_connect_is_fine() {
    let config = Config::new("fuzz-client");
    let mut c = client(&config);
    c.connect(1_000).unwrap();
    assert_eq!(c.poll_action(), Some(LinkAction::Open));
    c.handle_link_up(1_000);
    let mut wire = drain(&mut c, 1_000);
    c.handle_input(&[0x20, 2, 0, 0]);
    assert!(matches!(c.poll_event(1_000), Some(Event::Connected { .. })));
    c.subscribe(&[("a/b", QoS::AtLeastOnce)]).unwrap();
    c.disconnect(1_000);
    wire.extend(drain(&mut c, 1_000));
    assert_eq!(packet_types(&wire), [PacketType::Connect, PacketType::Subscribe, PacketType::Disconnect]);
    assert!(matches!(decode(&wire, usize::MAX), Ok(Some((Packet::Connect(_), _)))));
}
