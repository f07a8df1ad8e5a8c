//! The client's obligations in MQTT 3.1.1 (`client-obligations.csv`), checked
//! on the sans-IO client against a scripted peer on a virtual clock.
//!
//! Each test is named after the statement(s) it checks: `mqtt_4_3_2_1_...`
//! checks [MQTT-4.3.2-1], so `cargo test -p mqtt-core mqtt_4_3_2_1_` runs it.
//! `docs/conformance.md` maps every statement to its tests. Codec-level
//! checks of the same statements are in `codec_packets.rs`; these tests look
//! at what the client itself puts on the wire and how it reacts to what it
//! receives.

use mqtt_core::client::ProtocolError;
use mqtt_core::codec::{DecodeError, EncodeError, PacketType, QoS, Will};
use mqtt_core::topic::TopicError;
use mqtt_core::{ClientError, Config, DisconnectReason, LinkAction, State};

mod common;
use common::*;

/// Feeds `bytes` after CONNACK and expects the client to close the link
/// itself with one `Disconnected`; returns its reason.
fn violation_after_connect(bytes: &[u8]) -> DisconnectReason {
    let mut p = Peer::new();
    p.connect();
    let evs = p.feed(bytes);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close), "the client closes the link itself");
    assert!(p.drain().is_empty(), "nothing is sent in answer");
    match evs.as_slice() {
        [Ev::Disconnected(r)] => *r,
        other => panic!("expected one Disconnected, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// 1.5.3 UTF-8 strings
// ---------------------------------------------------------------------------

#[test]
fn mqtt_1_5_3_1_an_encoded_surrogate_from_the_server_closes_the_link() {
    // Topic "\u{D800}" as CESU bytes ED A0 80: not UTF-8.
    let r = violation_after_connect(&[0x30, 5, 0, 3, 0xed, 0xa0, 0x80]);
    assert_eq!(r, DisconnectReason::Protocol(ProtocolError::Malformed(DecodeError::InvalidUtf8)));
}

#[test]
fn mqtt_1_5_3_2_a_null_character_from_the_server_closes_the_link() {
    let r = violation_after_connect(&[0x30, 5, 0, 3, b'a', 0, b'b']);
    assert_eq!(r, DisconnectReason::Protocol(ProtocolError::Malformed(DecodeError::NullCharacter)));
}

#[test]
fn mqtt_1_5_3_2_mqtt_4_7_3_2_null_characters_are_refused_in_every_string_the_client_sends() {
    let mut p = Peer::new();
    p.connect();
    let nul = ClientError::Encode(EncodeError::NullCharacter);
    let topic_nul = ClientError::Topic(TopicError::NullCharacter);
    assert_eq!(p.c.publish("a\0b", b"", QoS::AtMostOnce, false), Err(topic_nul));
    assert_eq!(p.c.publish("a\0b", b"", QoS::AtLeastOnce, false), Err(topic_nul));
    assert_eq!(p.c.subscribe(&[("a/\0", QoS::AtMostOnce)]), Err(topic_nul));
    assert_eq!(p.c.unsubscribe(&["\0"]), Err(topic_nul));
    assert!(p.drain().is_empty(), "nothing was queued");
    assert_eq!(new_client_error(Config::new("id\0")), nul);
    assert_eq!(Config { username: Some("u\0"), ..Config::new("c") }.connect_len(), Err(nul));
    let will = Will { topic: "w\0", message: b"", qos: QoS::AtMostOnce, retain: false };
    assert_eq!(Config { will: Some(will), ..Config::new("c") }.connect_len(), Err(nul));
    // None of the refusals used up a packet id.
    assert_eq!(p.c.publish("ok", b"", QoS::AtLeastOnce, false), Ok(Some(1)));
}

#[test]
fn mqtt_1_5_3_3_a_bom_goes_out_and_comes_in_unchanged() {
    let mut p = Peer::new();
    p.connect();
    p.c.publish("\u{FEFF}a", b"x", QoS::AtMostOnce, false).unwrap();
    assert_eq!(p.drain(), [0x30, 7, 0, 4, 0xef, 0xbb, 0xbf, b'a', b'x']);
    let evs = p.feed(&[0x30, 7, 0, 4, 0xef, 0xbb, 0xbf, b'b', b'y']);
    assert_eq!(evs, [msg("\u{FEFF}b", b"y", QoS::AtMostOnce, false)]);
}

// ---------------------------------------------------------------------------
// 2.2.2 flags
// ---------------------------------------------------------------------------

/// Every kind of packet the client sends, in one session, with its flags.
#[test]
fn mqtt_2_2_2_1_every_packet_the_client_sends_has_the_table_2_2_flags() {
    let mut p = Peer::new();
    let mut sent = p.connect();
    p.c.subscribe(&[("s/#", QoS::AtLeastOnce)]).unwrap();
    p.c.unsubscribe(&["s/#"]).unwrap();
    p.c.publish("q0", b"", QoS::AtMostOnce, false).unwrap();
    p.c.publish("q1", b"", QoS::AtLeastOnce, true).unwrap();
    assert!(p.c.ping(p.now));
    sent.extend(p.drain());
    p.feed(&inbound_publish("in", b"", QoS::AtLeastOnce, Some(5)));
    sent.extend(p.drain());
    p.feed(&[0x40, 2, 0, 3]); // PUBACK of the QoS 1 publish
    p.c.disconnect(p.now);
    sent.extend(p.drain());
    let firsts: Vec<(PacketType, u8)> = packets(&sent).iter().map(|(t, b)| (*t, b[0])).collect();
    assert_eq!(
        firsts,
        [
            (PacketType::Connect, 0x10),
            (PacketType::PingReq, 0xc0),
            (PacketType::Subscribe, 0x82),
            (PacketType::Unsubscribe, 0xa2),
            (PacketType::Publish, 0x30),
            (PacketType::Publish, 0x33),
            (PacketType::PubAck, 0x40),
            (PacketType::Disconnect, 0xe0),
        ]
    );
}

#[test]
fn mqtt_3_14_1_1_the_disconnect_the_client_sends_has_no_flags_and_no_body() {
    let mut p = Peer::new();
    p.connect();
    p.c.disconnect(p.now);
    assert_eq!(p.drain(), [0xe0, 0x00]);
}

#[test]
fn mqtt_3_8_1_1_mqtt_3_8_3_4_the_subscribe_the_client_sends_has_flags_0010_and_clean_qos_bytes() {
    let mut p = Peer::new();
    p.connect();
    let id = p.c.subscribe(&[("a", QoS::AtMostOnce), ("b/+", QoS::AtLeastOnce)]).unwrap();
    // 0x82; id; "a" QoS 0; "b/+" QoS 1: requested-QoS bytes have bits 7-2 clear.
    assert_eq!(p.drain(), [0x82, 12, 0, id as u8, 0, 1, b'a', 0x00, 0, 3, b'b', b'/', b'+', 0x01]);
}

// ---------------------------------------------------------------------------
// 2.3.1 packet identifiers
// ---------------------------------------------------------------------------

/// With all 65,535 ids in use, an id comes free exactly when its
/// acknowledgement (SUBACK, UNSUBACK, PUBACK) has been processed.
#[test]
fn mqtt_2_3_1_3_an_id_is_reusable_once_its_suback_unsuback_or_puback_is_processed() {
    let mut p = Peer::with(Config::new("reuse"), 1 << 20, 2 << 20);
    p.connect();
    assert_eq!(p.c.subscribe(&[("s", QoS::AtMostOnce)]), Ok(1));
    assert_eq!(p.c.unsubscribe(&["u"]), Ok(2));
    for expected in 3..=u16::MAX {
        assert_eq!(p.c.publish("a", b"", QoS::AtLeastOnce, false), Ok(Some(expected)));
    }
    p.drain();
    let exhausted = |p: &mut Peer| {
        assert_eq!(p.c.publish("a", b"", QoS::AtLeastOnce, false), Err(ClientError::NoPacketId));
        assert_eq!(p.c.subscribe(&[("s", QoS::AtMostOnce)]), Err(ClientError::NoPacketId));
        assert_eq!(p.c.unsubscribe(&["u"]), Err(ClientError::NoPacketId));
    };
    exhausted(&mut p);
    // Events that are not acknowledgements free nothing.
    assert!(p.c.ping(p.now));
    p.drain();
    assert_eq!(p.feed(&PINGRESP), [Ev::Pong]);
    assert_eq!(p.feed(&inbound_publish("x", b"", QoS::AtLeastOnce, Some(7))).len(), 1);
    p.drain();
    exhausted(&mut p);

    assert_eq!(p.feed(&suback(1, &[0])), [Ev::Subscribed { id: 1, codes: vec![0] }]);
    assert_eq!(p.c.publish("a", b"", QoS::AtLeastOnce, false), Ok(Some(1)));
    exhausted(&mut p);
    assert_eq!(p.feed(&unsuback(2)), [Ev::Unsubscribed(2)]);
    assert_eq!(p.c.subscribe(&[("s", QoS::AtMostOnce)]), Ok(2));
    exhausted(&mut p);
    assert_eq!(p.feed(&puback(40_000)), [Ev::Published(40_000)]);
    assert_eq!(p.c.unsubscribe(&["u"]), Ok(40_000));
    exhausted(&mut p);
}

#[test]
fn mqtt_2_3_1_6_the_puback_carries_the_id_of_the_publish_it_answers() {
    let mut p = Peer::new();
    p.connect();
    for id in [1u16, 0x00ff, 0x0100, 0x1234, 0x8001, 0xfffe, 0xffff] {
        assert_eq!(p.feed(&inbound_publish("t", b"", QoS::AtLeastOnce, Some(id))).len(), 1);
        let [hi, lo] = id.to_be_bytes();
        assert_eq!(p.drain(), [0x40, 0x02, hi, lo], "id {id:#06x}");
    }
}

// ---------------------------------------------------------------------------
// 3.1 CONNECT
// ---------------------------------------------------------------------------

fn sent_connect(config: Config<'_>) -> Vec<u8> {
    let mut p = Peer::with(config, 4096, 4096);
    let sent = p.open_link();
    assert_eq!(types(&sent), [PacketType::Connect]);
    sent
}

/// The CONNECT flags byte (offset 9: fixed header 2, protocol name 6, level 1).
fn flags(connect: &[u8]) -> u8 {
    assert!(connect[1] < 0x80, "one-byte remaining length assumed");
    connect[9]
}

#[test]
fn mqtt_3_1_2_9_a_configured_will_goes_in_the_connect_after_the_client_id() {
    let will = Will { topic: "dev/1/status", message: b"gone", qos: QoS::AtLeastOnce, retain: true };
    let sent = sent_connect(Config { will: Some(will), ..Config::new("dev1") });
    assert_eq!(flags(&sent), 0x02 | 0x04 | 0x08 | 0x20, "clean session, will, will QoS 1, will retain");
    let mut payload = vec![0, 4];
    payload.extend_from_slice(b"dev1");
    payload.extend_from_slice(&[0, 12]);
    payload.extend_from_slice(b"dev/1/status");
    payload.extend_from_slice(&[0, 4]);
    payload.extend_from_slice(b"gone");
    assert_eq!(&sent[12..], &payload[..]);
    assert_eq!(connect_of(&sent).will, Some(will));
}

#[test]
fn mqtt_3_1_2_11_without_a_will_no_will_flags_and_no_will_fields() {
    let sent = sent_connect(Config::new("c"));
    assert_eq!(flags(&sent) & 0x3c, 0, "will flag, will QoS and will retain all 0");
    assert_eq!(&sent[12..], &[0, 1, b'c'], "only the client id in the payload");
}

#[test]
fn mqtt_3_1_2_13_without_a_will_the_will_qos_is_0() {
    for config in [Config::new("c"), Config { username: Some("u"), password: Some(b"p"), ..Config::new("c") }] {
        assert_eq!(flags(&sent_connect(config)) & 0x18, 0);
    }
}

#[test]
fn mqtt_3_1_2_14_the_will_qos_on_the_wire_is_0_1_or_2_never_3() {
    for (qos, bits) in [(QoS::AtMostOnce, 0), (QoS::AtLeastOnce, 1), (QoS::ExactlyOnce, 2)] {
        let will = Will { topic: "w", message: b"m", qos, retain: false };
        let sent = sent_connect(Config { will: Some(will), ..Config::new("c") });
        assert_eq!((flags(&sent) >> 3) & 3, bits);
    }
}

#[test]
fn mqtt_3_1_2_15_without_a_will_the_will_retain_flag_is_0() {
    let sent = sent_connect(Config { clean_session: false, ..Config::new("c") });
    assert_eq!(flags(&sent) & 0x20, 0);
}

#[test]
fn mqtt_3_1_2_18_mqtt_3_1_2_20_no_user_name_or_password_without_their_flags() {
    let sent = sent_connect(Config::new("c"));
    assert_eq!(flags(&sent) & 0xc0, 0);
    assert_eq!(&sent[12..], &[0, 1, b'c']);
    let sent = sent_connect(Config { username: Some("user"), ..Config::new("c") });
    assert_eq!(flags(&sent) & 0xc0, 0x80, "user name without password");
    assert_eq!(&sent[12..], &[0, 1, b'c', 0, 4, b'u', b's', b'e', b'r'], "no password field");
}

#[test]
fn mqtt_3_1_2_19_mqtt_3_1_2_21_user_name_and_password_follow_their_flags() {
    let sent = sent_connect(Config { username: Some("user"), password: Some(&[0u8, 0xff][..]), ..Config::new("c") });
    assert_eq!(flags(&sent), 0x80 | 0x40 | 0x02);
    assert_eq!(&sent[12..], &[0, 1, b'c', 0, 4, b'u', b's', b'e', b'r', 0, 2, 0, 0xff]);
}

#[test]
fn mqtt_3_1_2_22_a_password_without_a_user_name_is_refused_when_the_client_is_made() {
    let config = Config { password: Some(b"secret"), ..Config::new("c") };
    assert_eq!(config.connect_len(), Err(ClientError::Encode(EncodeError::PasswordWithoutUsername)));
    assert_eq!(new_client_error(config), ClientError::Encode(EncodeError::PasswordWithoutUsername));
}

#[test]
fn mqtt_3_1_3_1_mqtt_3_1_3_3_payload_fields_go_out_in_order_client_id_first() {
    let will = Will { topic: "W", message: b"M", qos: QoS::AtMostOnce, retain: false };
    let sent = sent_connect(Config { will: Some(will), username: Some("U"), password: Some(b"P"), ..Config::new("C") });
    assert_eq!(&sent[12..], &[0, 1, b'C', 0, 1, b'W', 0, 1, b'M', 0, 1, b'U', 0, 1, b'P']);
}

#[test]
fn mqtt_3_1_3_2_the_same_client_id_and_connect_go_out_on_every_reconnect() {
    let will = Will { topic: "w", message: b"m", qos: QoS::AtLeastOnce, retain: false };
    let config = Config {
        clean_session: false,
        will: Some(will),
        username: Some("u"),
        password: Some(b"p"),
        ..Config::new("sensor-\u{e9}-42")
    };
    let mut p = Peer::reconnecting(config);
    let first = p.connect();
    assert_eq!(connect_of(&first).client_id, "sensor-\u{e9}-42");
    assert!(!connect_of(&first).clean_session);
    // A dropped link, a failed TCP connect, a CONNACK refusal, a timeout: the
    // CONNECT of each later attempt is the same bytes.
    p.drop_link();
    assert_eq!(p.connect(), first);
    p.drop_link();
    p.advance(mqtt_core::client::MIN_RECONNECT_DELAY_MS);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Open));
    p.c.handle_link_down(p.now, DisconnectReason::ConnectFailed);
    p.events();
    assert_eq!(p.open_link(), first);
    p.feed(&[0x20, 2, 0, 3]); // server unavailable
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert_eq!(p.open_link(), first);
    p.advance(10_000); // no CONNACK in time
    p.events();
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert_eq!(p.connect(), first);
}

#[test]
fn mqtt_3_1_3_4_mqtt_3_1_3_10_mqtt_3_1_3_11_connect_strings_go_out_as_the_utf8_given() {
    let will = Will { topic: "\u{e9}t\u{e9}/\u{2603}", message: b"", qos: QoS::AtMostOnce, retain: false };
    let config =
        Config { will: Some(will), username: Some("\u{fc}ser-\u{1f600}"), ..Config::new("\u{4e2d}\u{6587}-id") };
    let sent = sent_connect(config);
    let c = connect_of(&sent);
    assert_eq!(c.client_id.as_bytes(), "\u{4e2d}\u{6587}-id".as_bytes());
    assert_eq!(c.will.unwrap().topic.as_bytes(), "\u{e9}t\u{e9}/\u{2603}".as_bytes());
    assert_eq!(c.username.unwrap().as_bytes(), "\u{fc}ser-\u{1f600}".as_bytes());
    // A will topic must be a topic name too (no wildcards).
    let will = Will { topic: "w/#", message: b"", qos: QoS::AtMostOnce, retain: false };
    assert_eq!(
        new_client_error(Config { will: Some(will), ..Config::new("c") }),
        ClientError::Encode(EncodeError::InvalidTopic)
    );
}

#[test]
fn mqtt_3_1_3_7_an_empty_client_id_needs_clean_session() {
    let config = Config { clean_session: false, ..Config::new("") };
    assert_eq!(new_client_error(config), ClientError::Encode(EncodeError::EmptyClientIdNeedsCleanSession));
    let sent = sent_connect(Config::new(""));
    assert_eq!(flags(&sent) & 0x02, 0x02);
    assert_eq!(&sent[12..], &[0, 0]);
}

// ---------------------------------------------------------------------------
// 3.1.2-6 clean session: what does not cross from one link to the next
// ---------------------------------------------------------------------------

#[test]
fn mqtt_3_1_2_6_a_subscribe_sent_on_the_old_link_is_forgotten() {
    let mut p = Peer::reconnecting(Config::new("cs"));
    p.connect();
    let id = p.c.subscribe(&[("a/#", QoS::AtLeastOnce)]).unwrap();
    assert_eq!(types(&p.drain()), [PacketType::Subscribe]);
    p.drop_link();
    p.connect();
    assert!(p.drain().is_empty(), "the SUBSCRIBE is not replayed (the handler re-subscribes)");
    // A SUBACK for it on the new session is for an id the client no longer awaits.
    let evs = p.feed(&suback(id, &[1]));
    assert_eq!(evs, [Ev::Disconnected(DisconnectReason::Protocol(ProtocolError::UnknownPacketId(PacketType::SubAck)))]);
}

/// What the application queued and the old link never carried is not state
/// of the old session: it goes out, whole, on the next link.
#[test]
fn mqtt_3_1_2_6_a_subscribe_not_yet_sent_goes_out_on_the_next_link() {
    let mut p = Peer::reconnecting(Config::new("cs"));
    p.connect();
    let id = p.c.subscribe(&[("a/#", QoS::AtLeastOnce)]).unwrap();
    p.c.advance_transmit(p.now, 3); // cut mid-way
    p.drop_link();
    p.connect();
    assert_eq!(types(&p.drain()), [PacketType::Subscribe]);
    assert_eq!(p.feed(&suback(id, &[1])), [Ev::Subscribed { id, codes: vec![1] }]);
}

#[test]
fn mqtt_3_1_2_6_a_puback_owed_on_the_old_link_is_not_sent_on_the_new_one() {
    let mut p = Peer::reconnecting(Config::new("cs"));
    p.connect();
    assert_eq!(p.feed(&inbound_publish("in", b"x", QoS::AtLeastOnce, Some(9))).len(), 1);
    // The PUBACK is queued but the link drops before the socket takes it.
    assert!(!p.c.poll_transmit().is_empty());
    p.drop_link();
    assert_eq!(types(&p.connect()), [PacketType::Connect]);
    assert!(p.drain().is_empty(), "no PUBACK for a PUBLISH of the old session");
}

#[test]
fn mqtt_3_1_2_6_ping_state_and_received_bytes_do_not_cross_links() {
    let mut p = Peer::reconnecting(Config { keep_alive_secs: 10, ..Config::new("cs") });
    p.connect();
    p.advance(5_000);
    assert_eq!(types(&p.drain()), [PacketType::PingReq]);
    // Half a PUBLISH arrives, then the link drops while the PINGRESP is due.
    let half = inbound_publish("half", b"0123456789", QoS::AtMostOnce, None);
    assert!(p.feed(&half[..6]).is_empty());
    p.advance(1_000);
    p.drop_link();
    p.open_link();
    // The stale half packet does not swallow the new CONNACK.
    assert_eq!(p.feed(&CONNACK_OK), [Ev::Connected]);
    // The old PINGRESP deadline (at +10 s) is gone; keep-alive restarts from CONNACK.
    p.advance(4_999);
    assert!(p.drain().is_empty());
    assert_eq!(p.c.state(), State::Connected);
    p.advance(1);
    assert_eq!(types(&p.drain()), [PacketType::PingReq]);
    assert_eq!(p.feed(&PINGRESP), [Ev::Pong]);
}

#[test]
fn mqtt_3_1_2_6_mqtt_4_4_0_1_unacknowledged_qos1_is_the_only_state_that_crosses_links() {
    let mut p = Peer::reconnecting(Config::new("cs"));
    p.connect();
    let sub = p.c.subscribe(&[("s", QoS::AtLeastOnce)]).unwrap();
    let q1 = p.c.publish("q1", b"1", QoS::AtLeastOnce, false).unwrap().unwrap();
    p.drain();
    p.feed(&inbound_publish("in", b"", QoS::AtLeastOnce, Some(77)));
    assert!(p.c.ping(p.now));
    p.drop_link();
    p.connect();
    let again = p.drain();
    assert_eq!(published(&again), [("q1".to_string(), Some(q1), true)]);
    assert_eq!(types(&again), [PacketType::Publish], "no SUBSCRIBE, PUBACK or PINGREQ of the old link");
    assert_ne!(sub, q1);
}

// ---------------------------------------------------------------------------
// 3.3 PUBLISH
// ---------------------------------------------------------------------------

#[test]
fn mqtt_3_3_1_4_a_publish_with_qos_3_from_the_server_closes_the_link() {
    for first in [0x36u8, 0x37, 0x3e] {
        let r = violation_after_connect(&[first, 5, 0, 1, b'a', 0, 1]);
        assert_eq!(r, DisconnectReason::Protocol(ProtocolError::Malformed(DecodeError::InvalidQoS)), "{first:#04x}");
    }
}

#[test]
fn mqtt_3_3_2_1_the_topic_name_is_the_first_field_of_the_publish() {
    let mut p = Peer::new();
    p.connect();
    let id = p.c.publish("\u{e9}/x", b"pl", QoS::AtLeastOnce, false).unwrap().unwrap();
    // Topic length 4 ("é" is 2 bytes), topic, then the packet id, then the payload.
    assert_eq!(p.drain(), [0x32, 10, 0, 4, 0xc3, 0xa9, b'/', b'x', 0, id as u8, b'p', b'l']);
}

#[test]
fn mqtt_3_3_2_2_mqtt_4_7_1_1_publish_to_a_topic_with_wildcards_is_refused() {
    let mut p = Peer::new();
    p.connect();
    let free = p.c.outbound_free();
    for topic in ["a/+", "+", "#", "a/#", "a+b", "a#"] {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            assert_eq!(
                p.c.publish(topic, b"x", qos, false),
                Err(ClientError::Topic(TopicError::WildcardInName)),
                "{topic}"
            );
        }
    }
    assert_eq!(p.c.outbound_free(), free);
    assert_eq!(p.c.inflight(), 0);
    assert!(p.drain().is_empty());
}

/// Table 3.4: QoS 0 - none; QoS 1 - PUBACK; QoS 2 - PUBREC, which this
/// client never asks for (it subscribes at QoS 0 or 1 only), so a QoS 2
/// PUBLISH is a violation and gets no PUBREC.
#[test]
fn mqtt_3_3_4_1_the_response_follows_table_3_4() {
    let mut p = Peer::new();
    p.connect();
    assert_eq!(p.feed(&inbound_publish("t", b"0", QoS::AtMostOnce, None)).len(), 1);
    assert!(p.drain().is_empty(), "QoS 0: no response");
    let retained_qos0 = inbound_publish_flags("t", b"0", QoS::AtMostOnce, None, false, true);
    assert_eq!(p.feed(&retained_qos0).len(), 1);
    assert!(p.drain().is_empty(), "QoS 0 retained: no response");
    assert_eq!(p.feed(&inbound_publish("t", b"1", QoS::AtLeastOnce, Some(3))).len(), 1);
    assert_eq!(p.drain(), puback(3), "QoS 1: PUBACK");
    let redelivered = inbound_publish_flags("t", b"1", QoS::AtLeastOnce, Some(4), true, true);
    assert_eq!(p.feed(&redelivered), [msg("t", b"1", QoS::AtLeastOnce, true)]);
    assert_eq!(p.drain(), puback(4), "QoS 1 with DUP and RETAIN: PUBACK");
    assert_eq!(
        p.feed(&inbound_publish("t", b"2", QoS::ExactlyOnce, Some(5))),
        [msg("t", b"2", QoS::ExactlyOnce, false)]
    );
    assert_eq!(p.drain(), pubrec(5), "QoS 2: PUBREC");
}

// ---------------------------------------------------------------------------
// 3.8 / 3.10 SUBSCRIBE and UNSUBSCRIBE
// ---------------------------------------------------------------------------

#[test]
fn mqtt_3_8_3_1_mqtt_3_10_3_1_filters_go_out_as_utf8_packed_contiguously() {
    let mut p = Peer::new();
    p.connect();
    let id = p.c.unsubscribe(&["\u{e9}/+", "b/#"]).unwrap();
    assert_eq!(p.drain(), [0xa2, 13, 0, id as u8, 0, 4, 0xc3, 0xa9, b'/', b'+', 0, 3, b'b', b'/', b'#']);
    let id = p.c.subscribe(&[("\u{e9}", QoS::AtLeastOnce)]).unwrap();
    assert_eq!(p.drain(), [0x82, 7, 0, id as u8, 0, 2, 0xc3, 0xa9, 1]);
}

#[test]
fn mqtt_3_8_3_3_a_subscribe_without_filters_is_refused_and_takes_no_id() {
    let mut p = Peer::new();
    p.connect();
    assert_eq!(p.c.subscribe(&[]), Err(ClientError::Encode(EncodeError::Empty)));
    assert!(p.drain().is_empty());
    assert_eq!(p.c.subscribe(&[("a", QoS::AtMostOnce)]), Ok(1));
}

#[test]
fn mqtt_3_10_3_2_an_unsubscribe_without_filters_is_refused_and_takes_no_id() {
    let mut p = Peer::new();
    p.connect();
    assert_eq!(p.c.unsubscribe(&[]), Err(ClientError::Encode(EncodeError::Empty)));
    assert!(p.drain().is_empty());
    assert_eq!(p.c.unsubscribe(&["a"]), Ok(1));
}

// ---------------------------------------------------------------------------
// 3.14 DISCONNECT
// ---------------------------------------------------------------------------

#[test]
fn mqtt_3_14_4_2_nothing_is_sent_after_disconnect() {
    let mut p = Peer::with(Config { keep_alive_secs: 2, ..Config::new("bye") }, 4096, 4096);
    p.connect();
    p.c.disconnect(p.now);
    // The socket takes one byte of DISCONNECT; meanwhile a QoS 1 PUBLISH
    // arrives and the keep-alive interval passes.
    p.c.advance_transmit(p.now, 1);
    let evs = p.feed(&inbound_publish("late", b"", QoS::AtLeastOnce, Some(3)));
    assert_eq!(evs, [msg("late", b"", QoS::AtLeastOnce, false)]);
    p.advance(1_500);
    assert!(!p.c.ping(p.now), "no PINGREQ once DISCONNECT is queued");
    assert_eq!(p.drain(), [0x00], "only the rest of DISCONNECT: no PUBACK, no PINGREQ");
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert_eq!(p.events(), [Ev::Disconnected(DisconnectReason::Requested)]);
    assert_eq!(p.c.state(), State::Closed);

    assert!(p.c.poll_transmit().is_empty());
    assert_eq!(p.c.publish("a", b"", QoS::AtMostOnce, false), Err(ClientError::Closed));
    assert_eq!(p.c.publish("a", b"", QoS::AtLeastOnce, false), Err(ClientError::Closed));
    assert_eq!(p.c.subscribe(&[("a", QoS::AtMostOnce)]), Err(ClientError::Closed));
    assert_eq!(p.c.unsubscribe(&["a"]), Err(ClientError::Closed));
    assert_eq!(p.c.connect(p.now), Err(ClientError::Closed));
    assert!(!p.c.ping(p.now));
    assert_eq!(p.c.handle_input(&PINGRESP), 0, "nothing is read either");
    p.advance(3_600_000);
    assert!(p.c.poll_transmit().is_empty());
    assert_eq!(p.c.poll_action(), None);
    assert_eq!(p.c.poll_timeout(), None);
}

// ---------------------------------------------------------------------------
// 4.1 session state, 4.3 QoS 0 and 1, 4.4 re-delivery
// ---------------------------------------------------------------------------

#[test]
fn mqtt_4_1_0_1_mqtt_4_1_0_2_unacknowledged_qos1_is_kept_through_failed_attempts_until_its_puback() {
    let mut p = Peer::reconnecting(Config::new("keep"));
    p.connect();
    let id = p.c.publish("k", b"v", QoS::AtLeastOnce, false).unwrap().unwrap();
    p.drain();
    p.drop_link();
    assert_eq!(p.c.inflight(), 1);
    // Attempt 1: TCP refused.
    p.advance(mqtt_core::client::MIN_RECONNECT_DELAY_MS);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Open));
    p.c.handle_link_down(p.now, DisconnectReason::ConnectFailed);
    p.events();
    // Attempt 2: CONNACK refused.
    p.open_link();
    p.feed(&[0x20, 2, 0, 3]);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    // Attempt 3: no CONNACK in time.
    p.open_link();
    p.advance(10_000);
    p.events();
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert_eq!(p.c.inflight(), 1);
    // Attempt 4 succeeds: the message goes again; the link drops once more
    // before the PUBACK, so it goes again on the next link too.
    p.connect();
    assert_eq!(published(&p.drain()), [("k".to_string(), Some(id), true)]);
    p.drop_link();
    p.connect();
    assert_eq!(published(&p.drain()), [("k".to_string(), Some(id), true)]);
    assert_eq!(p.feed(&puback(id)), [Ev::Published(id)]);
    assert_eq!(p.c.inflight(), 0);
    // Acknowledged: the next link sends nothing again.
    p.drop_link();
    p.connect();
    assert!(p.drain().is_empty());
}

#[test]
fn mqtt_4_3_1_1_qos0_goes_out_with_qos_0_and_dup_0_even_when_sent_again_after_a_cut() {
    let mut p = Peer::reconnecting(Config::new("q0"));
    p.connect();
    p.c.publish("r", b"retained", QoS::AtMostOnce, true).unwrap();
    let whole = p.c.poll_transmit().to_vec();
    assert_eq!(whole[0], 0x31, "QoS 0, DUP 0, RETAIN 1");
    p.c.advance_transmit(p.now, 3);
    p.drop_link();
    p.connect();
    assert_eq!(p.drain(), whole, "sent again whole, still DUP 0");
}

#[test]
fn mqtt_4_3_2_1_each_qos1_message_gets_a_new_id_dup_0_and_stays_unacknowledged_until_its_puback() {
    let mut p = Peer::reconnecting(Config::new("q1"));
    p.connect();
    let ids: Vec<u16> =
        (0..3).map(|_| p.c.publish("same", b"same", QoS::AtLeastOnce, false).unwrap().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3], "a new id for each message, even the same content");
    let sent = p.drain();
    for (_, b) in packets(&sent) {
        assert_eq!(b[0], 0x32, "QoS 1, DUP 0 the first time");
    }
    assert_eq!(published(&sent).iter().map(|(_, id, _)| id.unwrap()).collect::<Vec<_>>(), ids);
    assert_eq!(p.c.inflight(), 3);
    // PUBACK for 2 settles 2 only.
    assert_eq!(p.feed(&puback(2)), [Ev::Published(2)]);
    assert_eq!(p.c.inflight(), 2);
    // A second PUBACK for 2 is not for a message awaiting one.
    let mut q = Peer::new();
    q.connect();
    q.c.publish("x", b"", QoS::AtLeastOnce, false).unwrap();
    q.drain();
    q.feed(&puback(1));
    assert!(matches!(q.feed(&puback(1)).as_slice(), [Ev::Disconnected(DisconnectReason::Protocol(_))]));
    // 1 and 3 are still unacknowledged: they go again after a reconnect.
    p.drop_link();
    p.connect();
    assert_eq!(published(&p.drain()), [("same".into(), Some(1), true), ("same".into(), Some(3), true)]);
}

#[test]
fn mqtt_4_3_2_2_after_its_puback_the_same_id_is_a_new_publication_even_with_dup() {
    let mut p = Peer::new();
    p.connect();
    assert_eq!(
        p.feed(&inbound_publish("t", b"first", QoS::AtLeastOnce, Some(5))),
        [msg("t", b"first", QoS::AtLeastOnce, false)]
    );
    assert_eq!(p.drain(), puback(5));
    let again = inbound_publish_flags("t", b"second", QoS::AtLeastOnce, Some(5), true, false);
    assert_eq!(p.feed(&again), [msg("t", b"second", QoS::AtLeastOnce, true)], "delivered, not dropped as a duplicate");
    assert_eq!(p.drain(), puback(5));
    let third = inbound_publish("t", b"third", QoS::AtLeastOnce, Some(5));
    assert_eq!(p.feed(&third), [msg("t", b"third", QoS::AtLeastOnce, false)]);
    assert_eq!(p.drain(), puback(5));
}

#[test]
fn mqtt_4_4_0_1_with_clean_session_0_unacknowledged_qos1_is_resent_with_its_original_id() {
    let mut p = Peer::reconnecting(Config { clean_session: false, ..Config::new("persistent") });
    assert_eq!(flags(&p.connect()) & 0x02, 0);
    let a = p.c.publish("p", b"a", QoS::AtLeastOnce, false).unwrap().unwrap();
    let b = p.c.publish("p", b"b", QoS::AtLeastOnce, false).unwrap().unwrap();
    p.drain();
    p.drop_link();
    p.open_link();
    assert_eq!(p.feed(&[0x20, 2, 1, 0]), [Ev::Connected], "session present");
    let again = p.drain();
    assert_eq!(published(&again), [("p".into(), Some(a), true), ("p".into(), Some(b), true)]);
    let payloads: Vec<Vec<u8>> = packets(&again).iter().map(|(_, b)| publish_of(b).payload.to_vec()).collect();
    assert_eq!(payloads, [b"a".to_vec(), b"b".to_vec()]);
}

// ---------------------------------------------------------------------------
// 4.5 acknowledging what is not wanted, 4.6 order
// ---------------------------------------------------------------------------

#[test]
fn mqtt_4_5_0_2_a_message_the_client_never_asked_for_is_still_acknowledged() {
    let mut p = Peer::new();
    p.connect();
    // No subscription at all: the server assigned one, or it is late.
    assert!(p.c.poll_event(p.now).is_none());
    p.c.handle_input(&inbound_publish("never/subscribed", b"x", QoS::AtLeastOnce, Some(11)));
    // The application looks at nothing and drops the event.
    let _ = p.c.poll_event(p.now);
    assert_eq!(p.drain(), puback(11));
    // While an UNSUBSCRIBE is in progress.
    let u = p.c.unsubscribe(&["gone/#"]).unwrap();
    p.drain();
    assert_eq!(p.feed(&inbound_publish("gone/x", b"", QoS::AtLeastOnce, Some(12))).len(), 1);
    assert_eq!(p.drain(), puback(12));
    assert_eq!(p.feed(&unsuback(u)), [Ev::Unsubscribed(u)]);
    assert_eq!(p.feed(&inbound_publish("gone/x", b"", QoS::AtLeastOnce, Some(13))).len(), 1);
    assert_eq!(p.drain(), puback(13));
}

#[test]
fn mqtt_4_6_0_1_unacknowledged_messages_are_sent_again_in_their_original_order() {
    let mut p = Peer::reconnecting(Config::new("order"));
    p.connect();
    let ids: Vec<u16> = (0..5u8).map(|i| p.c.publish("o", &[i], QoS::AtLeastOnce, false).unwrap().unwrap()).collect();
    p.drain();
    // Acknowledged out of order: 2 and 4.
    p.feed(&puback(ids[3]));
    p.feed(&puback(ids[1]));
    p.c.publish("new", b"queued during the outage", QoS::AtLeastOnce, false).unwrap();
    p.drop_link();
    p.connect();
    let expect = |p: &[u16]| -> Vec<(String, Option<u16>, bool)> {
        p.iter().map(|&id| ("o".to_string(), Some(id), true)).collect()
    };
    let again = p.drain();
    let mut want = expect(&[ids[0], ids[2], ids[4]]);
    want.push(("new".into(), Some(6), false));
    assert_eq!(published(&again), want);
    // The link drops in the middle of the first re-send: same order again.
    p.drop_link();
    p.c.handle_timeout(p.now);
    p.open_link();
    p.feed(&CONNACK_OK);
    p.c.advance_transmit(p.now, 3);
    p.drop_link();
    p.connect();
    let mut want = expect(&[ids[0], ids[2], ids[4]]);
    want.push(("new".into(), Some(6), true));
    assert_eq!(published(&p.drain()), want);
}

/// Many acknowledged messages between unacknowledged ones, in a small
/// in-flight store that has to compact itself.
#[test]
fn mqtt_4_6_0_1_order_survives_the_in_flight_store_compacting() {
    let mut p = Peer::with(Config::new("squeeze"), 4096, 200);
    p.c.set_auto_reconnect(true);
    p.c.set_reconnect_delays_ms(&[0]).unwrap();
    p.connect();
    let mut held = Vec::new();
    for i in 0..60u8 {
        let id = p.c.publish("t", &[i, i], QoS::AtLeastOnce, false).unwrap().unwrap();
        p.drain();
        if i % 12 == 0 {
            held.push((id, i));
        } else {
            assert_eq!(p.feed(&puback(id)), [Ev::Published(id)]);
        }
    }
    p.drop_link();
    p.connect();
    let again: Vec<(u16, u8)> =
        packets(&p.drain()).iter().map(|(_, b)| publish_of(b)).map(|q| (q.packet_id.unwrap(), q.payload[0])).collect();
    assert_eq!(again, held);
}

#[test]
fn mqtt_4_6_0_2_pubacks_go_out_in_the_order_the_publishes_came_in() {
    let mut p = Peer::new();
    p.connect();
    // 100 ids in a scrambled order, more than the PUBACK queue holds at once.
    let order: Vec<u16> = (1..=100u16).map(|i| (i * 37) % 101 + 0x0100 * (i % 3)).collect();
    let mut stream = Vec::new();
    for &id in &order {
        stream.extend(inbound_publish("t", &id.to_be_bytes(), QoS::AtLeastOnce, Some(id)));
    }
    assert_eq!(p.c.handle_input(&stream), stream.len());
    let mut acks = Vec::new();
    let mut delivered = Vec::new();
    for _ in 0..10 {
        for e in p.events() {
            if let Ev::Message { payload, .. } = e {
                delivered.push(u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
        acks.extend(pubacks(&p.drain_by(7)));
    }
    assert_eq!(delivered, order);
    assert_eq!(acks, order);
}

// ---------------------------------------------------------------------------
// 4.7 topic names and filters
// ---------------------------------------------------------------------------

#[test]
fn mqtt_4_7_1_2_mqtt_4_7_1_3_misplaced_wildcards_are_refused_by_subscribe_and_unsubscribe() {
    let mut p = Peer::new();
    p.connect();
    for f in ["a/#/b", "#a", "a#", "a/b#", "a+", "+a", "a/b+/c", "++"] {
        let wildcard = |e: ClientError| {
            matches!(
                e,
                ClientError::Topic(TopicError::MisplacedMultiLevelWildcard | TopicError::MisplacedSingleLevelWildcard)
            )
        };
        assert!(wildcard(p.c.subscribe(&[("ok", QoS::AtMostOnce), (f, QoS::AtMostOnce)]).unwrap_err()), "{f}");
        assert!(wildcard(p.c.unsubscribe(&[f]).unwrap_err()), "{f}");
    }
    assert!(p.drain().is_empty());
    for f in ["#", "a/#", "+", "+/+/#", "/+", "a/+/b"] {
        assert!(p.c.subscribe(&[(f, QoS::AtLeastOnce)]).is_ok(), "{f}");
    }
}

#[test]
fn mqtt_4_7_3_1_empty_topics_and_filters_are_refused() {
    let mut p = Peer::new();
    p.connect();
    let empty = Err(ClientError::Topic(TopicError::Empty));
    assert_eq!(p.c.publish("", b"x", QoS::AtMostOnce, false), empty.map(|_: ()| None));
    assert_eq!(p.c.subscribe(&[("", QoS::AtMostOnce)]), empty.map(|_: ()| 0));
    assert_eq!(p.c.unsubscribe(&[""]), empty.map(|_: ()| 0));
    assert!(p.drain().is_empty());
    // One character is enough, "/" included.
    assert!(p.c.publish("/", b"x", QoS::AtMostOnce, false).is_ok());
}

#[test]
fn mqtt_4_7_3_3_topics_and_filters_over_65535_bytes_are_refused() {
    let mut p = Peer::with(Config::new("long"), 1 << 20, 1 << 20);
    p.connect();
    let over = "t".repeat(65_536);
    let too_long = ClientError::Topic(TopicError::TooLong);
    assert_eq!(p.c.publish(&over, b"", QoS::AtMostOnce, false), Err(too_long));
    assert_eq!(p.c.subscribe(&[(&over, QoS::AtMostOnce)]), Err(too_long));
    assert_eq!(p.c.unsubscribe(&[&over]), Err(too_long));
    assert!(p.drain().is_empty());
    let max = "t".repeat(65_535);
    assert_eq!(p.c.publish(&max, b"", QoS::AtMostOnce, false), Ok(None));
    assert_eq!(publish_of(&p.drain()).topic.len(), 65_535);
}

// ---------------------------------------------------------------------------
// 4.8 errors
// ---------------------------------------------------------------------------

/// A violation followed, in the same read, by a valid QoS 1 PUBLISH: the
/// link is closed at the violation and nothing after it is processed.
#[test]
fn mqtt_4_8_0_1_a_protocol_violation_closes_the_link_and_nothing_after_it_is_processed() {
    let mut p = Peer::reconnecting(Config::new("viol"));
    p.connect();
    let mut bytes = vec![0x50, 2, 0, 1]; // PUBREC for an id never sent
    bytes.extend(inbound_publish("after", b"", QoS::AtLeastOnce, Some(2)));
    let evs = p.feed(&bytes);
    assert_eq!(evs, [Ev::Disconnected(DisconnectReason::Protocol(ProtocolError::UnknownPacketId(PacketType::PubRec)))]);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert!(p.drain().is_empty(), "no PUBACK for the PUBLISH after the violation");
    assert_eq!(p.c.state(), State::WaitingToReconnect, "the client carries on");
}

/// Malformed input and a packet too large for the client's buffer (a
/// resource limit) both close the link; bytes behind them are dropped.
#[test]
fn mqtt_4_8_0_2_an_inbound_packet_that_cannot_be_processed_closes_the_link() {
    let mut p = Peer::reconnecting(Config { max_inbound_packet: 64, ..Config::new("err") });
    p.connect();
    let mut bytes = vec![0x40, 3, 0, 1, 0]; // PUBACK with a 3-byte body: malformed
    bytes.extend(inbound_publish("after", b"", QoS::AtLeastOnce, Some(2)));
    assert_eq!(
        p.feed(&bytes),
        [Ev::Disconnected(DisconnectReason::Protocol(ProtocolError::Malformed(DecodeError::LengthMismatch)))]
    );
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert!(p.drain().is_empty());
    p.connect();
    // Too large for the buffer and not a PUBLISH: refused from its header.
    let mut big = vec![0x90, 100, 0, 1];
    big.extend([0; 98]);
    let evs = p.feed(&big[..8]);
    assert!(
        matches!(evs.as_slice(), [Ev::Disconnected(DisconnectReason::Protocol(ProtocolError::Malformed(_)))]),
        "{evs:?}"
    );
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert!(p.drain().is_empty());
    p.connect();
    // A PUBLISH too large is no transient error: it is acknowledged,
    // reported and skipped without being buffered; the link stays up.
    let big = inbound_publish("big", &[0; 100], QoS::AtLeastOnce, Some(3));
    assert_eq!(p.feed(&big[..12]), [Ev::Oversized { topic: "big".into(), size: big.len(), qos: QoS::AtLeastOnce }]);
    assert_eq!(p.drain(), puback(3));
    assert_eq!(p.feed(&big[12..]), []);
    assert_eq!(p.c.state(), State::Connected);
    assert_eq!(p.feed(&inbound_publish("small", b"ok", QoS::AtLeastOnce, Some(4))).len(), 1);
    assert_eq!(p.drain(), puback(4));
}

// ---------------------------------------------------------------------------
// 7 conformance: plain 3.1.1 over any ordered lossless byte stream
// ---------------------------------------------------------------------------

#[test]
fn mqtt_7_0_0_2_the_client_speaks_plain_mqtt_3_1_1() {
    let sent = sent_connect(Config::new("plain"));
    assert_eq!(&sent[2..9], &[0, 4, b'M', b'Q', b'T', b'T', 4], "protocol name MQTT, level 4");
    // A server that sends nothing but 3.1.1 packets gets a full session.
    let mut p = Peer::new();
    p.connect();
    let s = p.c.subscribe(&[("a", QoS::AtLeastOnce)]).unwrap();
    let id = p.c.publish("a", b"x", QoS::AtLeastOnce, false).unwrap().unwrap();
    p.drain();
    assert_eq!(p.feed(&suback(s, &[1])), [Ev::Subscribed { id: s, codes: vec![1] }]);
    assert_eq!(p.feed(&puback(id)), [Ev::Published(id)]);
}

/// One scripted session; every byte in and out is the same whatever the
/// chunk sizes of the stream in either direction.
fn session_over(read_chunk: usize, write_chunk: usize) -> (Vec<u8>, Vec<Ev>) {
    let mut p = Peer::new();
    let mut out = Vec::new();
    let mut evs = Vec::new();
    let feed = |p: &mut Peer, bytes: &[u8], evs: &mut Vec<Ev>| {
        for part in bytes.chunks(read_chunk) {
            evs.extend(p.feed(part));
        }
    };
    p.c.connect(p.now).unwrap();
    assert_eq!(p.c.poll_action(), Some(LinkAction::Open));
    p.c.handle_link_up(p.now);
    out.extend(p.drain_by(write_chunk));
    feed(&mut p, &CONNACK_OK, &mut evs);
    let s = p.c.subscribe(&[("a/+", QoS::AtLeastOnce)]).unwrap();
    let id = p.c.publish("a/b", b"hello", QoS::AtLeastOnce, false).unwrap().unwrap();
    p.c.publish("a/c", &[0; 300], QoS::AtMostOnce, false).unwrap();
    assert!(p.c.ping(p.now));
    out.extend(p.drain_by(write_chunk));
    let mut inbound = suback(s, &[1]);
    inbound.extend(puback(id));
    inbound.extend(inbound_publish("a/b", b"hello", QoS::AtLeastOnce, Some(0x0102)));
    inbound.extend(inbound_publish("a/c", &[7; 300], QoS::AtMostOnce, None));
    inbound.extend(PINGRESP);
    feed(&mut p, &inbound, &mut evs);
    out.extend(p.drain_by(write_chunk));
    p.c.disconnect(p.now);
    out.extend(p.drain_by(write_chunk));
    evs.extend(p.events());
    (out, evs)
}

#[test]
fn mqtt_7_1_2_1_mqtt_6_0_0_2_the_client_works_over_any_chunking_of_the_byte_stream() {
    let (out, evs) = session_over(usize::MAX, usize::MAX);
    assert_eq!(
        types(&out),
        [
            PacketType::Connect,
            PacketType::PingReq,
            PacketType::Subscribe,
            PacketType::Publish,
            PacketType::Publish,
            PacketType::PubAck,
            PacketType::Disconnect
        ]
    );
    assert_eq!(evs.len(), 7, "{evs:?}");
    for read in [1, 2, 3, 5, 7, 64] {
        for write in [1, 2, 3, 5, 7, 64] {
            assert_eq!(session_over(read, write), (out.clone(), evs.clone()), "read {read}, write {write}");
        }
    }
}

// ---------------------------------------------------------------------------
// Keep-alive under load
// ---------------------------------------------------------------------------

/// [MQTT-3.1.2-23] with a burst of QoS 1 messages: the PUBACK queue is full
/// at the moment the keep-alive PINGREQ is due; the socket then takes every
/// byte. The PINGREQ must still go out (or the PINGRESP deadline must not
/// start), otherwise a healthy link is declared dead.
#[test]
fn mqtt_3_1_2_23_a_pingreq_due_while_the_puback_queue_is_full_is_not_lost() {
    let mut p = Peer::with(Config { keep_alive_secs: 2, ..Config::new("burst") }, 4096, 4096);
    p.connect();
    p.advance(999);
    let mut stream = Vec::new();
    for id in 1..=100u16 {
        stream.extend(inbound_publish("t", b"", QoS::AtLeastOnce, Some(id)));
    }
    assert_eq!(p.c.handle_input(&stream), stream.len());
    let first = p.events();
    assert!(first.len() < 100, "the PUBACK queue is full");
    p.advance(1); // keep-alive due now, before the socket was written
    let mut sent = Vec::new();
    for _ in 0..4 {
        sent.extend(p.drain());
        p.events();
    }
    assert_eq!(pubacks(&sent).len(), 100);
    assert!(types(&sent).contains(&PacketType::PingReq), "a PINGREQ went out once there was room");
    p.advance(999);
    assert_eq!(p.c.state(), State::Connected);
    p.feed(&PINGRESP);
    p.advance(1);
    assert_eq!(p.c.state(), State::Connected, "the link was healthy all along");
}
