//! Hand-derived byte vectors for all 14 MQTT 3.1.1 control packets, valid and
//! malformed, checked against the codec in both directions.
//!
//! Every vector was written from the standard (mqtt-v3.1.1-os), section cited
//! in a comment. Tests that check one normative statement are named after it
//! (`mqtt_3_1_2_22_...` checks [MQTT-3.1.2-22]) so `cargo test mqtt_3_1_2_22`
//! finds them.

use mqtt_core::codec::{
    decode, frame, ConnAck, Connect, ConnectReturnCode, DecodeError, EncodeError, Packet, Publish, QoS, SubAck,
    SubAckCode, Subscribe, SubscribeFilters, Unsubscribe, UnsubscribeFilters, Will, MAX_REMAINING_LENGTH,
};

/// No size limit for tests that are not about the size limit.
const NO_LIMIT: usize = usize::MAX;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The remaining-length encoding of 2.2.3, written independently of the crate.
fn rl(mut len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            return out;
        }
    }
}

/// A packet from its first byte and body; the remaining length is computed.
fn pkt(first: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![first];
    v.extend(rl(body.len()));
    v.extend_from_slice(body);
    v
}

/// A UTF-8 string / binary field: two-byte big-endian length, then bytes (1.5.3).
fn field(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// CONNECT variable header (3.1.2): protocol name "MQTT", level 4, the given
/// flags, keep alive 60 (0x003C).
fn connect_vh(flags: u8) -> Vec<u8> {
    vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, flags, 0x00, 0x3C]
}

/// A CONNECT with the given flags and payload.
fn connect_pkt(flags: u8, payload: &[u8]) -> Vec<u8> {
    pkt(0x10, &cat(&[&connect_vh(flags), payload]))
}

fn encode_vec(p: &Packet<'_>) -> Vec<u8> {
    let len = p.encoded_len().unwrap_or_else(|e| panic!("encoded_len of {p:?}: {e:?}"));
    let mut buf = vec![0u8; len];
    assert_eq!(p.encode(&mut buf), Ok(len), "encode of {p:?}");
    buf
}

/// `bytes` decodes to `expected` using all of them; `expected` encodes to
/// exactly `bytes`; every proper prefix is incomplete (Ok(None)); trailing
/// bytes after the packet are left alone.
#[track_caller]
fn assert_wire(bytes: &[u8], expected: Packet<'_>) {
    match decode(bytes, NO_LIMIT) {
        Ok(Some((p, used))) => {
            assert_eq!(p, expected, "decoded packet");
            assert_eq!(used, bytes.len(), "bytes used");
        }
        other => panic!("decode {bytes:02X?}: expected {expected:?}, got {other:?}"),
    }
    assert_eq!(expected.encoded_len(), Ok(bytes.len()), "encoded_len");
    assert_eq!(encode_vec(&expected), bytes, "encoded bytes");
    assert_prefixes_incomplete(bytes);
    let mut longer = bytes.to_vec();
    longer.extend_from_slice(&[0xE0, 0x00, 0xFF]);
    match decode(&longer, NO_LIMIT) {
        Ok(Some((p, used))) => {
            assert_eq!(p, expected);
            assert_eq!(used, bytes.len());
        }
        other => panic!("decode with trailing bytes: {other:?}"),
    }
}

#[track_caller]
fn assert_prefixes_incomplete(bytes: &[u8]) {
    for n in 0..bytes.len() {
        assert_eq!(decode(&bytes[..n], NO_LIMIT), Ok(None), "prefix of {n} bytes of {bytes:02X?}");
    }
}

#[track_caller]
fn decode_err(bytes: &[u8]) -> DecodeError {
    match decode(bytes, NO_LIMIT) {
        Err(e) => e,
        other => panic!("decode {bytes:02X?}: expected an error, got {other:?}"),
    }
}

#[track_caller]
fn encode_err(p: Packet<'_>) -> EncodeError {
    let e = p.encoded_len().expect_err("encoded_len should refuse");
    let mut buf = [0xAAu8; 256];
    assert_eq!(p.encode(&mut buf), Err(e), "encode and encoded_len agree");
    assert!(buf.iter().all(|&b| b == 0xAA), "nothing written on error");
    e
}

fn publish<'a>(qos: QoS, topic: &'a str, packet_id: Option<u16>, payload: &'a [u8]) -> Publish<'a> {
    Publish { dup: false, qos, retain: false, topic, packet_id, payload }
}

fn minimal_connect(client_id: &str) -> Connect<'_> {
    Connect { clean_session: true, keep_alive: 60, client_id, will: None, username: None, password: None }
}

/// The flags byte of an encoded CONNECT (offset 9: header 2, name 6, level 1).
fn encoded_connect_flags(c: Connect<'_>) -> u8 {
    let bytes = encode_vec(&Packet::Connect(c));
    assert!(bytes.len() < 130, "test helper assumes a one-byte remaining length");
    bytes[9]
}

/// One valid instance of every packet type, with its hand-derived bytes.
fn all_valid_vectors() -> Vec<(Vec<u8>, Packet<'static>)> {
    static SUB: [(&str, QoS); 2] = [("a/b", QoS::AtLeastOnce), ("c/d", QoS::ExactlyOnce)];
    static UNSUB: [&str; 2] = ["a/b", "c/d"];
    vec![
        // 3.1: minimal CONNECT, clean session, keep alive 60, client id "c".
        (
            vec![0x10, 0x0D, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, b'c'],
            Packet::Connect(minimal_connect("c")),
        ),
        // 3.2
        (
            vec![0x20, 0x02, 0x00, 0x00],
            Packet::ConnAck(ConnAck { session_present: false, code: ConnectReturnCode::Accepted }),
        ),
        // 3.3, Table 3.3: topic "a/b", packet id 10, QoS 1, payload "hi".
        (
            vec![0x32, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'h', b'i'],
            Packet::Publish(publish(QoS::AtLeastOnce, "a/b", Some(10), b"hi")),
        ),
        // 3.4 - 3.7
        (vec![0x40, 0x02, 0x00, 0x0A], Packet::PubAck(10)),
        (vec![0x50, 0x02, 0x00, 0x0A], Packet::PubRec(10)),
        (vec![0x62, 0x02, 0x00, 0x0A], Packet::PubRel(10)),
        (vec![0x70, 0x02, 0x00, 0x0A], Packet::PubComp(10)),
        // 3.8, Figure 3.21 / Figure 3.23.
        (
            vec![0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x01, 0x00, 0x03, b'c', b'/', b'd', 0x02],
            Packet::Subscribe(Subscribe { packet_id: 10, filters: SubscribeFilters::List(&SUB) }),
        ),
        // 3.9, Figure 3.27: codes 0, 2, 0x80.
        (
            vec![0x90, 0x05, 0x00, 0x0A, 0x00, 0x02, 0x80],
            Packet::SubAck(SubAck { packet_id: 10, return_codes: &[0x00, 0x02, 0x80] }),
        ),
        // 3.10, Figure 3.30.
        (
            vec![0xA2, 0x0C, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x03, b'c', b'/', b'd'],
            Packet::Unsubscribe(Unsubscribe { packet_id: 10, filters: UnsubscribeFilters::List(&UNSUB) }),
        ),
        // 3.11 - 3.14
        (vec![0xB0, 0x02, 0x00, 0x0A], Packet::UnsubAck(10)),
        (vec![0xC0, 0x00], Packet::PingReq),
        (vec![0xD0, 0x00], Packet::PingResp),
        (vec![0xE0, 0x00], Packet::Disconnect),
    ]
}

// ---------------------------------------------------------------------------
// Valid packets, one or more per type
// ---------------------------------------------------------------------------

#[test]
fn every_packet_type_round_trips_through_its_hand_derived_bytes() {
    let vectors = all_valid_vectors();
    assert_eq!(vectors.len(), 14);
    for (bytes, packet) in vectors {
        assert_wire(&bytes, packet);
    }
}

/// 3.1, Figure 3.6 flags 0xCE (user name, password, will QoS 1, will, clean
/// session) with keep alive 10; payload per 3.1.3.
#[test]
fn connect_full_figure_3_6() {
    let bytes = [
        0x10, 0x23, // fixed header, remaining length 35
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xCE, 0x00, 0x0A, // variable header
        0x00, 0x03, b'c', b'i', b'd', // client id
        0x00, 0x03, b'w', b'/', b't', // will topic
        0x00, 0x03, b'b', b'y', b'e', // will message
        0x00, 0x04, b'u', b's', b'e', b'r', // user name
        0x00, 0x02, b'p', b'w', // password
    ];
    let c = Connect {
        clean_session: true,
        keep_alive: 10,
        client_id: "cid",
        will: Some(Will { topic: "w/t", message: b"bye", qos: QoS::AtLeastOnce, retain: false }),
        username: Some("user"),
        password: Some(b"pw"),
    };
    assert_wire(&bytes, Packet::Connect(c));
}

/// 3.1.2.5-3.1.2.7: will QoS 2 (bits 4-3 = 10), will retain (bit 5), will flag,
/// no clean session: 0x20 | 0x10 | 0x04 = 0x34. Empty will message (binary).
#[test]
fn connect_will_qos2_retain_without_clean_session() {
    let bytes = cat(&[
        &[0x10, 0x13],
        &[0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x34, 0x00, 0x00],
        &[0x00, 0x02, b'i', b'd'],
        &[0x00, 0x01, b'w'],
        &[0x00, 0x00],
    ]);
    let c = Connect {
        clean_session: false,
        keep_alive: 0,
        client_id: "id",
        will: Some(Will { topic: "w", message: b"", qos: QoS::ExactlyOnce, retain: true }),
        username: None,
        password: None,
    };
    assert_wire(&bytes, Packet::Connect(c));
}

/// 3.1.3.1: a zero-byte client id with clean session is allowed; user name
/// without password (flags 0x82).
#[test]
fn connect_empty_client_id_with_user_name_only() {
    let bytes = cat(&[
        &[0x10, 0x11],
        &[0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x82, 0xFF, 0xFF],
        &[0x00, 0x00],
        &[0x00, 0x03, b'b', b'o', b'b'],
    ]);
    let c = Connect { keep_alive: 0xFFFF, username: Some("bob"), ..minimal_connect("") };
    assert_wire(&bytes, Packet::Connect(c));
}

/// 3.1.2.10: keep alive is a 16-bit big-endian word (Figure 3.5).
#[test]
fn connect_keep_alive_is_big_endian() {
    let c = Connect { keep_alive: 0x1234, ..minimal_connect("c") };
    let bytes = encode_vec(&Packet::Connect(c));
    assert_eq!(&bytes[10..12], &[0x12, 0x34]);
    assert_wire(&bytes, Packet::Connect(c));
}

/// 3.2.2.2 / Table 3.1: session present, and every return code 0..=5.
#[test]
fn connack_all_return_codes_and_session_present() {
    use ConnectReturnCode::*;
    let codes = [
        Accepted,
        UnacceptableProtocolVersion,
        IdentifierRejected,
        ServerUnavailable,
        BadUserNameOrPassword,
        NotAuthorized,
    ];
    for (i, code) in codes.into_iter().enumerate() {
        assert_wire(&[0x20, 0x02, 0x00, i as u8], Packet::ConnAck(ConnAck { session_present: false, code }));
    }
    assert_wire(&[0x20, 0x02, 0x01, 0x00], Packet::ConnAck(ConnAck { session_present: true, code: Accepted }));
}

/// 3.3.1: QoS 0 has no packet identifier; retain is bit 0.
#[test]
fn publish_qos0_retain() {
    let bytes = [0x31, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'];
    let p = Publish { retain: true, ..publish(QoS::AtMostOnce, "a/b", None, b"hi") };
    assert_wire(&bytes, Packet::Publish(p));
}

/// 3.3.1: DUP (bit 3), QoS 2 (bits 2-1 = 10), retain: 0x3D; empty payload
/// (3.3.3 allows zero length); packet id 0xFFFF.
#[test]
fn publish_qos2_dup_retain_empty_payload() {
    let bytes = [0x3D, 0x07, 0x00, 0x03, b'a', b'/', b'b', 0xFF, 0xFF];
    let p = Publish { dup: true, retain: true, ..publish(QoS::ExactlyOnce, "a/b", Some(0xFFFF), b"") };
    assert_wire(&bytes, Packet::Publish(p));
}

/// 1.5.3: multi-byte UTF-8 topic; the length prefix counts bytes, not chars.
#[test]
fn publish_multibyte_topic() {
    // "ü/€" = C3 BC 2F E2 82 AC (6 bytes)
    let bytes = [0x30, 0x09, 0x00, 0x06, 0xC3, 0xBC, 0x2F, 0xE2, 0x82, 0xAC, 0x00];
    assert_wire(&bytes, Packet::Publish(publish(QoS::AtMostOnce, "ü/€", None, &[0x00])));
}

/// 3.9.3: every allowed SUBACK code, decoded through `codes()`.
#[test]
fn suback_all_allowed_codes() {
    let bytes = [0x90, 0x06, 0x12, 0x34, 0x00, 0x01, 0x02, 0x80];
    let s = SubAck { packet_id: 0x1234, return_codes: &[0, 1, 2, 0x80] };
    assert_wire(&bytes, Packet::SubAck(s));
    let decoded = decode(&bytes, NO_LIMIT).unwrap().unwrap().0;
    let Packet::SubAck(d) = decoded else { panic!() };
    let codes: Vec<_> = d.codes().collect();
    assert_eq!(
        codes,
        [
            SubAckCode::Granted(QoS::AtMostOnce),
            SubAckCode::Granted(QoS::AtLeastOnce),
            SubAckCode::Granted(QoS::ExactlyOnce),
            SubAckCode::Failure
        ]
    );
}

/// 3.8.3: a decoded SUBSCRIBE lists its filters in wire order with their QoS;
/// wildcard filters (4.7.1) are accepted.
#[test]
fn subscribe_decoded_filters_iterate_in_order() {
    let bytes =
        cat(&[&[0x82, 0x0E, 0x00, 0x01], &[0x00, 0x01, b'#', 0x00], &[0x00, 0x05, b'+', b'/', b'x', b'/', b'#', 0x02]]);
    let Ok(Some((Packet::Subscribe(s), 16))) = decode(&bytes, NO_LIMIT) else { panic!() };
    assert_eq!(s.packet_id, 1);
    assert_eq!(s.filters.len(), 2);
    let f: Vec<_> = s.filters.iter().collect();
    assert_eq!(f, [("#", QoS::AtMostOnce), ("+/x/#", QoS::ExactlyOnce)]);
}

#[test]
fn unsubscribe_decoded_filters_iterate_in_order() {
    let bytes = [0xA2, 0x08, 0x00, 0x07, 0x00, 0x01, b'+', 0x00, 0x01, b'#'];
    let Ok(Some((Packet::Unsubscribe(u), 10))) = decode(&bytes, NO_LIMIT) else { panic!() };
    assert_eq!(u.packet_id, 7);
    assert_eq!(u.filters.iter().collect::<Vec<_>>(), ["+", "#"]);
    assert!(!u.filters.is_empty());
}

#[test]
fn decode_takes_only_the_first_of_several_packets() {
    let bytes = [0xC0, 0x00, 0x40, 0x02, 0x00, 0x01];
    assert_eq!(decode(&bytes, NO_LIMIT), Ok(Some((Packet::PingReq, 2))));
    assert_eq!(decode(&bytes[2..], NO_LIMIT), Ok(Some((Packet::PubAck(1), 4))));
}

// ---------------------------------------------------------------------------
// Fixed header (2.2)
// ---------------------------------------------------------------------------

/// Table 2.1: packet types 0 and 15 are reserved.
#[test]
fn table_2_1_packet_types_0_and_15_are_refused() {
    for first in [0x00u8, 0x01, 0x0F] {
        assert_eq!(decode(&[first], NO_LIMIT), Err(DecodeError::InvalidPacketType(0)));
        assert_eq!(decode(&[first, 0x00], NO_LIMIT), Err(DecodeError::InvalidPacketType(0)));
    }
    for first in [0xF0u8, 0xF2, 0xFF] {
        assert_eq!(decode(&[first], NO_LIMIT), Err(DecodeError::InvalidPacketType(15)));
        assert_eq!(decode(&[first, 0x00], NO_LIMIT), Err(DecodeError::InvalidPacketType(15)));
    }
    assert_eq!(frame(&[0xF0], NO_LIMIT), Err(DecodeError::InvalidPacketType(15)));
}

/// The encoder writes the flag bits of Table 2.2 for every type.
#[test]
fn mqtt_2_2_2_1_encoder_writes_table_2_2_flags() {
    for (bytes, packet) in all_valid_vectors() {
        let first = encode_vec(&packet)[0];
        let expected = match first >> 4 {
            3 => first, // PUBLISH: flags carry DUP/QoS/RETAIN
            6 | 8 | 10 => (first & 0xF0) | 0b0010,
            _ => first & 0xF0,
        };
        assert_eq!(first, expected, "{packet:?}");
        assert_eq!(first, bytes[0]);
    }
}

/// Every wrong low nibble for packet type `ty` is refused as soon as the first
/// byte is in, and also in an otherwise valid packet.
#[track_caller]
fn assert_reserved_flags_enforced(ty: u8, body: &[u8]) {
    let required = if matches!(ty, 6 | 8 | 10) { 0b0010 } else { 0 };
    let good = pkt((ty << 4) | required, body);
    assert!(matches!(decode(&good, NO_LIMIT), Ok(Some(_))), "{good:02X?} should be valid");
    for flags in 0u8..16 {
        if flags == required {
            continue;
        }
        let first = (ty << 4) | flags;
        assert_eq!(decode(&[first], NO_LIMIT), Err(DecodeError::InvalidFlags), "first byte {first:02X}");
        assert_eq!(frame(&[first], NO_LIMIT), Err(DecodeError::InvalidFlags), "first byte {first:02X}");
        assert_eq!(decode(&pkt(first, body), NO_LIMIT), Err(DecodeError::InvalidFlags), "first byte {first:02X}");
    }
}

// 3.1.1: CONNECT flags 0000.
#[test]
fn mqtt_2_2_2_2_connect_reserved_flags() {
    assert_reserved_flags_enforced(1, &cat(&[&connect_vh(0x02), &field(b"c")]));
}

// 3.2.1: CONNACK flags 0000.
#[test]
fn mqtt_2_2_2_2_connack_reserved_flags() {
    assert_reserved_flags_enforced(2, &[0x00, 0x00]);
}

// 3.4.1: PUBACK flags 0000.
#[test]
fn mqtt_2_2_2_2_puback_reserved_flags() {
    assert_reserved_flags_enforced(4, &[0x00, 0x0A]);
}

// 3.5.1: PUBREC flags 0000.
#[test]
fn mqtt_2_2_2_2_pubrec_reserved_flags() {
    assert_reserved_flags_enforced(5, &[0x00, 0x0A]);
}

// 3.6.1: PUBREL flags 0010.
#[test]
fn mqtt_2_2_2_2_mqtt_3_6_1_1_pubrel_flags_must_be_0010() {
    assert_reserved_flags_enforced(6, &[0x00, 0x0A]);
}

// 3.7.1: PUBCOMP flags 0000.
#[test]
fn mqtt_2_2_2_2_pubcomp_reserved_flags() {
    assert_reserved_flags_enforced(7, &[0x00, 0x0A]);
}

// 3.8.1: SUBSCRIBE flags 0010.
#[test]
fn mqtt_2_2_2_2_mqtt_3_8_1_1_subscribe_flags_must_be_0010() {
    assert_reserved_flags_enforced(8, &[0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x01]);
}

// 3.9.1: SUBACK flags 0000.
#[test]
fn mqtt_2_2_2_2_suback_reserved_flags() {
    assert_reserved_flags_enforced(9, &[0x00, 0x0A, 0x01]);
}

// 3.10.1: UNSUBSCRIBE flags 0010.
#[test]
fn mqtt_2_2_2_2_mqtt_3_10_1_1_unsubscribe_flags_must_be_0010() {
    assert_reserved_flags_enforced(10, &[0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b']);
}

// 3.11.1: UNSUBACK flags 0000.
#[test]
fn mqtt_2_2_2_2_unsuback_reserved_flags() {
    assert_reserved_flags_enforced(11, &[0x00, 0x0A]);
}

// 3.12.1: PINGREQ flags 0000.
#[test]
fn mqtt_2_2_2_2_pingreq_reserved_flags() {
    assert_reserved_flags_enforced(12, &[]);
}

// 3.13.1: PINGRESP flags 0000.
#[test]
fn mqtt_2_2_2_2_pingresp_reserved_flags() {
    assert_reserved_flags_enforced(13, &[]);
}

// 3.14.1: DISCONNECT flags 0000.
#[test]
fn mqtt_2_2_2_2_mqtt_3_14_1_1_disconnect_reserved_flags() {
    assert_reserved_flags_enforced(14, &[]);
}

/// 2.2.3: at most four remaining-length bytes; a fourth byte with the
/// continuation bit is refused without waiting for a fifth.
#[test]
fn remaining_length_longer_than_4_bytes_is_refused() {
    for first in [0x30u8, 0xC0, 0x10, 0x82] {
        let five = [first, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F];
        assert_eq!(decode(&five, NO_LIMIT), Err(DecodeError::RemainingLengthTooLong));
        assert_eq!(decode(&five[..5], NO_LIMIT), Err(DecodeError::RemainingLengthTooLong));
        let zero_in_five = [first, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(decode(&zero_in_five, NO_LIMIT), Err(DecodeError::RemainingLengthTooLong));
        assert_eq!(frame(&zero_in_five, NO_LIMIT), Err(DecodeError::RemainingLengthTooLong));
    }
    // Fewer continuation bytes are just incomplete.
    for n in 1..=4 {
        assert_eq!(decode(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F][..n], NO_LIMIT), Ok(None));
    }
}

/// The size limit is applied from the fixed header alone, before the body.
#[test]
fn too_large_is_refused_from_the_fixed_header_alone() {
    // 2.2.3: 0xFF 0x7F = 16383, so the packet is 3 + 16383 bytes.
    assert_eq!(decode(&[0x30, 0xFF, 0x7F], 1000), Err(DecodeError::TooLarge { size: 16_386, max: 1000 }));
    assert_eq!(frame(&[0x30, 0xFF, 0x7F], 1000), Err(DecodeError::TooLarge { size: 16_386, max: 1000 }));
    // 0x7F = 127: a 129-byte packet fits in 129, not in 128.
    assert_eq!(decode(&[0x30, 0x7F], 129), Ok(None));
    assert_eq!(decode(&[0x30, 0x7F], 128), Err(DecodeError::TooLarge { size: 129, max: 128 }));
    // The largest header (2.2.3 comment: FF FF FF 7F).
    assert_eq!(
        decode(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F], 1 << 20),
        Err(DecodeError::TooLarge { size: 268_435_460, max: 1 << 20 })
    );
    // A whole packet over the limit is refused too.
    assert_eq!(decode(&[0xC0, 0x00], 1), Err(DecodeError::TooLarge { size: 2, max: 1 }));
    assert_eq!(decode(&[0xC0, 0x00], 2), Ok(Some((Packet::PingReq, 2))));
    // With only the first byte the size is not known yet.
    assert_eq!(decode(&[0x30], 0), Ok(None));
    assert_eq!(decode(&[0x30, 0xFF], 0), Ok(None));
}

#[test]
fn every_prefix_of_every_valid_packet_is_incomplete() {
    for (bytes, _) in all_valid_vectors() {
        assert_prefixes_incomplete(&bytes);
        for n in 0..bytes.len() {
            // frame() is incomplete only until the header is in.
            let f = frame(&bytes[..n], NO_LIMIT).unwrap();
            assert_eq!(f.is_some(), n >= 2, "{bytes:02X?}[..{n}]");
        }
    }
}

// ---------------------------------------------------------------------------
// Remaining-length boundaries (2.2.3, Table 2.4)
// ---------------------------------------------------------------------------

/// A QoS 0 PUBLISH to "a" whose remaining length is `rem` (2 + 1 topic bytes
/// + payload): checks the header bytes, `encoded_len`, `frame`, and decodes.
#[track_caller]
fn assert_publish_remaining_length(rem: usize, header: &[u8]) {
    let payload: Vec<u8> = (0..rem - 3).map(|i| i as u8).collect();
    let p = Packet::Publish(publish(QoS::AtMostOnce, "a", None, &payload));
    let total = header.len() + rem;
    assert_eq!(p.encoded_len(), Ok(total));
    let bytes = encode_vec(&p);
    assert_eq!(&bytes[..header.len()], header, "remaining length {rem}");
    assert_eq!(&bytes[header.len()..header.len() + 3], &[0x00, 0x01, b'a']);
    assert_eq!(&bytes[header.len() + 3..], &payload[..]);
    let f = frame(header, NO_LIMIT).unwrap().unwrap();
    assert_eq!((f.header_len, f.total_len, f.flags), (header.len(), total, 0));
    assert_eq!(decode(header, NO_LIMIT), Ok(None));
    assert_eq!(decode(&bytes[..total - 1], NO_LIMIT), Ok(None));
    assert_eq!(decode(&bytes, NO_LIMIT), Ok(Some((p, total))));
    assert_eq!(decode(header, total - 1), Err(DecodeError::TooLarge { size: total, max: total - 1 }));
}

#[test]
fn remaining_length_0() {
    assert_wire(&[0xC0, 0x00], Packet::PingReq);
    let f = frame(&[0xE0, 0x00], NO_LIMIT).unwrap().unwrap();
    assert_eq!((f.header_len, f.total_len), (2, 2));
}

#[test]
fn remaining_length_127() {
    assert_publish_remaining_length(127, &[0x30, 0x7F]);
}

#[test]
fn remaining_length_128() {
    assert_publish_remaining_length(128, &[0x30, 0x80, 0x01]);
}

/// 2.2.3 comment: 321 is 0xC1 0x02.
#[test]
fn remaining_length_321_spec_example() {
    assert_publish_remaining_length(321, &[0x30, 0xC1, 0x02]);
}

#[test]
fn remaining_length_16383() {
    assert_publish_remaining_length(16_383, &[0x30, 0xFF, 0x7F]);
}

#[test]
fn remaining_length_16384() {
    assert_publish_remaining_length(16_384, &[0x30, 0x80, 0x80, 0x01]);
}

#[test]
fn remaining_length_2097151() {
    assert_publish_remaining_length(2_097_151, &[0x30, 0xFF, 0xFF, 0x7F]);
}

#[test]
fn remaining_length_2097152() {
    assert_publish_remaining_length(2_097_152, &[0x30, 0x80, 0x80, 0x80, 0x01]);
}

/// The largest remaining length: `encoded_len` and `frame` only. The payload is
/// a zeroed allocation that is never touched (so it costs no real memory).
#[test]
fn remaining_length_268435455() {
    assert_eq!(MAX_REMAINING_LENGTH, 268_435_455);
    let header = [0x30, 0xFF, 0xFF, 0xFF, 0x7F];
    let f = frame(&header, NO_LIMIT).unwrap().unwrap();
    assert_eq!((f.header_len, f.total_len), (5, 5 + MAX_REMAINING_LENGTH));
    assert_eq!(decode(&header, NO_LIMIT), Ok(None));

    let payload = vec![0u8; MAX_REMAINING_LENGTH - 3];
    let p = Packet::Publish(publish(QoS::AtMostOnce, "a", None, &payload));
    assert_eq!(p.encoded_len(), Ok(5 + MAX_REMAINING_LENGTH));
    let mut small = [0xAAu8; 16];
    assert_eq!(p.encode(&mut small), Err(EncodeError::BufferTooSmall { needed: 5 + MAX_REMAINING_LENGTH }));
    assert!(small.iter().all(|&b| b == 0xAA));

    // One byte more does not fit in four remaining-length bytes.
    let payload = vec![0u8; MAX_REMAINING_LENGTH - 2];
    let p = Packet::Publish(publish(QoS::AtMostOnce, "a", None, &payload));
    assert_eq!(encode_err(p), EncodeError::TooLarge);
}

// ---------------------------------------------------------------------------
// UTF-8 strings (1.5.3)
// ---------------------------------------------------------------------------

/// Ill-formed UTF-8 sequences, each 3 bytes long so the framing is the same.
const ILL_FORMED: [[u8; 3]; 6] = [
    [b'a', 0xFF, b'b'], // 0xFF never appears in UTF-8
    [b'a', 0x80, b'b'], // lone continuation byte
    [b'a', b'b', 0xC3], // truncated two-byte sequence
    [0xED, 0xA0, 0x80], // U+D800, a surrogate
    [b'a', 0xC0, 0xAF], // overlong '/'
    [0xF4, 0x90, 0x80], // start of a code point above U+10FFFF
];

/// A QoS 0 PUBLISH whose 3-byte topic is `topic`.
fn publish_with_topic(topic: &[u8]) -> Vec<u8> {
    pkt(0x30, &cat(&[&field(topic), b"x"]))
}

#[test]
fn mqtt_1_5_3_1_mqtt_3_3_2_1_ill_formed_utf8_topic_is_refused() {
    for bad in ILL_FORMED {
        assert_eq!(decode_err(&publish_with_topic(&bad)), DecodeError::InvalidUtf8, "{bad:02X?}");
    }
}

#[test]
fn mqtt_1_5_3_1_mqtt_3_1_3_4_ill_formed_utf8_client_id_is_refused() {
    for bad in ILL_FORMED {
        assert_eq!(decode_err(&connect_pkt(0x02, &field(&bad))), DecodeError::InvalidUtf8, "{bad:02X?}");
    }
}

#[test]
fn mqtt_1_5_3_1_mqtt_3_1_3_10_ill_formed_utf8_will_topic_is_refused() {
    for bad in ILL_FORMED {
        let payload = cat(&[&field(b"c"), &field(&bad), &field(b"m")]);
        assert_eq!(decode_err(&connect_pkt(0x06, &payload)), DecodeError::InvalidUtf8, "{bad:02X?}");
    }
}

#[test]
fn mqtt_1_5_3_1_mqtt_3_1_3_11_ill_formed_utf8_user_name_is_refused() {
    for bad in ILL_FORMED {
        let payload = cat(&[&field(b"c"), &field(&bad)]);
        assert_eq!(decode_err(&connect_pkt(0x82, &payload)), DecodeError::InvalidUtf8, "{bad:02X?}");
    }
    // The password is binary data (3.1.3.5): the same bytes are fine there.
    let payload = cat(&[&field(b"c"), &field(b"u"), &field(&ILL_FORMED[0])]);
    let bytes = connect_pkt(0xC2, &payload);
    let Ok(Some((Packet::Connect(c), _))) = decode(&bytes, NO_LIMIT) else { panic!() };
    assert_eq!(c.password, Some(&ILL_FORMED[0][..]));
}

#[test]
fn mqtt_1_5_3_1_mqtt_3_8_3_1_ill_formed_utf8_subscribe_filter_is_refused() {
    for bad in ILL_FORMED {
        let bytes = pkt(0x82, &cat(&[&[0x00, 0x01], &field(&bad), &[0x00]]));
        assert_eq!(decode_err(&bytes), DecodeError::InvalidUtf8, "{bad:02X?}");
    }
}

#[test]
fn mqtt_1_5_3_1_mqtt_3_10_3_1_ill_formed_utf8_unsubscribe_filter_is_refused() {
    for bad in ILL_FORMED {
        let bytes = pkt(0xA2, &cat(&[&[0x00, 0x01], &field(b"ok"), &field(&bad)]));
        assert_eq!(decode_err(&bytes), DecodeError::InvalidUtf8, "{bad:02X?}");
    }
}

#[test]
fn mqtt_1_5_3_2_null_character_is_refused_on_decode() {
    assert_eq!(decode_err(&publish_with_topic(b"a\0b")), DecodeError::NullCharacter);
    assert_eq!(decode_err(&connect_pkt(0x02, &field(b"c\0"))), DecodeError::NullCharacter);
    let will = cat(&[&field(b"c"), &field(b"\0"), &field(b"m")]);
    assert_eq!(decode_err(&connect_pkt(0x06, &will)), DecodeError::NullCharacter);
    let user = cat(&[&field(b"c"), &field(b"u\0")]);
    assert_eq!(decode_err(&connect_pkt(0x82, &user)), DecodeError::NullCharacter);
    let sub = pkt(0x82, &cat(&[&[0x00, 0x01], &field(b"a/\0"), &[0x00]]));
    assert_eq!(decode_err(&sub), DecodeError::NullCharacter);
    let unsub = pkt(0xA2, &cat(&[&[0x00, 0x01], &field(b"\0")]));
    assert_eq!(decode_err(&unsub), DecodeError::NullCharacter);
}

#[test]
fn mqtt_1_5_3_2_null_character_is_refused_on_encode() {
    assert_eq!(encode_err(Packet::Publish(publish(QoS::AtMostOnce, "a\0", None, b""))), EncodeError::NullCharacter);
    assert_eq!(encode_err(Packet::Connect(minimal_connect("c\0"))), EncodeError::NullCharacter);
    let c = Connect { username: Some("\0"), ..minimal_connect("c") };
    assert_eq!(encode_err(Packet::Connect(c)), EncodeError::NullCharacter);
    let w = Will { topic: "w\0", message: b"", qos: QoS::AtMostOnce, retain: false };
    let c = Connect { will: Some(w), ..minimal_connect("c") };
    assert_eq!(encode_err(Packet::Connect(c)), EncodeError::NullCharacter);
    let list = [("a\0", QoS::AtMostOnce)];
    let s = Subscribe { packet_id: 1, filters: SubscribeFilters::List(&list) };
    assert_eq!(encode_err(Packet::Subscribe(s)), EncodeError::NullCharacter);
    let list = ["\0"];
    let u = Unsubscribe { packet_id: 1, filters: UnsubscribeFilters::List(&list) };
    assert_eq!(encode_err(Packet::Unsubscribe(u)), EncodeError::NullCharacter);
    // Binary fields may hold 0x00.
    let c = Connect { username: Some("u"), password: Some(b"\0\0"), ..minimal_connect("c") };
    assert!(Packet::Connect(c).encoded_len().is_ok());
}

#[test]
fn mqtt_1_5_3_3_bom_in_topic_is_kept() {
    // EF BB BF 61 = "\u{FEFF}a"
    let bytes = [0x30, 0x07, 0x00, 0x04, 0xEF, 0xBB, 0xBF, b'a', b'p'];
    let expected = publish(QoS::AtMostOnce, "\u{FEFF}a", None, b"p");
    assert_wire(&bytes, Packet::Publish(expected));
    let Ok(Some((Packet::Publish(p), _))) = decode(&bytes, NO_LIMIT) else { panic!() };
    assert_eq!(p.topic.as_bytes(), &[0xEF, 0xBB, 0xBF, b'a']);
}

#[test]
fn mqtt_1_5_3_3_bom_in_client_id_and_filter_is_kept() {
    let bytes = connect_pkt(0x02, &field(&[0xEF, 0xBB, 0xBF]));
    let Ok(Some((Packet::Connect(c), _))) = decode(&bytes, NO_LIMIT) else { panic!() };
    assert_eq!(c.client_id, "\u{FEFF}");
    let bytes = pkt(0x82, &cat(&[&[0x00, 0x01], &field(&[0xEF, 0xBB, 0xBF, b'/', b'#']), &[0x01]]));
    let Ok(Some((Packet::Subscribe(s), _))) = decode(&bytes, NO_LIMIT) else { panic!() };
    assert_eq!(s.filters.iter().next(), Some(("\u{FEFF}/#", QoS::AtLeastOnce)));
}

// ---------------------------------------------------------------------------
// CONNECT (3.1)
// ---------------------------------------------------------------------------

/// 3.1.2.1 / 3.1.2.2: protocol name "MQTT", level 4. The encoder writes them;
/// anything else is refused.
#[test]
fn connect_protocol_name_and_level() {
    let bytes = encode_vec(&Packet::Connect(minimal_connect("c")));
    assert_eq!(&bytes[2..9], &[0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04]);
    let payload = field(b"c");
    let tail = cat(&[&[0x02, 0x00, 0x3C], &payload]);
    for head in [
        &[0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03][..], // MQTT 3.1
        &[0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05],                 // MQTT 5
        &[0x00, 0x04, b'M', b'Q', b'T', b'T', 0x03],
        &[0x00, 0x04, b'm', b'q', b't', b't', 0x04],
    ] {
        assert_eq!(decode_err(&pkt(0x10, &cat(&[head, &tail]))), DecodeError::InvalidProtocol, "{head:02X?}");
    }
}

#[test]
fn mqtt_3_1_2_3_reserved_connect_flag_is_refused() {
    for flags in [0x01u8, 0x03, 0xC3] {
        let payload = cat(&[&field(b"c"), &field(b"u"), &field(b"p")]);
        assert_eq!(decode_err(&connect_pkt(flags, &payload)), DecodeError::InvalidConnectFlags, "{flags:02X}");
    }
}

#[test]
fn mqtt_3_1_2_3_encoder_never_sets_the_reserved_flag() {
    for c in connect_variants() {
        assert_eq!(encoded_connect_flags(c) & 0x01, 0, "{c:?}");
    }
}

/// Connects with every combination of will / user name / password / clean session.
fn connect_variants() -> Vec<Connect<'static>> {
    let mut v = Vec::new();
    for clean in [false, true] {
        for will in [
            None,
            Some(Will { topic: "w", message: b"m", qos: QoS::AtMostOnce, retain: false }),
            Some(Will { topic: "w", message: b"m", qos: QoS::AtLeastOnce, retain: true }),
            Some(Will { topic: "w", message: b"", qos: QoS::ExactlyOnce, retain: false }),
        ] {
            for (username, password) in [(None, None), (Some("u"), None), (Some("u"), Some(&b"p"[..]))] {
                v.push(Connect { clean_session: clean, keep_alive: 5, client_id: "c", will, username, password });
            }
        }
    }
    v
}

/// Will flag without a will topic and message in the payload.
#[test]
fn mqtt_3_1_2_9_will_flag_requires_will_topic_and_message() {
    assert_eq!(decode_err(&connect_pkt(0x06, &field(b"c"))), DecodeError::LengthMismatch);
    let topic_only = cat(&[&field(b"c"), &field(b"w")]);
    assert_eq!(decode_err(&connect_pkt(0x06, &topic_only)), DecodeError::LengthMismatch);
    // The encoder puts them right after the client id.
    let w = Will { topic: "w", message: b"m", qos: QoS::AtMostOnce, retain: false };
    let bytes = encode_vec(&Packet::Connect(Connect { will: Some(w), ..minimal_connect("c") }));
    assert_eq!(bytes[9] & 0x04, 0x04);
    assert_eq!(&bytes[12..], &cat(&[&field(b"c"), &field(b"w"), &field(b"m")])[..]);
}

#[test]
fn mqtt_3_1_2_11_will_qos_and_retain_need_the_will_flag() {
    // Flags: will retain 0x20, will QoS 1 0x08, clean session 0x02, no will flag.
    for flags in [0x2Au8, 0x0A, 0x22, 0x32] {
        assert_eq!(decode_err(&connect_pkt(flags, &field(b"c"))), DecodeError::InvalidConnectFlags, "{flags:02X}");
    }
    for c in connect_variants().into_iter().filter(|c| c.will.is_none()) {
        assert_eq!(encoded_connect_flags(c) & 0x3C, 0, "{c:?}");
    }
    // Will fields absent in the payload without a will.
    let bytes = encode_vec(&Packet::Connect(minimal_connect("c")));
    assert_eq!(&bytes[12..], &field(b"c")[..]);
}

#[test]
fn mqtt_3_1_2_13_will_qos_must_be_0_without_will_flag() {
    for flags in [0x0Au8, 0x12, 0x1A] {
        assert_eq!(decode_err(&connect_pkt(flags, &field(b"c"))), DecodeError::InvalidConnectFlags, "{flags:02X}");
    }
    for c in connect_variants().into_iter().filter(|c| c.will.is_none()) {
        assert_eq!(encoded_connect_flags(c) & 0x18, 0, "{c:?}");
    }
    // With the will flag the QoS is written in bits 4-3.
    for (qos, bits) in [(QoS::AtMostOnce, 0x00), (QoS::AtLeastOnce, 0x08), (QoS::ExactlyOnce, 0x10)] {
        let w = Will { topic: "w", message: b"", qos, retain: false };
        let flags = encoded_connect_flags(Connect { will: Some(w), ..minimal_connect("c") });
        assert_eq!(flags, 0x02 | 0x04 | bits);
    }
}

#[test]
fn mqtt_3_1_2_14_will_qos_3_is_refused() {
    let payload = cat(&[&field(b"c"), &field(b"w"), &field(b"m")]);
    // Will flag 0x04 | will QoS 3 0x18 | clean session 0x02.
    assert_eq!(decode_err(&connect_pkt(0x1E, &payload)), DecodeError::InvalidQoS);
}

#[test]
fn mqtt_3_1_2_15_will_retain_must_be_0_without_will_flag() {
    assert_eq!(decode_err(&connect_pkt(0x22, &field(b"c"))), DecodeError::InvalidConnectFlags);
    for c in connect_variants().into_iter().filter(|c| c.will.is_none()) {
        assert_eq!(encoded_connect_flags(c) & 0x20, 0, "{c:?}");
    }
    let w = Will { topic: "w", message: b"", qos: QoS::AtMostOnce, retain: true };
    assert_eq!(encoded_connect_flags(Connect { will: Some(w), ..minimal_connect("c") }), 0x26);
}

#[test]
fn mqtt_3_1_2_18_no_user_name_without_the_flag() {
    // Flags 0x02 but a user name follows: the remaining length disagrees.
    let payload = cat(&[&field(b"c"), &field(b"u")]);
    assert_eq!(decode_err(&connect_pkt(0x02, &payload)), DecodeError::LengthMismatch);
    for c in connect_variants().into_iter().filter(|c| c.username.is_none()) {
        assert_eq!(encoded_connect_flags(c) & 0x80, 0, "{c:?}");
    }
}

#[test]
fn mqtt_3_1_2_19_user_name_flag_requires_a_user_name() {
    assert_eq!(decode_err(&connect_pkt(0x82, &field(b"c"))), DecodeError::LengthMismatch);
    let c = Connect { username: Some("user"), ..minimal_connect("c") };
    let bytes = encode_vec(&Packet::Connect(c));
    assert_eq!(bytes[9], 0x82);
    assert_eq!(&bytes[12..], &cat(&[&field(b"c"), &field(b"user")])[..]);
}

#[test]
fn mqtt_3_1_2_20_no_password_without_the_flag() {
    let payload = cat(&[&field(b"c"), &field(b"u"), &field(b"p")]);
    assert_eq!(decode_err(&connect_pkt(0x82, &payload)), DecodeError::LengthMismatch);
    for c in connect_variants().into_iter().filter(|c| c.password.is_none()) {
        assert_eq!(encoded_connect_flags(c) & 0x40, 0, "{c:?}");
    }
}

#[test]
fn mqtt_3_1_2_21_password_flag_requires_a_password() {
    let payload = cat(&[&field(b"c"), &field(b"u")]);
    assert_eq!(decode_err(&connect_pkt(0xC2, &payload)), DecodeError::LengthMismatch);
    let c = Connect { username: Some("u"), password: Some(b"secret"), ..minimal_connect("c") };
    let bytes = encode_vec(&Packet::Connect(c));
    assert_eq!(bytes[9], 0xC2);
    assert_eq!(&bytes[12..], &cat(&[&field(b"c"), &field(b"u"), &field(b"secret")])[..]);
}

#[test]
fn mqtt_3_1_2_22_password_needs_username() {
    // Password flag 0x40 without user name flag 0x80.
    let payload = cat(&[&field(b"c"), &field(b"p")]);
    assert_eq!(decode_err(&connect_pkt(0x42, &payload)), DecodeError::InvalidConnectFlags);
    let c = Connect { password: Some(b"p"), ..minimal_connect("c") };
    assert_eq!(encode_err(Packet::Connect(c)), EncodeError::PasswordWithoutUsername);
}

/// 3.1.3: client id, will topic, will message, user name, password.
#[test]
fn mqtt_3_1_3_1_payload_order() {
    let c = Connect {
        clean_session: true,
        keep_alive: 1,
        client_id: "C",
        will: Some(Will { topic: "T", message: b"M", qos: QoS::AtMostOnce, retain: false }),
        username: Some("U"),
        password: Some(b"P"),
    };
    let bytes = encode_vec(&Packet::Connect(c));
    let expected = cat(&[
        &[0x10, 0x19, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xC6, 0x00, 0x01],
        &[0x00, 0x01, b'C', 0x00, 0x01, b'T', 0x00, 0x01, b'M', 0x00, 0x01, b'U', 0x00, 0x01, b'P'],
    ]);
    assert_eq!(bytes, expected);
    assert_wire(&expected, Packet::Connect(c));
}

#[test]
fn mqtt_3_1_3_3_client_id_is_the_first_payload_field() {
    for c in connect_variants() {
        let bytes = encode_vec(&Packet::Connect(c));
        assert_eq!(&bytes[12..15], &[0x00, 0x01, b'c'], "{c:?}");
    }
}

#[test]
fn mqtt_3_1_3_7_empty_client_id_needs_clean_session() {
    let c = Connect { clean_session: false, ..minimal_connect("") };
    assert_eq!(encode_err(Packet::Connect(c)), EncodeError::EmptyClientIdNeedsCleanSession);
    let c = Connect { clean_session: true, ..minimal_connect("") };
    assert_wire(
        &[0x10, 0x0C, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00],
        Packet::Connect(c),
    );
}

/// [MQTT-3.3.2-2] via the will: a will topic is a topic name (3.1.3.2).
#[test]
fn connect_will_topic_must_be_a_valid_topic_name() {
    for topic in ["a/+", "#", ""] {
        let w = Will { topic, message: b"", qos: QoS::AtMostOnce, retain: false };
        let c = Connect { will: Some(w), ..minimal_connect("c") };
        assert_eq!(encode_err(Packet::Connect(c)), EncodeError::InvalidTopic, "{topic:?}");
        let payload = cat(&[&field(b"c"), &field(topic.as_bytes()), &field(b"")]);
        assert_eq!(decode_err(&connect_pkt(0x06, &payload)), DecodeError::InvalidTopic, "{topic:?}");
    }
}

#[test]
fn connect_fields_longer_than_65535_bytes_are_refused() {
    let long = "x".repeat(65_536);
    assert_eq!(encode_err(Packet::Connect(minimal_connect(&long))), EncodeError::FieldTooLong);
    let c = Connect { username: Some(&long), ..minimal_connect("c") };
    assert_eq!(encode_err(Packet::Connect(c)), EncodeError::FieldTooLong);
    let c = Connect { username: Some("u"), password: Some(long.as_bytes()), ..minimal_connect("c") };
    assert_eq!(encode_err(Packet::Connect(c)), EncodeError::FieldTooLong);
    let w = Will { topic: "w", message: long.as_bytes(), qos: QoS::AtMostOnce, retain: false };
    let c = Connect { will: Some(w), ..minimal_connect("c") };
    assert_eq!(encode_err(Packet::Connect(c)), EncodeError::FieldTooLong);
    // 65,535 is the largest that fits.
    let max = "x".repeat(65_535);
    let bytes = encode_vec(&Packet::Connect(minimal_connect(&max)));
    assert_eq!(decode(&bytes, NO_LIMIT), Ok(Some((Packet::Connect(minimal_connect(&max)), bytes.len()))));
}

#[test]
fn connect_length_mismatch() {
    let good = connect_pkt(0x02, &field(b"c"));
    // Too long: one stray byte after the payload.
    let mut long = good.clone();
    long.push(0x00);
    long[1] += 1;
    assert_eq!(decode_err(&long), DecodeError::LengthMismatch);
    // Too short: the client id runs past the remaining length.
    let mut short = good.clone();
    short[1] -= 1;
    assert_eq!(decode_err(&short), DecodeError::LengthMismatch);
    // Variable header cut short.
    assert_eq!(decode_err(&pkt(0x10, &connect_vh(0x02)[..8])), DecodeError::LengthMismatch);
}

// ---------------------------------------------------------------------------
// CONNACK (3.2)
// ---------------------------------------------------------------------------

/// 3.2.2.1: bits 7-1 of the acknowledge flags are reserved and 0.
#[test]
fn connack_reserved_bits_are_refused() {
    for flags in [0x02u8, 0x80, 0xFE, 0x03] {
        assert_eq!(decode_err(&[0x20, 0x02, flags, 0x00]), DecodeError::InvalidConnAck, "{flags:02X}");
    }
}

/// Table 3.1: 6-255 are reserved.
#[test]
fn connack_unknown_return_code_is_refused() {
    for code in [0x06u8, 0x80, 0xFF] {
        assert_eq!(decode_err(&[0x20, 0x02, 0x00, code]), DecodeError::InvalidConnAck, "{code:02X}");
    }
}

#[test]
fn mqtt_3_2_2_4_session_present_with_a_refusal_is_refused() {
    for code in 1u8..=5 {
        assert_eq!(decode_err(&[0x20, 0x02, 0x01, code]), DecodeError::InvalidConnAck, "{code}");
    }
}

/// The decoder refuses CONNACK{session_present: 1, code != 0} as malformed, but
/// the encoder writes it without complaint, so the codec produces bytes its own
/// decoder rejects.
#[test]
fn mqtt_3_2_2_4_encoder_refuses_session_present_with_a_refusal() {
    let a = ConnAck { session_present: true, code: ConnectReturnCode::NotAuthorized };
    assert_eq!(Packet::ConnAck(a).encoded_len(), Err(EncodeError::SessionPresentWithRefusal));
}

#[test]
fn connack_length_mismatch() {
    assert_eq!(decode_err(&[0x20, 0x01, 0x00]), DecodeError::LengthMismatch);
    assert_eq!(decode_err(&[0x20, 0x03, 0x00, 0x00, 0x00]), DecodeError::LengthMismatch);
    assert_eq!(decode_err(&[0x20, 0x00]), DecodeError::LengthMismatch);
}

// ---------------------------------------------------------------------------
// PUBLISH (3.3)
// ---------------------------------------------------------------------------

#[test]
fn mqtt_3_3_1_1_dup_flag_is_bit_3() {
    let p = Publish { dup: true, ..publish(QoS::AtLeastOnce, "a/b", Some(10), b"hi") };
    let bytes = [0x3A, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'h', b'i'];
    assert_wire(&bytes, Packet::Publish(p));
}

#[test]
fn mqtt_3_3_1_2_dup_on_qos0_is_refused() {
    // 0x38: DUP, QoS 0; also with retain (0x39).
    for first in [0x38u8, 0x39] {
        let bytes = [first, 0x05, 0x00, 0x03, b'a', b'/', b'b'];
        assert_eq!(decode_err(&bytes), DecodeError::DupOnQoS0);
    }
    let p = Publish { dup: true, ..publish(QoS::AtMostOnce, "a/b", None, b"") };
    assert_eq!(encode_err(Packet::Publish(p)), EncodeError::DupOnQoS0);
}

#[test]
fn mqtt_3_3_1_4_qos_3_is_refused() {
    // 0x36: QoS bits 11; with DUP and/or retain as well.
    for first in [0x36u8, 0x37, 0x3E, 0x3F] {
        assert_eq!(decode(&[first], NO_LIMIT), Err(DecodeError::InvalidQoS), "{first:02X}");
        assert_eq!(frame(&[first], NO_LIMIT), Err(DecodeError::InvalidQoS), "{first:02X}");
        let bytes = [first, 0x07, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x01];
        assert_eq!(decode_err(&bytes), DecodeError::InvalidQoS, "{first:02X}");
    }
}

#[test]
fn mqtt_3_3_2_2_wildcard_topic_in_publish_is_refused() {
    for topic in ["a/+", "+", "#", "a/#", "a+b"] {
        let p = publish(QoS::AtMostOnce, topic, None, b"");
        assert_eq!(encode_err(Packet::Publish(p)), EncodeError::InvalidTopic, "{topic}");
        let bytes = pkt(0x30, &field(topic.as_bytes()));
        assert_eq!(decode_err(&bytes), DecodeError::InvalidTopic, "{topic}");
    }
}

#[test]
fn mqtt_4_7_3_1_empty_topic_in_publish_is_refused() {
    assert_eq!(decode_err(&[0x30, 0x02, 0x00, 0x00]), DecodeError::InvalidTopic);
    assert_eq!(decode_err(&[0x32, 0x04, 0x00, 0x00, 0x00, 0x01]), DecodeError::InvalidTopic);
    assert_eq!(encode_err(Packet::Publish(publish(QoS::AtMostOnce, "", None, b""))), EncodeError::InvalidTopic);
}

#[test]
fn mqtt_4_7_3_3_topic_longer_than_65535_bytes_is_refused_on_encode() {
    let long = "t".repeat(65_536);
    assert_eq!(encode_err(Packet::Publish(publish(QoS::AtMostOnce, &long, None, b""))), EncodeError::FieldTooLong);
}

#[test]
fn mqtt_2_3_1_1_publish_packet_id_must_be_nonzero() {
    for first in [0x32u8, 0x34] {
        let bytes = [first, 0x07, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x00];
        assert_eq!(decode_err(&bytes), DecodeError::ZeroPacketId);
    }
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        assert_eq!(encode_err(Packet::Publish(publish(qos, "a", Some(0), b""))), EncodeError::InvalidPacketId);
        assert_eq!(encode_err(Packet::Publish(publish(qos, "a", None, b""))), EncodeError::InvalidPacketId);
    }
}

#[test]
fn mqtt_2_3_1_5_qos0_publish_has_no_packet_id() {
    let p = publish(QoS::AtMostOnce, "a", Some(1), b"");
    assert_eq!(encode_err(Packet::Publish(p)), EncodeError::InvalidPacketId);
    // On the wire, what follows a QoS 0 topic is payload.
    let bytes = [0x30, 0x05, 0x00, 0x01, b'a', 0x00, 0x00];
    assert_wire(&bytes, Packet::Publish(publish(QoS::AtMostOnce, "a", None, &[0x00, 0x00])));
}

#[test]
fn publish_length_mismatch() {
    // Too short: topic length 3 but only 0 bytes of body after it.
    assert_eq!(decode_err(&[0x30, 0x02, 0x00, 0x03, b'a', b'/', b'b']), DecodeError::LengthMismatch);
    // Too short: QoS 1 without room for the packet id.
    assert_eq!(decode_err(&[0x32, 0x05, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A]), DecodeError::LengthMismatch);
    assert_eq!(decode_err(&[0x32, 0x06, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A]), DecodeError::LengthMismatch);
    // Empty body, or one byte: no room for the topic length.
    assert_eq!(decode_err(&[0x30, 0x00]), DecodeError::LengthMismatch);
    assert_eq!(decode_err(&[0x30, 0x01, 0x00]), DecodeError::LengthMismatch);
    // "Too long" cannot exist for PUBLISH: extra bytes are payload (3.3.3).
    let bytes = [0x30, 0x06, 0x00, 0x03, b'a', b'/', b'b', b'!'];
    assert_eq!(decode(&bytes, NO_LIMIT), Ok(Some((Packet::Publish(publish(QoS::AtMostOnce, "a/b", None, b"!")), 8))));
}

// ---------------------------------------------------------------------------
// PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK (3.4-3.7, 3.11)
// ---------------------------------------------------------------------------

fn id_packets(id: u16) -> [(u8, Packet<'static>); 5] {
    [
        (0x40, Packet::PubAck(id)),
        (0x50, Packet::PubRec(id)),
        (0x62, Packet::PubRel(id)),
        (0x70, Packet::PubComp(id)),
        (0xB0, Packet::UnsubAck(id)),
    ]
}

#[test]
fn packet_id_only_packets_round_trip() {
    for id in [1u16, 0x0102, 0xFFFF] {
        let [hi, lo] = id.to_be_bytes();
        for (first, p) in id_packets(id) {
            assert_wire(&[first, 0x02, hi, lo], p);
        }
    }
}

#[test]
fn mqtt_2_3_1_1_ack_packet_id_zero_is_refused() {
    for (first, p) in id_packets(0) {
        assert_eq!(decode_err(&[first, 0x02, 0x00, 0x00]), DecodeError::ZeroPacketId, "{first:02X}");
        assert_eq!(encode_err(p), EncodeError::InvalidPacketId, "{p:?}");
    }
}

#[test]
fn packet_id_only_packets_length_mismatch() {
    for (first, _) in id_packets(1) {
        assert_eq!(decode_err(&[first, 0x00]), DecodeError::LengthMismatch);
        assert_eq!(decode_err(&[first, 0x01, 0x01]), DecodeError::LengthMismatch);
        assert_eq!(decode_err(&[first, 0x03, 0x00, 0x01, 0x00]), DecodeError::LengthMismatch);
    }
}

// ---------------------------------------------------------------------------
// SUBSCRIBE (3.8)
// ---------------------------------------------------------------------------

#[test]
fn mqtt_3_8_3_3_subscribe_without_filters_is_refused() {
    assert_eq!(decode_err(&[0x82, 0x02, 0x00, 0x0A]), DecodeError::Empty);
    let s = Subscribe { packet_id: 10, filters: SubscribeFilters::List(&[]) };
    assert_eq!(encode_err(Packet::Subscribe(s)), EncodeError::Empty);
    let s = Subscribe { packet_id: 10, filters: SubscribeFilters::Wire(&[]) };
    assert_eq!(encode_err(Packet::Subscribe(s)), EncodeError::Empty);
}

#[test]
fn mqtt_3_8_3_4_subscribe_qos_byte_reserved_bits_are_refused() {
    // Requested QoS byte: bits 7-2 reserved, QoS 3 malformed (Figure 3.22).
    for q in [0x03u8, 0x04, 0x05, 0x40, 0x80, 0x81, 0xFC, 0xFF] {
        let bytes = [0x82, 0x08, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', q];
        assert_eq!(decode_err(&bytes), DecodeError::InvalidQoS, "{q:02X}");
    }
    // The encoder writes only 0, 1 or 2.
    let list = [("a", QoS::AtMostOnce), ("b", QoS::AtLeastOnce), ("c", QoS::ExactlyOnce)];
    let bytes = encode_vec(&Packet::Subscribe(Subscribe { packet_id: 1, filters: SubscribeFilters::List(&list) }));
    assert_eq!(bytes, [0x82, 0x0E, 0x00, 0x01, 0x00, 0x01, b'a', 0x00, 0x00, 0x01, b'b', 0x01, 0x00, 0x01, b'c', 0x02]);
}

#[test]
fn mqtt_2_3_1_1_subscribe_packet_id_must_be_nonzero() {
    let bytes = [0x82, 0x08, 0x00, 0x00, 0x00, 0x03, b'a', b'/', b'b', 0x01];
    assert_eq!(decode_err(&bytes), DecodeError::ZeroPacketId);
    let list = [("a", QoS::AtMostOnce)];
    let s = Subscribe { packet_id: 0, filters: SubscribeFilters::List(&list) };
    assert_eq!(encode_err(Packet::Subscribe(s)), EncodeError::InvalidPacketId);
}

/// [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1] through SUBSCRIBE.
#[test]
fn mqtt_4_7_1_2_mqtt_4_7_1_3_invalid_subscribe_filters_are_refused() {
    for f in ["a/#/b", "#a", "a#", "a+", "+a/b", "a/b+", ""] {
        let bytes = pkt(0x82, &cat(&[&[0x00, 0x01], &field(f.as_bytes()), &[0x00]]));
        assert_eq!(decode_err(&bytes), DecodeError::InvalidFilter, "{f:?}");
        let list = [("ok", QoS::AtMostOnce), (f, QoS::AtMostOnce)];
        let s = Subscribe { packet_id: 1, filters: SubscribeFilters::List(&list) };
        assert_eq!(encode_err(Packet::Subscribe(s)), EncodeError::InvalidFilter, "{f:?}");
    }
    let long = "f".repeat(65_536);
    let list = [(long.as_str(), QoS::AtMostOnce)];
    let s = Subscribe { packet_id: 1, filters: SubscribeFilters::List(&list) };
    assert_eq!(encode_err(Packet::Subscribe(s)), EncodeError::FieldTooLong);
}

#[test]
fn subscribe_length_mismatch() {
    // Missing the QoS byte after the filter.
    assert_eq!(decode_err(&[0x82, 0x07, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b']), DecodeError::LengthMismatch);
    // Filter length runs past the remaining length.
    assert_eq!(decode_err(&[0x82, 0x06, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x01]), DecodeError::LengthMismatch);
    // One stray byte after a whole pair.
    assert_eq!(
        decode_err(&[0x82, 0x09, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x01, 0x00]),
        DecodeError::LengthMismatch
    );
    // Packet id cut short.
    assert_eq!(decode_err(&[0x82, 0x01, 0x00]), DecodeError::LengthMismatch);
}

// ---------------------------------------------------------------------------
// SUBACK (3.9)
// ---------------------------------------------------------------------------

#[test]
fn mqtt_3_9_3_2_reserved_suback_return_codes_are_refused() {
    for code in [0x03u8, 0x04, 0x7F, 0x81, 0xFF] {
        assert_eq!(decode_err(&[0x90, 0x03, 0x00, 0x0A, code]), DecodeError::InvalidSubAckCode, "{code:02X}");
        assert_eq!(decode_err(&[0x90, 0x04, 0x00, 0x0A, 0x00, code]), DecodeError::InvalidSubAckCode, "{code:02X}");
        let codes = [0x01, code];
        let s = SubAck { packet_id: 10, return_codes: &codes };
        assert_eq!(encode_err(Packet::SubAck(s)), EncodeError::InvalidSubAckCode, "{code:02X}");
    }
}

#[test]
fn suback_without_return_codes_is_refused() {
    assert_eq!(decode_err(&[0x90, 0x02, 0x00, 0x0A]), DecodeError::Empty);
    assert_eq!(encode_err(Packet::SubAck(SubAck { packet_id: 10, return_codes: &[] })), EncodeError::Empty);
}

#[test]
fn suback_packet_id_zero_is_refused() {
    assert_eq!(decode_err(&[0x90, 0x03, 0x00, 0x00, 0x00]), DecodeError::ZeroPacketId);
    assert_eq!(encode_err(Packet::SubAck(SubAck { packet_id: 0, return_codes: &[0] })), EncodeError::InvalidPacketId);
    assert_eq!(decode_err(&[0x90, 0x01, 0x00]), DecodeError::LengthMismatch);
}

// ---------------------------------------------------------------------------
// UNSUBSCRIBE (3.10)
// ---------------------------------------------------------------------------

#[test]
fn mqtt_3_10_3_2_unsubscribe_without_filters_is_refused() {
    assert_eq!(decode_err(&[0xA2, 0x02, 0x00, 0x0A]), DecodeError::Empty);
    let u = Unsubscribe { packet_id: 10, filters: UnsubscribeFilters::List(&[]) };
    assert_eq!(encode_err(Packet::Unsubscribe(u)), EncodeError::Empty);
}

#[test]
fn mqtt_2_3_1_1_unsubscribe_packet_id_must_be_nonzero() {
    assert_eq!(decode_err(&[0xA2, 0x07, 0x00, 0x00, 0x00, 0x03, b'a', b'/', b'b']), DecodeError::ZeroPacketId);
    let list = ["a"];
    let u = Unsubscribe { packet_id: 0, filters: UnsubscribeFilters::List(&list) };
    assert_eq!(encode_err(Packet::Unsubscribe(u)), EncodeError::InvalidPacketId);
}

#[test]
fn mqtt_4_7_1_2_mqtt_4_7_1_3_invalid_unsubscribe_filters_are_refused() {
    for f in ["a/#/b", "a#", "a+", ""] {
        let bytes = pkt(0xA2, &cat(&[&[0x00, 0x01], &field(f.as_bytes())]));
        assert_eq!(decode_err(&bytes), DecodeError::InvalidFilter, "{f:?}");
        let list = [f];
        let u = Unsubscribe { packet_id: 1, filters: UnsubscribeFilters::List(&list) };
        assert_eq!(encode_err(Packet::Unsubscribe(u)), EncodeError::InvalidFilter, "{f:?}");
    }
}

#[test]
fn unsubscribe_length_mismatch() {
    // Filter length runs past the remaining length.
    assert_eq!(decode_err(&[0xA2, 0x06, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b']), DecodeError::LengthMismatch);
    // A lone byte where a filter length should be.
    assert_eq!(decode_err(&[0xA2, 0x08, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x00]), DecodeError::LengthMismatch);
}

// ---------------------------------------------------------------------------
// PINGREQ, PINGRESP, DISCONNECT (3.12-3.14)
// ---------------------------------------------------------------------------

#[test]
fn empty_packets_with_a_body_are_refused() {
    for first in [0xC0u8, 0xD0, 0xE0] {
        assert_eq!(decode_err(&[first, 0x01, 0x00]), DecodeError::LengthMismatch, "{first:02X}");
        assert_eq!(decode_err(&[first, 0x02, 0x00, 0x00]), DecodeError::LengthMismatch, "{first:02X}");
    }
}

// ---------------------------------------------------------------------------
// Encoding into a caller's buffer
// ---------------------------------------------------------------------------

#[test]
fn encode_into_a_buffer_too_small_writes_nothing() {
    for (bytes, packet) in all_valid_vectors() {
        for size in 0..bytes.len() {
            let mut buf = vec![0xAAu8; size];
            assert_eq!(packet.encode(&mut buf), Err(EncodeError::BufferTooSmall { needed: bytes.len() }));
            assert!(buf.iter().all(|&b| b == 0xAA), "{packet:?} wrote into a {size}-byte buffer");
        }
        // A larger buffer: only the packet's bytes are written.
        let mut buf = vec![0xAAu8; bytes.len() + 4];
        assert_eq!(packet.encode(&mut buf), Ok(bytes.len()));
        assert_eq!(&buf[..bytes.len()], &bytes[..]);
        assert_eq!(&buf[bytes.len()..], &[0xAA; 4]);
    }
}

/// A decoded packet (filters as wire bytes) re-encodes to the same bytes.
#[test]
fn decoded_packets_re_encode_to_the_same_bytes() {
    for (bytes, _) in all_valid_vectors() {
        let (p, _) = decode(&bytes, NO_LIMIT).unwrap().unwrap();
        assert_eq!(encode_vec(&p), bytes);
    }
}
