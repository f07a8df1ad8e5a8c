//! QoS 2 both ways, persistent sessions and the will, on the sans-IO
//! client against a scripted peer on a virtual clock. Tests carry the ids
//! of the statements they check (`docs/conformance.md` cites them).

use mqtt_core::client::ProtocolError;
use mqtt_core::codec::{PacketType, QoS, Will};
use mqtt_core::{ClientError, Config, DisconnectReason, Event, LinkAction, State};

mod common;
use common::*;

/// A client with a persistent session that reconnects at once.
fn persistent() -> Peer {
    Peer::reconnecting(Config { clean_session: false, ..Config::new("keeper") })
}

/// Reconnects after a drop; the CONNACK says whether the session is there.
/// Returns what the client sent after the CONNACK.
fn reconnect(p: &mut Peer, session_present: bool) -> Vec<u8> {
    assert_eq!(types(&p.open_link()), [PacketType::Connect]);
    let evs: Vec<_> = {
        assert_eq!(p.c.handle_input(&connack(session_present)), 4);
        let mut v = Vec::new();
        while let Some(e) = p.c.poll_event(p.now) {
            v.push(e.to_owned_connected());
        }
        v
    };
    assert_eq!(evs, [Some(session_present)], "one Connected with the CONNACK's flag");
    p.drain()
}

trait ConnectedFlag {
    fn to_owned_connected(&self) -> Option<bool>;
}

impl ConnectedFlag for Event<'_> {
    fn to_owned_connected(&self) -> Option<bool> {
        match self {
            Event::Connected { session_present } => Some(*session_present),
            _ => None,
        }
    }
}

/// (type, packet id) of each packet: PUBLISH with its DUP flag in the type.
fn flow(bytes: &[u8]) -> Vec<(&'static str, u16)> {
    packets(bytes)
        .iter()
        .map(|(t, b)| {
            let id = || u16::from_be_bytes([b[2], b[3]]);
            match t {
                PacketType::Publish => {
                    let p = publish_of(b);
                    (if p.dup { "PUBLISH dup" } else { "PUBLISH" }, p.packet_id.unwrap_or(0))
                }
                PacketType::PubAck => ("PUBACK", id()),
                PacketType::PubRec => ("PUBREC", id()),
                PacketType::PubRel => ("PUBREL", id()),
                PacketType::PubComp => ("PUBCOMP", id()),
                other => panic!("unexpected {other:?}"),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Outbound QoS 2: PUBLISH -> PUBREC -> PUBREL -> PUBCOMP
// ---------------------------------------------------------------------------

#[test]
fn mqtt_4_3_3_1_mqtt_3_6_1_1_outbound_qos2_runs_publish_pubrec_pubrel_pubcomp() {
    let mut p = Peer::new();
    p.connect();
    assert_eq!(p.c.publish("t", b"x", QoS::ExactlyOnce, false), Ok(Some(1)));
    assert_eq!(p.drain(), [0x34, 6, 0, 1, b't', 0, 1, b'x'], "QoS 2, DUP 0, a new id");
    assert_eq!(p.c.inflight(), 1);
    assert!(p.feed(&pubrec(1)).is_empty(), "PUBREC is not the end of the flow");
    assert_eq!(p.drain(), pubrel(1), "PUBREL with flags 0010 and the id");
    assert_eq!(p.c.inflight(), 1, "unacknowledged until PUBCOMP");
    assert_eq!(p.feed(&pubcomp(1)), [Ev::Completed(1)]);
    assert_eq!(p.c.inflight(), 0);
    assert!(p.drain().is_empty());
    // The id is free again only now; counting goes on.
    assert_eq!(p.c.publish("t", b"", QoS::ExactlyOnce, false), Ok(Some(2)));
}

#[test]
fn mqtt_4_3_3_1_a_repeated_pubrec_gets_the_pubrel_again_and_nothing_else() {
    let mut p = Peer::new();
    p.connect();
    p.c.publish("t", b"x", QoS::ExactlyOnce, false).unwrap();
    p.drain();
    p.feed(&pubrec(1));
    assert_eq!(p.drain(), pubrel(1));
    assert!(p.feed(&pubrec(1)).is_empty());
    assert_eq!(p.drain(), pubrel(1), "never the PUBLISH again once PUBREC came");
    assert_eq!(p.feed(&pubcomp(1)), [Ev::Completed(1)]);
}

#[test]
fn mqtt_4_6_0_4_pubrels_go_in_the_order_the_pubrecs_came() {
    let mut p = Peer::new();
    p.connect();
    for _ in 0..3 {
        p.c.publish("t", b"", QoS::ExactlyOnce, false).unwrap();
    }
    p.drain();
    let mut recs = pubrec(2).to_vec();
    recs.extend(pubrec(1));
    recs.extend(pubrec(3));
    assert!(p.feed(&recs).is_empty());
    assert_eq!(flow(&p.drain()), [("PUBREL", 2), ("PUBREL", 1), ("PUBREL", 3)]);
}

#[test]
fn acknowledgements_of_the_wrong_kind_are_violations() {
    use PacketType::*;
    // (what is in flight, what comes back, the violation)
    let cases: [(QoS, Vec<u8>, PacketType); 5] = [
        (QoS::AtLeastOnce, pubrec(1).to_vec(), PubRec),
        (QoS::AtLeastOnce, pubcomp(1).to_vec(), PubComp),
        (QoS::ExactlyOnce, puback(1).to_vec(), PubAck),
        (QoS::ExactlyOnce, pubcomp(1).to_vec(), PubComp), // PUBCOMP before PUBREC
        (QoS::ExactlyOnce, pubrec(9).to_vec(), PubRec),   // an id never used
    ];
    for (qos, reply, kind) in cases {
        let mut p = Peer::new();
        p.connect();
        p.c.publish("t", b"", qos, false).unwrap();
        p.drain();
        let evs = p.feed(&reply);
        assert_eq!(evs, [Ev::Disconnected(DisconnectReason::Protocol(ProtocolError::UnknownPacketId(kind)))]);
        assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    }
}

#[test]
fn the_inflight_store_bounds_qos2_like_qos1() {
    // Room for two records of 22-byte packets (8 bytes of header each).
    let payload = b"123456789012345";
    let mut p = Peer::with(Config::new("small"), 4096, 2 * (8 + 22));
    p.connect();
    assert!(p.c.publish("t", payload, QoS::ExactlyOnce, false).is_ok());
    assert!(p.c.publish("t", payload, QoS::ExactlyOnce, false).is_ok());
    assert_eq!(p.c.publish("t", b"", QoS::ExactlyOnce, false), Err(ClientError::InflightFull));
    assert!(!ClientError::InflightFull.reason().is_empty());
    p.drain();
    // A PUBREC shrinks a record to its PUBREL: room for a small one.
    p.feed(&pubrec(1));
    p.drain();
    assert!(p.c.publish("t", b"", QoS::ExactlyOnce, false).is_ok());
}

#[test]
fn disconnect_waits_for_the_pubcomp_before_disconnect() {
    let mut p = Peer::new();
    p.connect();
    p.c.publish("t", b"", QoS::ExactlyOnce, false).unwrap();
    p.drain();
    p.c.disconnect(p.now);
    assert!(p.drain().is_empty(), "the QoS 2 flow is not finished");
    p.feed(&pubrec(1));
    assert_eq!(flow(&p.drain()), [("PUBREL", 1)]);
    p.feed(&pubcomp(1));
    assert_eq!(p.drain(), [0xe0, 0]);
    assert_eq!(p.c.abandoned(), 0);
}

#[test]
fn a_disconnect_that_gives_up_says_how_many_messages_it_abandoned() {
    let mut p = Peer::new();
    p.connect();
    p.c.publish("a", b"", QoS::AtLeastOnce, false).unwrap();
    p.c.publish("b", b"", QoS::ExactlyOnce, false).unwrap();
    p.c.publish("c", b"", QoS::AtMostOnce, false).unwrap();
    p.drain();
    p.c.publish("d", b"", QoS::ExactlyOnce, false).unwrap(); // queued, never sent
    p.feed(&pubrec(2));
    p.c.disconnect(p.now);
    p.advance(60_000); // past the grace period
    assert_eq!(p.c.state(), State::Closed);
    assert_eq!(p.c.abandoned(), 3, "QoS 1 and 2 only, sent or not");
}

// ---------------------------------------------------------------------------
// Inbound QoS 2: PUBLISH -> PUBREC, PUBREL -> PUBCOMP, delivered once
// ---------------------------------------------------------------------------

#[test]
fn mqtt_4_3_3_2_inbound_qos2_is_delivered_once_and_repeats_get_pubrec_until_pubrel() {
    let mut p = Peer::new();
    p.connect();
    let first = inbound_publish("in", b"once", QoS::ExactlyOnce, Some(7));
    assert_eq!(p.feed(&first), [msg("in", b"once", QoS::ExactlyOnce, false)]);
    assert_eq!(p.drain(), pubrec(7), "PUBREC with the PUBLISH's id");
    assert_eq!(p.c.awaiting_pubrel(), 1);
    // The server sends it again (DUP) before PUBREL: not delivered again.
    let again = inbound_publish_flags("in", b"once", QoS::ExactlyOnce, Some(7), true, false);
    assert!(p.feed(&again).is_empty());
    assert_eq!(p.drain(), pubrec(7), "PUBREC again");
    assert!(p.feed(&pubrel(7)).is_empty());
    assert_eq!(p.drain(), pubcomp(7), "PUBCOMP with the PUBREL's id");
    assert_eq!(p.c.awaiting_pubrel(), 0);
    // After PUBREL the id names a new message.
    assert_eq!(p.feed(&first), [msg("in", b"once", QoS::ExactlyOnce, false)]);
}

#[test]
fn mqtt_4_3_3_2_a_pubrel_for_an_id_not_held_still_gets_its_pubcomp() {
    let mut p = Peer::new();
    p.connect();
    assert!(p.feed(&pubrel(42)).is_empty());
    assert_eq!(p.drain(), pubcomp(42));
}

#[test]
fn mqtt_4_6_0_2_mqtt_4_6_0_3_pubacks_and_pubrecs_go_in_the_order_the_publishes_came() {
    let mut p = Peer::new();
    p.connect();
    let mut bytes = inbound_publish("a", b"", QoS::ExactlyOnce, Some(3));
    bytes.extend(inbound_publish("b", b"", QoS::AtLeastOnce, Some(1)));
    bytes.extend(inbound_publish("c", b"", QoS::ExactlyOnce, Some(2)));
    bytes.extend(pubrel(3));
    bytes.extend(inbound_publish("d", b"", QoS::ExactlyOnce, Some(9)));
    assert_eq!(p.feed(&bytes).len(), 4);
    assert_eq!(flow(&p.drain()), [("PUBREC", 3), ("PUBACK", 1), ("PUBREC", 2), ("PUBCOMP", 3), ("PUBREC", 9)]);
}

#[test]
fn mqtt_4_8_0_2_a_full_awaiting_pubrel_store_closes_the_link_with_a_reason() {
    let mut p = Peer::new(); // 64 ids
    p.connect();
    for id in 1..=64 {
        assert_eq!(p.feed(&inbound_publish("t", b"", QoS::ExactlyOnce, Some(id))).len(), 1);
        p.drain();
    }
    // A repeat of a held id needs no room.
    assert!(p.feed(&inbound_publish_flags("t", b"", QoS::ExactlyOnce, Some(5), true, false)).is_empty());
    p.drain();
    let evs = p.feed(&inbound_publish("t", b"", QoS::ExactlyOnce, Some(65)));
    let reason = DisconnectReason::Protocol(ProtocolError::AwaitingPubrelFull);
    assert_eq!(evs, [Ev::Disconnected(reason)]);
    assert!(reason.reason().contains("PUBREL"));
    assert!(p.drain().is_empty(), "no PUBREC for a message not taken");
}

#[test]
fn an_oversized_qos2_message_is_answered_reported_once_and_skipped() {
    let mut p = Peer::with(Config { max_inbound_packet: 128, ..Config::new("o") }, 4096, 4096);
    p.connect();
    let big = inbound_publish("big", &[1u8; 300], QoS::ExactlyOnce, Some(4));
    let size = big.len();
    assert_eq!(p.feed(&big), [Ev::Oversized { topic: "big".into(), size, qos: QoS::ExactlyOnce }]);
    assert_eq!(p.drain(), pubrec(4));
    let again = inbound_publish_flags("big", &[1u8; 300], QoS::ExactlyOnce, Some(4), true, false);
    let mut bytes = again.clone();
    bytes.extend(inbound_publish("small", b"", QoS::AtMostOnce, None));
    assert_eq!(p.feed(&bytes), [msg("small", b"", QoS::AtMostOnce, false)], "the repeat is skipped silently");
    assert_eq!(p.drain(), pubrec(4));
}

// ---------------------------------------------------------------------------
// Reconnect mid-flow: each step of both directions
// ---------------------------------------------------------------------------

#[test]
fn mqtt_4_4_0_1_mqtt_3_3_1_1_cut_after_publish_the_publish_goes_again_with_dup_and_its_id() {
    let mut p = persistent();
    p.connect();
    p.c.publish("t", b"x", QoS::ExactlyOnce, false).unwrap();
    p.drain();
    p.drop_link();
    let sent = reconnect(&mut p, true);
    assert_eq!(flow(&sent), [("PUBLISH dup", 1)]);
    assert_eq!(publish_of(&sent).payload, b"x");
    p.feed(&pubrec(1));
    assert_eq!(flow(&p.drain()), [("PUBREL", 1)]);
    assert_eq!(p.feed(&pubcomp(1)), [Ev::Completed(1)]);
    assert_eq!(p.c.inflight(), 0);
}

#[test]
fn mqtt_4_3_3_1_mqtt_4_4_0_1_cut_after_pubrec_the_pubrel_goes_and_never_the_publish() {
    let mut p = persistent();
    p.connect();
    p.c.publish("t", b"x", QoS::ExactlyOnce, false).unwrap();
    p.drain();
    p.feed(&pubrec(1));
    // The PUBREL is queued but the link drops before the socket takes it.
    assert!(!p.c.poll_transmit().is_empty());
    p.drop_link();
    assert_eq!(flow(&reconnect(&mut p, true)), [("PUBREL", 1)]);
    assert_eq!(p.feed(&pubcomp(1)), [Ev::Completed(1)]);
}

#[test]
fn mqtt_4_3_3_1_mqtt_4_4_0_1_cut_after_pubrel_the_pubrel_goes_again_once() {
    let mut p = persistent();
    p.connect();
    p.c.publish("t", b"x", QoS::ExactlyOnce, false).unwrap();
    p.drain();
    p.feed(&pubrec(1));
    assert_eq!(p.drain(), pubrel(1));
    p.drop_link();
    assert_eq!(flow(&reconnect(&mut p, true)), [("PUBREL", 1)]);
    assert_eq!(p.feed(&pubcomp(1)), [Ev::Completed(1)]);
    assert!(p.drain().is_empty());
    // A second drop after PUBCOMP re-sends nothing.
    p.drop_link();
    assert!(reconnect(&mut p, true).is_empty());
}

#[test]
fn mqtt_4_4_0_1_a_qos2_publish_cut_mid_write_goes_again_whole_with_dup() {
    let mut p = persistent();
    p.connect();
    p.c.publish("t", b"payload", QoS::ExactlyOnce, false).unwrap();
    p.c.advance_transmit(p.now, 3);
    p.drop_link();
    let sent = reconnect(&mut p, true);
    assert_eq!(flow(&sent), [("PUBLISH dup", 1)]);
    assert_eq!(publish_of(&sent).payload, b"payload");
}

#[test]
fn mqtt_4_6_0_1_mqtt_4_6_0_4_resends_keep_the_original_order_of_publishes_and_pubrels() {
    let mut p = persistent();
    p.connect();
    p.c.publish("a", b"", QoS::AtLeastOnce, false).unwrap();
    p.c.publish("b", b"", QoS::ExactlyOnce, false).unwrap();
    p.c.publish("c", b"", QoS::ExactlyOnce, false).unwrap();
    p.c.publish("d", b"", QoS::AtLeastOnce, false).unwrap();
    p.drain();
    p.feed(&pubrec(3));
    p.drain();
    p.drop_link();
    let sent = reconnect(&mut p, true);
    assert_eq!(flow(&sent), [("PUBLISH dup", 1), ("PUBLISH dup", 2), ("PUBREL", 3), ("PUBLISH dup", 4)]);
}

#[test]
fn mqtt_4_4_0_1_unacknowledged_messages_go_again_even_when_the_session_is_gone() {
    let mut p = persistent();
    p.connect();
    p.c.publish("a", b"", QoS::ExactlyOnce, false).unwrap();
    p.c.publish("b", b"", QoS::ExactlyOnce, false).unwrap();
    p.drain();
    p.feed(&pubrec(2));
    p.drain();
    p.drop_link();
    assert_eq!(flow(&reconnect(&mut p, false)), [("PUBLISH dup", 1), ("PUBREL", 2)]);
    // A server that lost the session still answers PUBREL with PUBCOMP.
    assert_eq!(p.feed(&pubcomp(2)), [Ev::Completed(2)]);
}

#[test]
fn a_pubrec_arriving_during_the_resend_turns_the_pending_publish_into_its_pubrel() {
    let mut p = persistent();
    p.connect();
    p.c.publish("a", b"", QoS::ExactlyOnce, false).unwrap();
    p.c.publish("b", b"", QoS::ExactlyOnce, false).unwrap();
    p.drain();
    p.drop_link();
    assert_eq!(types(&p.open_link()), [PacketType::Connect]);
    p.feed(&connack(true));
    // Only the first re-send goes out before a PUBREC for the second arrives.
    let first = p.c.poll_transmit().to_vec();
    let n = usize::from(first[1]) + 2;
    p.c.advance_transmit(p.now, n);
    assert!(p.feed(&pubrec(2)).is_empty());
    let mut sent = first[..n].to_vec();
    sent.extend(p.drain());
    assert_eq!(flow(&sent), [("PUBLISH dup", 1), ("PUBREL", 2)], "one PUBREL, no stale PUBLISH");
}

#[test]
fn mqtt_4_3_3_2_cut_before_pubrel_the_servers_repeat_is_answered_and_not_delivered_again() {
    let mut p = persistent();
    p.connect();
    assert_eq!(p.feed(&inbound_publish("in", b"1", QoS::ExactlyOnce, Some(5))).len(), 1);
    // The PUBREC never leaves: the link drops first.
    p.drop_link();
    assert!(reconnect(&mut p, true).is_empty());
    let again = inbound_publish_flags("in", b"1", QoS::ExactlyOnce, Some(5), true, false);
    assert!(p.feed(&again).is_empty(), "delivered once only");
    assert_eq!(p.drain(), pubrec(5));
    assert!(p.feed(&pubrel(5)).is_empty());
    assert_eq!(p.drain(), pubcomp(5));
}

#[test]
fn mqtt_4_3_3_2_cut_after_pubrec_the_servers_pubrel_gets_its_pubcomp() {
    let mut p = persistent();
    p.connect();
    assert_eq!(p.feed(&inbound_publish("in", b"1", QoS::ExactlyOnce, Some(5))).len(), 1);
    assert_eq!(p.drain(), pubrec(5));
    p.drop_link();
    assert!(reconnect(&mut p, true).is_empty());
    assert!(p.feed(&pubrel(5)).is_empty());
    assert_eq!(p.drain(), pubcomp(5));
    assert_eq!(p.c.awaiting_pubrel(), 0);
}

#[test]
fn mqtt_3_1_2_6_a_new_session_forgets_the_ids_awaiting_pubrel() {
    // The server lost the session; and with CleanSession 1 there is none.
    for (config, present) in [(Config { clean_session: false, ..Config::new("k") }, false), (Config::new("c"), false)] {
        let mut p = Peer::reconnecting(config);
        p.connect();
        assert_eq!(p.feed(&inbound_publish("in", b"1", QoS::ExactlyOnce, Some(5))).len(), 1);
        p.drain();
        p.drop_link();
        reconnect(&mut p, present);
        assert_eq!(p.c.awaiting_pubrel(), 0);
        let fresh = inbound_publish("in", b"2", QoS::ExactlyOnce, Some(5));
        assert_eq!(p.feed(&fresh), [msg("in", b"2", QoS::ExactlyOnce, false)], "id 5 is a new message");
    }
}

#[test]
fn mqtt_4_3_3_2_a_qos2_message_salvaged_from_a_broken_link_is_not_delivered_again() {
    let mut p = persistent();
    p.connect();
    let m = inbound_publish("in", b"s", QoS::ExactlyOnce, Some(8));
    assert_eq!(p.c.handle_input(&m), m.len());
    // The link breaks before the client polled: the message is still delivered.
    p.c.handle_link_down(p.now, DisconnectReason::NetworkError);
    assert_eq!(
        p.events(),
        [msg("in", b"s", QoS::ExactlyOnce, false), Ev::Disconnected(DisconnectReason::NetworkError)]
    );
    reconnect(&mut p, true);
    let again = inbound_publish_flags("in", b"s", QoS::ExactlyOnce, Some(8), true, false);
    assert!(p.feed(&again).is_empty());
    assert_eq!(p.drain(), pubrec(8));
}

// ---------------------------------------------------------------------------
// CONNECT: clean session off, session present, the will
// ---------------------------------------------------------------------------

/// The Connect Flags byte of the CONNECT the client sends.
fn connect_flags(config: Config<'_>) -> u8 {
    let mut p = Peer::with(config, 4096, 4096);
    let sent = p.open_link();
    sent[9]
}

#[test]
fn mqtt_3_1_2_6_clean_session_off_is_sent_as_flag_0() {
    assert_eq!(connect_flags(Config { clean_session: false, ..Config::new("k") }), 0x00);
    assert_eq!(connect_flags(Config::new("k")), 0x02);
}

#[test]
fn mqtt_3_1_2_9_mqtt_3_1_2_14_a_qos2_will_sets_the_flag_qos_bits_and_retain() {
    let will = |qos, retain| Some(Will { topic: "w", message: b"bye", qos, retain });
    let cases = [
        (will(QoS::AtMostOnce, false), 0x04),
        (will(QoS::AtLeastOnce, false), 0x0c),
        (will(QoS::ExactlyOnce, false), 0x14),
        (will(QoS::ExactlyOnce, true), 0x34),
    ];
    for (w, bits) in cases {
        assert_eq!(connect_flags(Config { will: w, clean_session: false, ..Config::new("k") }), bits);
    }
    let mut p = Peer::with(Config { will: will(QoS::ExactlyOnce, true), ..Config::new("k") }, 4096, 4096);
    let sent = p.open_link();
    assert_eq!(&sent[12..], [0, 1, b'k', 0, 1, b'w', 0, 3, b'b', b'y', b'e'], "id, will topic, will message");
}

#[test]
fn a_bad_will_is_refused_when_the_client_is_made() {
    let bad = |topic| Config {
        will: Some(Will { topic, message: b"", qos: QoS::AtMostOnce, retain: false }),
        ..Config::new("c")
    };
    assert!(matches!(new_client_error(bad("a/+")), ClientError::Encode(_)));
    assert!(matches!(new_client_error(bad("")), ClientError::Encode(_)));
}

#[test]
fn session_present_is_reported_on_every_connected() {
    let mut p = persistent();
    assert!(reconnect(&mut p, true).is_empty());
    p.drop_link();
    assert!(reconnect(&mut p, false).is_empty());
}

// ---------------------------------------------------------------------------
// Properties: any interleaving of QoS 2 traffic and lost links
// ---------------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[derive(Clone, Debug)]
    enum In {
        Publish { id: u16, dup: bool },
        Pubrel(u16),
        Reconnect { session_present: bool },
    }

    fn inbound_op() -> impl Strategy<Value = In> {
        prop_oneof![
            4 => (1u16..6, any::<bool>()).prop_map(|(id, dup)| In::Publish { id, dup }),
            3 => (1u16..6).prop_map(In::Pubrel),
            1 => any::<bool>().prop_map(|session_present| In::Reconnect { session_present }),
        ]
    }

    #[derive(Clone, Debug)]
    enum Out {
        /// PUBREC for the n-th message still awaiting one.
        Pubrec(usize),
        /// PUBCOMP for the n-th message awaiting one.
        Pubcomp(usize),
        Reconnect {
            session_present: bool,
        },
    }

    fn outbound_op() -> impl Strategy<Value = Out> {
        prop_oneof![
            3 => (0usize..8).prop_map(Out::Pubrec),
            3 => (0usize..8).prop_map(Out::Pubcomp),
            1 => any::<bool>().prop_map(|session_present| Out::Reconnect { session_present }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// [MQTT-4.3.3-2]: a QoS 2 message is delivered once until its PUBREL,
        /// whatever the repeats and lost links; every PUBLISH gets its PUBREC
        /// and every PUBREL its PUBCOMP.
        #[test]
        fn mqtt_4_3_3_2_inbound_qos2_is_delivered_once_per_pubrel(ops in proptest::collection::vec(inbound_op(), 1..60)) {
            let mut p = persistent();
            p.connect();
            let mut held = BTreeSet::new();
            for op in ops {
                match op {
                    In::Publish { id, dup } => {
                        let bytes = inbound_publish_flags("t", b"x", QoS::ExactlyOnce, Some(id), dup, false);
                        let evs = p.feed(&bytes);
                        let fresh = held.insert(id);
                        prop_assert_eq!(evs.len(), usize::from(fresh), "id {} delivered iff not held", id);
                        prop_assert_eq!(p.drain(), pubrec(id).to_vec());
                    }
                    In::Pubrel(id) => {
                        prop_assert!(p.feed(&pubrel(id)).is_empty());
                        held.remove(&id);
                        prop_assert_eq!(p.drain(), pubcomp(id).to_vec());
                    }
                    In::Reconnect { session_present } => {
                        p.drop_link();
                        prop_assert!(reconnect(&mut p, session_present).is_empty());
                        if !session_present {
                            held.clear();
                        }
                    }
                }
                prop_assert_eq!(p.c.awaiting_pubrel(), held.len());
            }
        }

        /// [MQTT-4.3.3-1] [MQTT-4.4.0-1] [MQTT-4.6.0-1]: after any PUBRECs,
        /// PUBCOMPs and lost links, each re-send is, in the original order,
        /// the PUBLISH (DUP) of a message without its PUBREC or the PUBREL of
        /// one with it; each message ends with exactly one `Published`.
        #[test]
        fn mqtt_4_3_3_1_mqtt_4_4_0_1_outbound_qos2_resends_follow_each_messages_step(
            count in 1usize..8,
            ops in proptest::collection::vec(outbound_op(), 0..40),
        ) {
            let mut p = persistent();
            p.connect();
            // (id, released) of each message not yet completed, in sending order.
            let mut open: Vec<(u16, bool)> = Vec::new();
            for _ in 0..count {
                open.push((p.c.publish("t", b"x", QoS::ExactlyOnce, false).unwrap().unwrap(), false));
            }
            p.drain();
            let mut completed = Vec::new();
            for op in ops {
                match op {
                    Out::Pubrec(n) => {
                        let waiting: Vec<usize> = (0..open.len()).filter(|&i| !open[i].1).collect();
                        let Some(&i) = waiting.get(n % waiting.len().max(1)) else { continue };
                        prop_assert!(p.feed(&pubrec(open[i].0)).is_empty());
                        prop_assert_eq!(p.drain(), pubrel(open[i].0).to_vec());
                        open[i].1 = true;
                    }
                    Out::Pubcomp(n) => {
                        let released: Vec<usize> = (0..open.len()).filter(|&i| open[i].1).collect();
                        let Some(&i) = released.get(n % released.len().max(1)) else { continue };
                        let id = open.remove(i).0;
                        prop_assert_eq!(p.feed(&pubcomp(id)), vec![Ev::Completed(id)]);
                        completed.push(id);
                    }
                    Out::Reconnect { session_present } => {
                        p.drop_link();
                        let want: Vec<(&str, u16)> =
                            open.iter().map(|&(id, rel)| (if rel { "PUBREL" } else { "PUBLISH dup" }, id)).collect();
                        prop_assert_eq!(flow(&reconnect(&mut p, session_present)), want);
                    }
                }
                prop_assert_eq!(p.c.inflight(), open.len());
            }
            // Finish every flow: each id completes once.
            for (id, released) in open.clone() {
                if !released {
                    p.feed(&pubrec(id));
                }
                p.drain();
                prop_assert_eq!(p.feed(&pubcomp(id)), vec![Ev::Completed(id)]);
                completed.push(id);
            }
            completed.sort_unstable();
            prop_assert_eq!(completed, (1..=count as u16).collect::<Vec<_>>());
            prop_assert_eq!(p.c.inflight(), 0);
        }
    }
}
