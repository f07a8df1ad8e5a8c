//! Property tests for the codec:
//! (a) encode then decode gives an equal packet, for every packet type, and
//!     `encoded_len` is exactly what `encode` writes;
//! (b) decoding arbitrary bytes never panics and never claims more bytes than
//!     it was given;
//! (c) a stream of packets decodes the same whatever the chunking.
//!
//! Case counts are modest so the file runs quickly in debug builds; set
//! PROPTEST_CASES to run more. Failure persistence is off (no files are
//! written next to the tests); a failing case is printed in full instead.

use mqtt_core::codec::{
    decode, frame, ConnAck, Connect, ConnectReturnCode, DecodeError, EncodeError, Packet, Publish, QoS, SubAck,
    Subscribe, SubscribeFilters, Unsubscribe, UnsubscribeFilters, Will,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

const NO_LIMIT: usize = usize::MAX;

fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default_cases);
    Config { cases, failure_persistence: None, ..Config::default() }
}

// ---------------------------------------------------------------------------
// Owned packets (a Packet borrows; strategies need owned values)
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct OwnedWill {
    topic: String,
    message: Vec<u8>,
    qos: QoS,
    retain: bool,
}

#[derive(Clone, Debug)]
enum Owned {
    Connect {
        clean_session: bool,
        keep_alive: u16,
        client_id: String,
        will: Option<OwnedWill>,
        username: Option<String>,
        password: Option<Vec<u8>>,
    },
    ConnAck(ConnAck),
    Publish {
        dup: bool,
        qos: QoS,
        retain: bool,
        topic: String,
        packet_id: Option<u16>,
        payload: Vec<u8>,
    },
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    Subscribe {
        packet_id: u16,
        filters: Vec<(String, QoS)>,
    },
    SubAck {
        packet_id: u16,
        codes: Vec<u8>,
    },
    Unsubscribe {
        packet_id: u16,
        filters: Vec<String>,
    },
    UnsubAck(u16),
    PingReq,
    PingResp,
    Disconnect,
}

impl Owned {
    /// Calls `f` with the borrowed packet.
    fn with<R>(&self, f: impl FnOnce(Packet<'_>) -> R) -> R {
        match self {
            Owned::Connect { clean_session, keep_alive, client_id, will, username, password } => {
                f(Packet::Connect(Connect {
                    clean_session: *clean_session,
                    keep_alive: *keep_alive,
                    client_id,
                    will: will.as_ref().map(|w| Will {
                        topic: &w.topic,
                        message: &w.message,
                        qos: w.qos,
                        retain: w.retain,
                    }),
                    username: username.as_deref(),
                    password: password.as_deref(),
                }))
            }
            Owned::ConnAck(a) => f(Packet::ConnAck(*a)),
            Owned::Publish { dup, qos, retain, topic, packet_id, payload } => f(Packet::Publish(Publish {
                dup: *dup,
                qos: *qos,
                retain: *retain,
                topic,
                packet_id: *packet_id,
                payload,
            })),
            Owned::PubAck(id) => f(Packet::PubAck(*id)),
            Owned::PubRec(id) => f(Packet::PubRec(*id)),
            Owned::PubRel(id) => f(Packet::PubRel(*id)),
            Owned::PubComp(id) => f(Packet::PubComp(*id)),
            Owned::Subscribe { packet_id, filters } => {
                let list: Vec<(&str, QoS)> = filters.iter().map(|(s, q)| (s.as_str(), *q)).collect();
                f(Packet::Subscribe(Subscribe { packet_id: *packet_id, filters: SubscribeFilters::List(&list) }))
            }
            Owned::SubAck { packet_id, codes } => {
                f(Packet::SubAck(SubAck { packet_id: *packet_id, return_codes: codes }))
            }
            Owned::Unsubscribe { packet_id, filters } => {
                let list: Vec<&str> = filters.iter().map(String::as_str).collect();
                f(Packet::Unsubscribe(Unsubscribe { packet_id: *packet_id, filters: UnsubscribeFilters::List(&list) }))
            }
            Owned::UnsubAck(id) => f(Packet::UnsubAck(*id)),
            Owned::PingReq => f(Packet::PingReq),
            Owned::PingResp => f(Packet::PingResp),
            Owned::Disconnect => f(Packet::Disconnect),
        }
    }

    fn encode(&self) -> Vec<u8> {
        self.with(|p| {
            let len = p.encoded_len().unwrap_or_else(|e| panic!("{p:?} should encode: {e:?}"));
            let mut buf = vec![0u8; len];
            assert_eq!(p.encode(&mut buf), Ok(len));
            buf
        })
    }
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)]
}

fn packet_id() -> impl Strategy<Value = u16> {
    prop_oneof![1 => Just(1u16), 1 => Just(u16::MAX), 6 => 1u16..=u16::MAX]
}

/// Any character allowed in a UTF-8 string field (not U+0000), biased towards
/// ASCII but with 2-, 3- and 4-byte sequences and the BOM [MQTT-1.5.3-3].
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::range('a', 'z'),
        1 => Just('é'),
        1 => Just('€'),
        1 => Just('😀'),
        1 => Just('\u{FEFF}'),
        2 => any::<char>(),
    ]
    .prop_filter("no U+0000", |&c| c != '\0')
}

/// A character for one level of a topic (no separator, no wildcards).
fn level_char() -> impl Strategy<Value = char> {
    text_char().prop_filter("no / + #", |&c| !matches!(c, '/' | '+' | '#'))
}

fn text(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(text_char(), 0..=max_chars).prop_map(String::from_iter)
}

fn level() -> impl Strategy<Value = String> {
    prop::collection::vec(level_char(), 0..6).prop_map(String::from_iter)
}

/// A valid topic name: levels joined by '/', at least one character (4.7).
fn topic_name() -> impl Strategy<Value = String> {
    prop::collection::vec(level(), 1..5).prop_map(|levels| levels.join("/")).prop_filter("non-empty", |t| !t.is_empty())
}

/// A valid topic filter: plain levels and '+', optionally ending in '#' (4.7.1).
fn topic_filter() -> impl Strategy<Value = String> {
    let filter_level = prop_oneof![3 => level(), 1 => Just("+".to_string())];
    (prop::collection::vec(filter_level, 0..5), any::<bool>())
        .prop_map(|(mut levels, hash)| {
            if hash {
                levels.push("#".to_string());
            }
            levels.join("/")
        })
        .prop_filter("non-empty", |f| !f.is_empty())
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

fn connect() -> impl Strategy<Value = Owned> {
    let will = (topic_name(), bytes(64), qos(), any::<bool>()).prop_map(|(topic, message, qos, retain)| OwnedWill {
        topic,
        message,
        qos,
        retain,
    });
    (
        any::<bool>(),
        any::<u16>(),
        text(23),
        proptest::option::of(will),
        proptest::option::of(text(12)),
        proptest::option::of(bytes(32)),
    )
        .prop_map(|(clean_session, keep_alive, client_id, will, username, password)| Owned::Connect {
            // An empty client id needs clean session [MQTT-3.1.3-7].
            clean_session: clean_session || client_id.is_empty(),
            keep_alive,
            // A password needs a user name [MQTT-3.1.2-22].
            password: if username.is_some() { password } else { None },
            client_id,
            will,
            username,
        })
}

fn connack() -> impl Strategy<Value = Owned> {
    use ConnectReturnCode::*;
    let code = prop_oneof![
        3 => Just(Accepted),
        1 => Just(UnacceptableProtocolVersion),
        1 => Just(IdentifierRejected),
        1 => Just(ServerUnavailable),
        1 => Just(BadUserNameOrPassword),
        1 => Just(NotAuthorized),
    ];
    // Session present only with Accepted [MQTT-3.2.2-4]: the decoder refuses
    // anything else (the encoder does not check this; see codec_packets.rs).
    (any::<bool>(), code)
        .prop_map(|(sp, code)| Owned::ConnAck(ConnAck { session_present: sp && code == Accepted, code }))
}

fn publish_with_payload(max_payload: usize) -> impl Strategy<Value = Owned> {
    (qos(), any::<bool>(), any::<bool>(), topic_name(), packet_id(), bytes(max_payload)).prop_map(
        |(qos, dup, retain, topic, id, payload)| {
            let qos0 = qos == QoS::AtMostOnce;
            Owned::Publish {
                // No DUP on QoS 0 [MQTT-3.3.1-2]; a packet id exactly when QoS > 0.
                dup: dup && !qos0,
                qos,
                retain,
                topic,
                packet_id: if qos0 { None } else { Some(id) },
                payload,
            }
        },
    )
}

fn publish() -> impl Strategy<Value = Owned> {
    prop_oneof![3 => publish_with_payload(64), 1 => publish_with_payload(4096)]
}

fn subscribe() -> impl Strategy<Value = Owned> {
    (packet_id(), prop::collection::vec((topic_filter(), qos()), 1..6))
        .prop_map(|(packet_id, filters)| Owned::Subscribe { packet_id, filters })
}

fn unsubscribe() -> impl Strategy<Value = Owned> {
    (packet_id(), prop::collection::vec(topic_filter(), 1..6))
        .prop_map(|(packet_id, filters)| Owned::Unsubscribe { packet_id, filters })
}

fn suback() -> impl Strategy<Value = Owned> {
    let code = prop_oneof![Just(0u8), Just(1), Just(2), Just(0x80)];
    (packet_id(), prop::collection::vec(code, 1..10)).prop_map(|(packet_id, codes)| Owned::SubAck { packet_id, codes })
}

fn any_packet() -> impl Strategy<Value = Owned> {
    prop_oneof![
        2 => connect(),
        1 => connack(),
        3 => publish(),
        1 => packet_id().prop_map(Owned::PubAck),
        1 => packet_id().prop_map(Owned::PubRec),
        1 => packet_id().prop_map(Owned::PubRel),
        1 => packet_id().prop_map(Owned::PubComp),
        2 => subscribe(),
        1 => suback(),
        2 => unsubscribe(),
        1 => packet_id().prop_map(Owned::UnsubAck),
        1 => Just(Owned::PingReq),
        1 => Just(Owned::PingResp),
        1 => Just(Owned::Disconnect),
    ]
}

/// A first byte with a valid type and valid flags (any DUP/QoS/RETAIN but
/// QoS 3 for PUBLISH).
fn valid_first_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        (1u8..=14).prop_filter("not PUBLISH", |&t| t != 3).prop_map(|t| {
            let flags = if matches!(t, 6 | 8 | 10) { 0b0010 } else { 0 };
            (t << 4) | flags
        }),
        (0u8..16).prop_filter("not QoS 3", |f| (f >> 1) & 3 != 3).prop_map(|f| 0x30 | f),
    ]
}

fn remaining_length(mut len: usize) -> Vec<u8> {
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

// ---------------------------------------------------------------------------
// A model encoder written from the standard, independent of the crate
// ---------------------------------------------------------------------------

/// Two-byte length prefix then the bytes (1.5.3, 3.1.3.5).
fn model_field(out: &mut Vec<u8>, b: &[u8]) {
    out.extend((b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

/// The bytes Section 3 prescribes for `owned`.
fn model_encode(owned: &Owned) -> Vec<u8> {
    let mut body = Vec::new();
    let first: u8 = match owned {
        Owned::Connect { clean_session, keep_alive, client_id, will, username, password } => {
            // 3.1.2: protocol name, level, flags (Figure 3.4), keep alive.
            model_field(&mut body, b"MQTT");
            body.push(4);
            let mut flags = (*clean_session as u8) << 1;
            if let Some(w) = will {
                flags |= 1 << 2;
                flags |= (w.qos as u8) << 3;
                flags |= (w.retain as u8) << 5;
            }
            if password.is_some() {
                flags |= 1 << 6;
            }
            if username.is_some() {
                flags |= 1 << 7;
            }
            body.push(flags);
            body.extend(keep_alive.to_be_bytes());
            // 3.1.3: client id, will topic, will message, user name, password.
            model_field(&mut body, client_id.as_bytes());
            if let Some(w) = will {
                model_field(&mut body, w.topic.as_bytes());
                model_field(&mut body, &w.message);
            }
            if let Some(u) = username {
                model_field(&mut body, u.as_bytes());
            }
            if let Some(p) = password {
                model_field(&mut body, p);
            }
            0x10
        }
        Owned::ConnAck(a) => {
            body.push(a.session_present as u8);
            body.push(a.code as u8);
            0x20
        }
        Owned::Publish { dup, qos, retain, topic, packet_id, payload } => {
            model_field(&mut body, topic.as_bytes());
            if let Some(id) = packet_id {
                body.extend(id.to_be_bytes());
            }
            body.extend_from_slice(payload);
            0x30 | (*dup as u8) << 3 | (*qos as u8) << 1 | *retain as u8
        }
        Owned::PubAck(id) | Owned::PubRec(id) | Owned::PubRel(id) | Owned::PubComp(id) | Owned::UnsubAck(id) => {
            body.extend(id.to_be_bytes());
            match owned {
                Owned::PubAck(_) => 0x40,
                Owned::PubRec(_) => 0x50,
                Owned::PubRel(_) => 0x62,
                Owned::PubComp(_) => 0x70,
                _ => 0xB0,
            }
        }
        Owned::Subscribe { packet_id, filters } => {
            body.extend(packet_id.to_be_bytes());
            for (f, q) in filters {
                model_field(&mut body, f.as_bytes());
                body.push(*q as u8);
            }
            0x82
        }
        Owned::SubAck { packet_id, codes } => {
            body.extend(packet_id.to_be_bytes());
            body.extend_from_slice(codes);
            0x90
        }
        Owned::Unsubscribe { packet_id, filters } => {
            body.extend(packet_id.to_be_bytes());
            for f in filters {
                model_field(&mut body, f.as_bytes());
            }
            0xA2
        }
        Owned::PingReq => 0xC0,
        Owned::PingResp => 0xD0,
        Owned::Disconnect => 0xE0,
    };
    let mut out = vec![first];
    out.extend(remaining_length(body.len()));
    out.extend(body);
    out
}

// ---------------------------------------------------------------------------
// Shared checks
// ---------------------------------------------------------------------------

/// Whatever `decode` answers for `input`, it must not claim more bytes than it
/// was given, must agree with `frame`, and a packet it accepts must re-encode
/// (when the encoder accepts it) to bytes that decode to the same packet.
fn check_decode_is_sane(input: &[u8], max: usize) -> Result<(), TestCaseError> {
    let result = decode(input, max);
    let framed = frame(input, max);
    match result {
        Ok(Some((packet, used))) => {
            prop_assert!(used <= input.len(), "used {} of {}", used, input.len());
            prop_assert!(used >= 2);
            prop_assert!(used <= max);
            let f = framed.unwrap().unwrap();
            prop_assert_eq!(f.total_len, used);
            if let Ok(len) = packet.encoded_len() {
                let mut buf = vec![0u8; len];
                prop_assert_eq!(packet.encode(&mut buf), Ok(len));
                prop_assert_eq!(decode(&buf, NO_LIMIT), Ok(Some((packet, len))));
            }
        }
        Ok(None) => {
            // Either the header or the body is still incomplete.
            match framed {
                Ok(None) => {}
                Ok(Some(f)) => prop_assert!(f.total_len > input.len()),
                Err(e) => prop_assert!(false, "frame failed with {:?} but decode wants more", e),
            }
        }
        Err(e) => {
            if let Err(fe) = framed {
                prop_assert_eq!(fe, e);
            }
            prop_assert!(!e.reason().is_empty());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// (a) Round trip
// ---------------------------------------------------------------------------

fn check_round_trip(owned: &Owned) -> Result<(), TestCaseError> {
    owned.with(|p| {
        let len = p.encoded_len().map_err(|e| TestCaseError::fail(format!("encoded_len: {e:?}")))?;
        // Write into a larger, pre-filled buffer: exactly `len` bytes change.
        let mut buf = vec![0xA5u8; len + 7];
        prop_assert_eq!(p.encode(&mut buf), Ok(len));
        prop_assert!(buf[len..].iter().all(|&b| b == 0xA5));
        let wire = &buf[..len];
        prop_assert_eq!(wire, &model_encode(owned)[..], "bytes differ from the model encoding");

        prop_assert_eq!(decode(wire, NO_LIMIT), Ok(Some((p, len))));
        // Trailing bytes (here the fill) are not consumed.
        prop_assert_eq!(decode(&buf, NO_LIMIT), Ok(Some((p, len))));
        let f = frame(wire, NO_LIMIT).unwrap().unwrap();
        prop_assert_eq!(f.total_len, len);
        prop_assert_eq!(f.packet_type, p.packet_type());

        // The decoded form (wire filters) re-encodes to the same bytes.
        let (decoded, _) = decode(wire, NO_LIMIT).unwrap().unwrap();
        prop_assert_eq!(decoded.encoded_len(), Ok(len));
        let mut again = vec![0u8; len];
        prop_assert_eq!(decoded.encode(&mut again), Ok(len));
        prop_assert_eq!(&again[..], wire);

        // Size limit: exactly fits, one byte short is refused.
        prop_assert_eq!(decode(wire, len), Ok(Some((p, len))));
        prop_assert_eq!(decode(wire, len - 1), Err(DecodeError::TooLarge { size: len, max: len - 1 }));

        // Every proper prefix is incomplete.
        for n in 0..len {
            prop_assert_eq!(decode(&wire[..n], NO_LIMIT), Ok(None), "prefix {}", n);
        }

        // One byte too small a buffer: refused, nothing written.
        let mut small = vec![0x5Au8; len - 1];
        prop_assert_eq!(p.encode(&mut small), Err(EncodeError::BufferTooSmall { needed: len }));
        prop_assert!(small.iter().all(|&b| b == 0x5A));
        Ok(())
    })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn round_trip_any_packet(owned in any_packet()) {
        check_round_trip(&owned)?;
    }
}

proptest! {
    #![proptest_config(config(160))]

    #[test]
    fn round_trip_connect(owned in connect()) {
        check_round_trip(&owned)?;
    }

    #[test]
    fn round_trip_publish(owned in publish()) {
        check_round_trip(&owned)?;
    }

    #[test]
    fn round_trip_subscribe(owned in subscribe()) {
        check_round_trip(&owned)?;
    }

    #[test]
    fn round_trip_unsubscribe(owned in unsubscribe()) {
        check_round_trip(&owned)?;
    }

    #[test]
    fn round_trip_suback(owned in suback()) {
        check_round_trip(&owned)?;
    }

    #[test]
    fn round_trip_connack(owned in connack()) {
        check_round_trip(&owned)?;
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// 2.2.3: any remaining length up to 268,435,455 in a header alone is
    /// read back exactly by `frame`, and `decode` waits for the body.
    #[test]
    fn frame_reads_any_remaining_length(
        first in valid_first_byte(),
        rem in prop_oneof![0usize..=300, 0usize..=mqtt_core::codec::MAX_REMAINING_LENGTH],
    ) {
        let mut header = vec![first];
        header.extend(remaining_length(rem));
        let f = frame(&header, NO_LIMIT).unwrap().unwrap();
        prop_assert_eq!(f.header_len, header.len());
        prop_assert_eq!(f.total_len, header.len() + rem);
        prop_assert_eq!(f.flags, first & 0x0F);
        if rem > 0 {
            prop_assert_eq!(decode(&header, NO_LIMIT), Ok(None));
        }
        for n in 0..header.len() {
            prop_assert_eq!(frame(&header[..n], NO_LIMIT), Ok(None));
        }
    }
}

// ---------------------------------------------------------------------------
// (b) Arbitrary input never panics
// ---------------------------------------------------------------------------

fn max_size() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(NO_LIMIT), 1 => 0usize..300]
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn decode_arbitrary_bytes(input in bytes(300), max in max_size()) {
        check_decode_is_sane(&input, max)?;
    }

    /// A valid first byte, then arbitrary bytes.
    #[test]
    fn decode_valid_first_byte_then_arbitrary_bytes(
        first in valid_first_byte(),
        rest in bytes(200),
        max in max_size(),
    ) {
        let mut input = vec![first];
        input.extend(rest);
        check_decode_is_sane(&input, max)?;
    }

    /// A valid first byte and a remaining length that matches an arbitrary
    /// body, so the body parser is exercised on every input.
    #[test]
    fn decode_valid_header_then_arbitrary_body(
        first in valid_first_byte(),
        body in bytes(200),
        extra in bytes(4),
    ) {
        let mut input = vec![first];
        input.extend(remaining_length(body.len()));
        input.extend(&body);
        input.extend(&extra);
        check_decode_is_sane(&input, NO_LIMIT)?;
        // The whole packet is present, so the answer is never "need more".
        prop_assert!(decode(&input, NO_LIMIT) != Ok(None));
    }

    /// A plausible CONNECT variable header with arbitrary flags and payload.
    #[test]
    fn decode_connect_with_arbitrary_flags_and_payload(flags in any::<u8>(), keep_alive in any::<u16>(), payload in bytes(80)) {
        let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, flags];
        body.extend(keep_alive.to_be_bytes());
        body.extend(&payload);
        let mut input = vec![0x10];
        input.extend(remaining_length(body.len()));
        input.extend(&body);
        check_decode_is_sane(&input, NO_LIMIT)?;
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// A valid encoding with one byte changed, or cut short, or with its
    /// remaining length changed.
    #[test]
    fn decode_mutated_valid_packets(
        owned in any_packet(),
        index in any::<prop::sample::Index>(),
        value in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let wire = owned.encode();
        let mut changed = wire.clone();
        changed[index.index(wire.len())] = value;
        check_decode_is_sane(&changed, NO_LIMIT)?;
        let short = &wire[..cut.index(wire.len())];
        prop_assert_eq!(decode(short, NO_LIMIT), Ok(None));
        if wire.len() > 2 && wire[1] < 0x7F && wire[1] > 0 {
            // Remaining length one less / one more than the content.
            let mut less = wire.clone();
            less[1] -= 1;
            check_decode_is_sane(&less, NO_LIMIT)?;
            let mut more = wire.clone();
            more[1] += 1;
            more.push(value);
            check_decode_is_sane(&more, NO_LIMIT)?;
        }
    }
}

// ---------------------------------------------------------------------------
// (c) Chunked streams
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn chunked_stream_decodes_like_the_whole_stream(
        packets in prop::collection::vec(any_packet(), 1..8),
        chunk_sizes in prop::collection::vec(0usize..300, 1..40),
    ) {
        let stream: Vec<u8> = packets.iter().flat_map(Owned::encode).collect();

        // The whole stream at once.
        let mut whole = Vec::new();
        let mut off = 0;
        while let Some((p, used)) = decode(&stream[off..], NO_LIMIT).unwrap() {
            whole.push(p);
            off += used;
        }
        prop_assert_eq!(off, stream.len());
        prop_assert_eq!(whole.len(), packets.len());
        for (p, owned) in whole.iter().zip(&packets) {
            owned.with(|o| {
                prop_assert_eq!(*p, o);
                Ok(())
            })?;
        }

        // The same bytes in chunks, accumulated in a buffer that is compacted
        // after each round of decoding, like a receive loop would.
        let largest = packets.iter().map(|o| o.with(|p| p.encoded_len().unwrap())).max().unwrap();
        let mut acc: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut next = 0;
        let mut sizes = chunk_sizes.iter().cycle();
        while fed < stream.len() {
            let mut size = *sizes.next().unwrap();
            if chunk_sizes.iter().all(|&s| s == 0) {
                size = stream.len() - fed;
            }
            let end = (fed + size).min(stream.len());
            acc.extend_from_slice(&stream[fed..end]);
            fed = end;
            let mut used_total = 0;
            // The size limit is the largest packet: everything must still fit.
            while let Some((p, used)) = decode(&acc[used_total..], largest)
                .map_err(|e| TestCaseError::fail(format!("chunked decode error {e:?}")))?
            {
                prop_assert!(next < whole.len());
                prop_assert_eq!(p, whole[next]);
                next += 1;
                used_total += used;
            }
            acc.drain(..used_total);
        }
        prop_assert_eq!(next, whole.len());
        prop_assert!(acc.is_empty());
    }
}

/// A shared subscription group: one level, not empty, no wildcards.
fn share_group() -> impl Strategy<Value = String> {
    prop::collection::vec(level_char(), 1..6).prop_map(String::from_iter)
}

proptest! {
    #![proptest_config(config(256))]

    /// `$share/<group>/<filter>` is valid exactly when the filter after the
    /// group is, and it goes out in a SUBSCRIBE and comes back the same.
    #[test]
    fn shared_subscription_of_any_valid_filter_is_valid(group in share_group(), filter in topic_filter()) {
        let shared = format!("$share/{group}/{filter}");
        prop_assert_eq!(mqtt_core::topic::validate_filter(&shared), Ok(()));
        check_round_trip(&Owned::Subscribe { packet_id: 1, filters: vec![(shared, QoS::AtLeastOnce)] })?;
    }

    /// A '+' or '#' anywhere in the group is refused, whatever follows.
    #[test]
    fn shared_subscription_group_with_a_wildcard_is_refused(
        group in share_group(), at in any::<prop::sample::Index>(), wild in prop_oneof![Just('+'), Just('#')],
        filter in topic_filter(),
    ) {
        let mut g: Vec<char> = group.chars().collect();
        let i = at.index(g.len() + 1);
        g.insert(i, wild);
        let shared = format!("$share/{}/{filter}", String::from_iter(g));
        prop_assert_eq!(
            mqtt_core::topic::validate_filter(&shared),
            Err(mqtt_core::topic::TopicError::SharedGroupWildcard)
        );
    }
}
