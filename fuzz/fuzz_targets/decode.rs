//! Arbitrary bytes through `codec::decode`, packet after packet.
//!
//! Beyond "never panics", every packet that decodes must:
//! - agree with `codec::frame` about its size;
//! - give `Ok(None)` (never an error) for a strict prefix of itself;
//! - re-encode (the one packet the encoder may refuse is a CONNECT with an
//!   empty client id and clean session 0: well-formed on the wire, refused by
//!   the client-side encoder), to exactly `encoded_len` bytes with the same
//!   first byte and body (the remaining length may be shorter: the wire may
//!   encode it with more bytes than needed);
//! - decode again from those bytes to an equal packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_core::codec::{decode, frame, EncodeError, Packet, MAX_REMAINING_LENGTH};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the maximum packet size, so that `TooLarge` is
    // reached both ways.
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let max = match selector % 4 {
        0 => 8,
        1 => 64,
        2 => 1 << 12,
        _ => MAX_REMAINING_LENGTH + 5,
    };
    let mut out = vec![0u8; 1 << 12];
    while !rest.is_empty() {
        match decode(rest, max) {
            Ok(None) => break,
            // A stream is dead after an error; go on one byte further to
            // reach more packets with the rest of the input.
            Err(_) => rest = &rest[1..],
            Ok(Some((packet, used))) => {
                check(&packet, &rest[..used], max, &mut out);
                rest = &rest[used..];
            }
        }
    }
});

fn check(packet: &Packet<'_>, wire: &[u8], max: usize, out: &mut Vec<u8>) {
    let used = wire.len();
    assert!(used >= 2 && used <= max, "size {used} against max {max}");

    let f = frame(wire, max).expect("frame of a decoded packet").expect("whole header");
    assert_eq!(f.total_len, used);
    assert_eq!(f.packet_type, packet.packet_type());

    // Strict prefixes are incomplete, not errors.
    for k in [0, 1, f.header_len, used - 1] {
        if k < used {
            assert_eq!(decode(&wire[..k], max), Ok(None), "prefix {k} of {wire:02x?}");
        }
    }

    let len = match packet.encoded_len() {
        Ok(len) => len,
        Err(EncodeError::EmptyClientIdNeedsCleanSession) => {
            let Packet::Connect(c) = packet else { panic!("{packet:?}") };
            assert!(c.client_id.is_empty() && !c.clean_session);
            return;
        }
        Err(e) => panic!("decoded packet does not re-encode: {e:?}: {packet:?} from {wire:02x?}"),
    };
    assert!(len <= used, "re-encoded {len} > wire {used}");
    if out.len() < len {
        out.resize(len, 0);
    }
    assert_eq!(packet.encode(&mut out[..len - 1]), Err(EncodeError::BufferTooSmall { needed: len }), "one byte short");
    let written = packet.encode(&mut out[..]).expect("encode after encoded_len");
    assert_eq!(written, len);
    let again = &out[..len];

    // Same first byte, same body; only the remaining length's encoding may differ.
    let body = &wire[f.header_len..];
    let header_len = len - body.len();
    assert_eq!(again[0], wire[0], "first byte");
    assert_eq!(&again[header_len..], body, "body of {packet:?}");

    match decode(again, usize::MAX) {
        Ok(Some((p, n))) => {
            assert_eq!(n, len);
            assert_eq!(&p, packet, "round trip");
        }
        other => panic!("re-encoded packet does not decode: {other:?} from {again:02x?}"),
    }
}
