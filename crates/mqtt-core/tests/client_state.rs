//! The client state machine against a scripted peer on a virtual clock.

use mqtt_core::codec::{decode, ConnectReturnCode, Packet, PacketType, QoS};
use mqtt_core::{Config, DisconnectReason, LinkAction, State};

mod common;
use common::*;

// ---- connection ----

#[test]
fn mqtt_3_1_0_1_connect_is_the_first_packet_and_nothing_else_goes_before_connack() {
    let mut p = Peer::new();
    p.c.publish("early/topic", b"queued while connecting", QoS::AtMostOnce, false).unwrap();
    let sent = p.open_link();
    assert_eq!(types(&sent), [PacketType::Connect]);
    match decode(&sent, usize::MAX).unwrap().unwrap().0 {
        Packet::Connect(c) => {
            assert!(c.clean_session, "clean session is the default");
            assert_eq!(c.keep_alive, 60);
            assert_eq!(c.client_id, "tester");
        }
        _ => unreachable!(),
    }
    assert_eq!(p.c.state(), State::Connecting);
    assert_eq!(p.feed(&CONNACK_OK), [Ev::Connected]);
    assert_eq!(types(&p.drain()), [PacketType::Publish]);
}

#[test]
fn connack_timeout_declares_the_attempt_failed() {
    let mut p = Peer::new();
    p.open_link();
    p.advance(9_999);
    assert_eq!(p.c.state(), State::Connecting);
    p.advance(1);
    assert_eq!(p.events(), [Ev::Disconnected(DisconnectReason::ConnectTimeout)]);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert_eq!(p.c.state(), State::Disconnected);
}

#[test]
fn each_connack_refusal_code_is_reported_with_a_reason() {
    for code in 1..=5u8 {
        let mut p = Peer::new();
        p.open_link();
        let expected = ConnectReturnCode::from_u8(code).unwrap();
        assert_eq!(p.feed(&[0x20, 2, 0, code]), [Ev::Disconnected(DisconnectReason::Refused(expected))]);
        assert!(DisconnectReason::Refused(expected).reason().contains(&format!("({code})")));
        assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
        assert_eq!(p.c.state(), State::Disconnected);
    }
}

#[test]
fn mqtt_3_1_2_6_clean_session_is_set_by_default() {
    let mut p = Peer::new();
    let sent = p.open_link();
    assert_eq!(sent[9] & 0x02, 0x02, "connect flags carry CleanSession");
}

// ---- keep-alive ----

#[test]
fn mqtt_3_1_2_23_pingreq_goes_out_at_half_the_keep_alive_after_the_last_packet_sent() {
    let mut p = Peer::new();
    p.connect();
    assert_eq!(p.c.poll_timeout(), Some(p.now + 30_000));
    p.advance(20_000);
    p.c.publish("t", b"x", QoS::AtMostOnce, false).unwrap();
    p.drain(); // last packet sent at +20 s
    p.feed(&inbound_publish("in", b"", QoS::AtMostOnce, None)); // and received
    p.advance(29_999);
    assert!(p.drain().is_empty(), "no ping before half the interval since the last send");
    p.advance(1);
    assert_eq!(types(&p.drain()), [PacketType::PingReq]);
    p.advance(5_000);
    assert_eq!(p.feed(&PINGRESP), [Ev::Pong]);
    p.advance(60_000);
    assert_eq!(p.c.state(), State::Connected, "an answered ping keeps the link");
}

/// Issue 12, defect 3: a client that keeps sending must still notice a
/// server that went silent.
#[test]
fn a_publishing_client_pings_when_nothing_was_received_for_half_the_keep_alive() {
    let mut p = Peer::with(Config { keep_alive_secs: 2, ..Config::new("busy") }, 4096, 4096);
    p.connect();
    let mut pinged_at = None;
    let mut lost_at = None;
    for step in 1..=40 {
        p.advance(100);
        if p.c.state() != State::Connected {
            lost_at.get_or_insert(step * 100);
            continue;
        }
        p.c.publish("t", b"x", QoS::AtMostOnce, false).unwrap();
        if types(&p.drain()).contains(&PacketType::PingReq) {
            pinged_at.get_or_insert(step * 100);
        }
        if p.events().contains(&Ev::Disconnected(DisconnectReason::KeepAliveTimeout)) {
            lost_at.get_or_insert(step * 100);
        }
    }
    assert_eq!(pinged_at, Some(1_000), "PINGREQ at half the keep-alive of silence from the server");
    assert_eq!(lost_at, Some(2_000), "no PINGRESP: dead within the keep-alive");
}

#[test]
fn a_pingresp_deadline_waits_while_reading_is_paused_for_the_application() {
    let mut p = Peer::with(Config { keep_alive_secs: 2, ..Config::new("paused") }, 4096, 4096);
    p.connect();
    p.advance(1_000);
    assert_eq!(types(&p.drain()), [PacketType::PingReq]);
    p.c.set_receive_paused(p.now, true);
    p.advance(5_000);
    assert_eq!(p.c.state(), State::Connected, "the PINGRESP may be behind the unread bytes");
    p.c.set_receive_paused(p.now, false);
    p.advance(999);
    assert_eq!(p.c.state(), State::Connected);
    p.advance(1);
    assert_eq!(p.events(), [Ev::Disconnected(DisconnectReason::KeepAliveTimeout)]);
}

#[test]
fn a_missing_pingresp_declares_the_link_dead() {
    let mut p = Peer::with(Config { keep_alive_secs: 2, ..Config::new("ka") }, 4096, 4096);
    p.connect();
    p.advance(1_000);
    assert_eq!(types(&p.drain()), [PacketType::PingReq]);
    p.advance(999);
    assert!(p.events().is_empty());
    p.advance(1);
    assert_eq!(p.events(), [Ev::Disconnected(DisconnectReason::KeepAliveTimeout)]);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
}

#[test]
fn a_stalled_socket_is_a_dead_link_too() {
    let mut p = Peer::with(Config { keep_alive_secs: 2, ..Config::new("stall") }, 4096, 4096);
    p.connect();
    p.advance(1_000); // PINGREQ queued, never taken by the socket
    assert!(!p.c.poll_transmit().is_empty());
    p.advance(1_000);
    assert_eq!(p.events(), [Ev::Disconnected(DisconnectReason::KeepAliveTimeout)]);
}

#[test]
fn ping_on_demand() {
    let mut p = Peer::new();
    p.connect();
    assert!(p.c.ping(p.now));
    assert_eq!(types(&p.drain()), [PacketType::PingReq]);
    assert_eq!(p.feed(&PINGRESP), [Ev::Pong]);
}

#[test]
fn keep_alive_zero_sends_no_pings() {
    let mut p = Peer::with(Config { keep_alive_secs: 0, ..Config::new("none") }, 4096, 4096);
    p.connect();
    assert_eq!(p.c.poll_timeout(), None);
    p.advance(1_000_000);
    assert!(p.drain().is_empty());
}

// ---- publish ----

#[test]
fn mqtt_3_3_1_2_qos0_publish_has_no_dup_and_no_packet_id() {
    let mut p = Peer::new();
    p.connect();
    assert_eq!(p.c.publish("a/b", b"hello", QoS::AtMostOnce, false), Ok(None));
    let sent = p.drain();
    assert_eq!(sent, [0x30, 10, 0, 3, b'a', b'/', b'b', b'h', b'e', b'l', b'l', b'o']);
}

#[test]
fn mqtt_4_3_2_1_qos1_publish_stays_in_flight_until_puback() {
    let mut p = Peer::new();
    p.connect();
    let id = p.c.publish("a", b"1", QoS::AtLeastOnce, false).unwrap().unwrap();
    let sent = p.drain();
    let publ = publish_of(&sent);
    assert_eq!((publ.qos, publ.packet_id, publ.dup), (QoS::AtLeastOnce, Some(id), false));
    assert_eq!(p.c.inflight(), 1);
    assert_eq!(p.feed(&[0x40, 2, 0, id as u8]), [Ev::Published(id)]);
    assert_eq!(p.c.inflight(), 0);
}

#[test]
fn mqtt_2_3_1_1_packet_ids_start_at_1_count_up_and_are_never_0() {
    let mut p = Peer::new();
    p.connect();
    let a = p.c.publish("a", b"", QoS::AtLeastOnce, false).unwrap();
    let b = p.c.publish("a", b"", QoS::AtLeastOnce, false).unwrap();
    let s = p.c.subscribe(&[("x", QoS::AtMostOnce)]).unwrap();
    assert_eq!((a, b, s), (Some(1), Some(2), 3));
}

#[test]
fn mqtt_2_3_1_2_a_packet_id_in_flight_is_not_reused() {
    let mut p = Peer::with(Config::new("ids"), 1 << 20, 1 << 20);
    p.connect();
    let held = p.c.publish("a", b"", QoS::AtLeastOnce, false).unwrap().unwrap();
    p.drain();
    // Cycle through the rest of the id space, acking each.
    for _ in 0..65_534 {
        let id = p.c.publish("a", b"", QoS::AtLeastOnce, false).unwrap().unwrap();
        assert_ne!(id, held);
        p.drain();
        let [hi, lo] = id.to_be_bytes();
        assert_eq!(p.feed(&[0x40, 2, hi, lo]), [Ev::Published(id)]);
    }
    let next = p.c.publish("a", b"", QoS::AtLeastOnce, false).unwrap().unwrap();
    assert_eq!(next, 2, "1 is still in flight, so the count goes on at 2");
}

#[test]
fn mqtt_4_3_2_2_inbound_qos1_is_acknowledged_with_puback() {
    let mut p = Peer::new();
    p.connect();
    let evs = p.feed(&inbound_publish("cmd/x", b"go", QoS::AtLeastOnce, Some(0x1234)));
    assert_eq!(
        evs,
        [Ev::Message { topic: "cmd/x".into(), payload: b"go".to_vec(), qos: QoS::AtLeastOnce, dup: false }]
    );
    assert_eq!(p.drain(), [0x40, 2, 0x12, 0x34]);
}

#[test]
fn inbound_qos0_gets_no_ack_and_payload_is_borrowed_whole() {
    let mut p = Peer::new();
    p.connect();
    let payload: Vec<u8> = (0..=255).collect();
    let evs = p.feed(&inbound_publish("bin", &payload, QoS::AtMostOnce, None));
    assert_eq!(evs, [Ev::Message { topic: "bin".into(), payload, qos: QoS::AtMostOnce, dup: false }]);
    assert!(p.drain().is_empty());
}

#[test]
fn inbound_bytes_in_any_chunking_give_the_same_events() {
    let mut stream = inbound_publish("a", b"one", QoS::AtMostOnce, None);
    stream.extend(inbound_publish("b", b"two", QoS::AtLeastOnce, Some(9)));
    stream.extend_from_slice(&PINGRESP);
    for chunk in 1..stream.len() {
        let mut p = Peer::new();
        p.connect();
        let mut evs = Vec::new();
        for part in stream.chunks(chunk) {
            evs.extend(p.feed(part));
        }
        assert_eq!(evs.len(), 3, "chunk size {chunk}");
        assert_eq!(evs[2], Ev::Pong);
    }
}

// ---- subscribe ----

#[test]
fn suback_emits_subscribed_and_a_refusal_is_reported_as_0x80() {
    let mut p = Peer::new();
    p.connect();
    let id = p.c.subscribe(&[("a/#", QoS::AtLeastOnce), ("b/+", QoS::AtMostOnce)]).unwrap();
    let sent = p.drain();
    assert_eq!(sent[0], 0x82, "[MQTT-3.8.1-1] SUBSCRIBE flags are 0010");
    assert_eq!(p.feed(&[0x90, 4, 0, id as u8, 1, 0x80]), [Ev::Subscribed { id, codes: vec![1, 0x80] }]);
}

#[test]
fn mqtt_3_10_1_1_unsubscribe_flags_and_unsuback() {
    let mut p = Peer::new();
    p.connect();
    let id = p.c.unsubscribe(&["a/#"]).unwrap();
    let sent = p.drain();
    assert_eq!(sent[0], 0xa2);
    assert_eq!(p.feed(&[0xb0, 2, 0, id as u8]), [Ev::Unsubscribed(id)]);
}

#[test]
fn qos2_is_accepted_for_publish_and_subscribe() {
    let mut p = Peer::new();
    p.connect();
    assert_eq!(p.c.publish("a", b"", QoS::ExactlyOnce, false), Ok(Some(1)));
    assert_eq!(p.c.subscribe(&[("a", QoS::ExactlyOnce)]), Ok(2));
    assert_eq!(p.drain(), [0x34, 5, 0, 1, b'a', 0, 1, 0x82, 6, 0, 2, 0, 1, b'a', 2]);
}

// ---- outbound buffer ----

#[test]
fn a_full_outbound_buffer_rejects_a_packet_whole_and_stays_untouched() {
    let mut p = Peer::with(Config::new("bp"), 64, 4096);
    p.connect();
    let payload = [7u8; 20];
    assert!(p.c.publish("t", &payload, QoS::AtMostOnce, false).is_ok()); // 25 bytes
    assert!(p.c.publish("t", &payload, QoS::AtMostOnce, false).is_ok()); // 50
    let before = p.c.poll_transmit().to_vec();
    assert_eq!(p.c.publish("t", &payload, QoS::AtMostOnce, false), Err(mqtt_core::ClientError::OutboundFull));
    assert_eq!(p.c.publish("t", &payload, QoS::AtLeastOnce, false), Err(mqtt_core::ClientError::OutboundFull));
    assert_eq!(p.c.poll_transmit(), &before[..]);
    assert_eq!(p.c.inflight(), 0, "a refused QoS 1 publish takes no packet id or store");
    p.drain();
    assert!(p.c.publish("t", &payload, QoS::AtMostOnce, false).is_ok(), "room again after draining");
    assert_eq!(
        p.c.publish("t", &[0; 100], QoS::AtMostOnce, false),
        Err(mqtt_core::ClientError::TooLarge { size: 105, limit: 64 })
    );
}

#[test]
fn a_full_inflight_store_refuses_qos1() {
    let mut p = Peer::with(Config::new("if"), 4096, 40);
    p.connect();
    assert!(p.c.publish("t", &[1; 10], QoS::AtLeastOnce, false).is_ok());
    assert_eq!(p.c.publish("t", &[1; 10], QoS::AtLeastOnce, false), Err(mqtt_core::ClientError::InflightFull));
    assert!(p.c.publish("t", &[1; 10], QoS::AtMostOnce, false).is_ok(), "QoS 0 is not limited by the store");
}

#[test]
fn a_partial_write_hands_out_the_rest_of_the_same_packet() {
    let mut p = Peer::new();
    p.connect();
    p.c.publish("t", b"abcdef", QoS::AtMostOnce, false).unwrap();
    let whole = p.c.poll_transmit().to_vec();
    p.c.advance_transmit(p.now, 3);
    assert_eq!(p.c.poll_transmit(), &whole[3..]);
}

// ---- reconnect ----

#[test]
fn reconnect_follows_the_schedule_last_delay_repeats_and_success_resets() {
    let mut p = Peer::new();
    p.c.set_auto_reconnect(true);
    p.c.set_reconnect_delays_ms(&[100, 200, 500]).unwrap();
    p.connect();
    p.c.handle_link_down(p.now, DisconnectReason::ClosedByPeer);
    assert_eq!(p.events(), [Ev::Disconnected(DisconnectReason::ClosedByPeer)]);
    assert_eq!(p.c.state(), State::WaitingToReconnect);
    let mut waits = Vec::new();
    for _ in 0..5 {
        let start = p.now;
        let due = p.c.poll_timeout().unwrap();
        p.now = due - 1;
        p.c.handle_timeout(p.now);
        assert_eq!(p.c.poll_action(), None, "no attempt before the delay");
        p.now = due;
        p.c.handle_timeout(p.now);
        assert_eq!(p.c.poll_action(), Some(LinkAction::Open));
        waits.push(due - start);
        p.c.handle_link_down(p.now, DisconnectReason::ConnectFailed);
        assert_eq!(p.events(), [Ev::Disconnected(DisconnectReason::ConnectFailed)]);
    }
    assert_eq!(waits, [100, 200, 500, 500, 500]);
    // A TCP connect is not success; a CONNACK is.
    p.now = p.c.poll_timeout().unwrap();
    p.c.handle_timeout(p.now);
    p.connect();
    p.c.handle_link_down(p.now, DisconnectReason::NetworkError);
    p.events();
    assert_eq!(p.c.poll_timeout(), Some(p.now + 100), "index reset after CONNACK");
}

/// Fails every attempt at once: (broker, wait before the attempt) of each.
fn failing_attempts(p: &mut Peer, n: usize) -> Vec<(u8, u64)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let start = p.now;
        let due = p.c.poll_timeout().unwrap();
        p.now = due;
        p.c.handle_timeout(p.now);
        assert_eq!(p.c.poll_action(), Some(LinkAction::Open));
        out.push((p.c.broker(), due - start));
        p.c.handle_link_down(p.now, DisconnectReason::ConnectFailed);
        p.events();
    }
    out
}

#[test]
fn failover_tries_each_broker_in_turn_and_the_schedule_applies_per_round() {
    let mut config = Config::new("tester");
    config.brokers = 3;
    let mut p = Peer::with(config, 4096, 4096);
    p.c.set_auto_reconnect(true);
    p.c.set_reconnect_delays_ms(&[100, 200, 500]).unwrap();
    // The first round starts at open, with broker 0.
    assert_eq!(p.c.poll_action(), None);
    p.c.connect(p.now).unwrap();
    assert_eq!(p.c.poll_action(), Some(LinkAction::Open));
    assert_eq!(p.c.broker(), 0);
    p.c.handle_link_down(p.now, DisconnectReason::ConnectFailed);
    p.events();
    let floor = 50;
    assert_eq!(
        failing_attempts(&mut p, 8),
        [(1, floor), (2, floor), (0, 100), (1, floor), (2, floor), (0, 200), (1, floor), (2, floor)],
        "one delay of the schedule per round of three brokers"
    );
    // Broker 0 answers: the schedule starts over, and a later loss moves on
    // to broker 1 after the first delay.
    p.now = p.c.poll_timeout().unwrap();
    p.c.handle_timeout(p.now);
    assert_eq!(p.c.broker(), 0);
    p.connect();
    assert_eq!(p.c.connected_broker(), 0, "the broker that answered");
    p.c.handle_link_down(p.now, DisconnectReason::ClosedByPeer);
    p.events();
    assert_eq!((p.c.broker(), p.c.connected_broker()), (1, 0), "the next attempt moves on; the answer stays");
    assert_eq!(failing_attempts(&mut p, 4), [(1, 100), (2, floor), (0, floor), (1, 200)]);
}

#[test]
fn one_broker_keeps_the_schedule_per_attempt() {
    let mut p = Peer::new();
    p.c.set_auto_reconnect(true);
    p.c.set_reconnect_delays_ms(&[100, 200]).unwrap();
    p.connect();
    p.c.handle_link_down(p.now, DisconnectReason::ClosedByPeer);
    p.events();
    assert_eq!(failing_attempts(&mut p, 3), [(0, 100), (0, 200), (0, 200)]);
}

#[test]
fn default_reconnect_delay_is_one_second() {
    let mut p = Peer::new();
    p.c.set_auto_reconnect(true);
    p.connect();
    p.c.handle_link_down(p.now, DisconnectReason::ClosedByPeer);
    assert_eq!(p.c.poll_timeout(), Some(p.now + 1_000));
}

#[test]
fn without_auto_reconnect_a_lost_link_stays_down() {
    let mut p = Peer::new();
    p.connect();
    p.c.handle_link_down(p.now, DisconnectReason::ClosedByPeer);
    assert_eq!(p.c.state(), State::Disconnected);
    assert_eq!(p.c.poll_timeout(), None);
}

#[test]
fn a_refused_connack_is_retried_on_the_schedule() {
    let mut p = Peer::new();
    p.c.set_auto_reconnect(true);
    p.c.set_reconnect_delays_ms(&[50]).unwrap();
    p.open_link();
    p.feed(&[0x20, 2, 0, 3]);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert_eq!(p.c.poll_timeout(), Some(p.now + 50));
}

#[test]
fn mqtt_4_4_0_1_unacked_qos1_is_resent_first_with_dup_and_its_id_then_the_cut_packet_whole() {
    let mut p = Peer::new();
    p.c.set_auto_reconnect(true);
    p.c.set_reconnect_delays_ms(&[0]).unwrap();
    p.connect();
    let a = p.c.publish("q1", b"first", QoS::AtLeastOnce, false).unwrap().unwrap();
    let b = p.c.publish("q1", b"second", QoS::AtLeastOnce, false).unwrap().unwrap();
    p.drain();
    p.c.publish("q0", b"cut", QoS::AtMostOnce, false).unwrap();
    let c = p.c.publish("q1", b"cut1", QoS::AtLeastOnce, false).unwrap().unwrap();
    // The socket takes 4 bytes of the QoS 0 packet, then the link drops.
    p.c.advance_transmit(p.now, 4);
    p.c.handle_link_down(p.now, DisconnectReason::NetworkError);
    p.events();
    p.c.publish("new", b"after", QoS::AtMostOnce, false).unwrap();
    p.c.handle_timeout(p.now);
    let sent = p.open_link();
    assert_eq!(types(&sent), [PacketType::Connect], "nothing half-written continues; CONNECT first");
    assert_eq!(p.feed(&CONNACK_OK), [Ev::Connected]);
    let again = packets(&p.drain());
    let pubs: Vec<_> = again.iter().map(|(_, b)| publish_of(b)).collect();
    let summary: Vec<_> = pubs.iter().map(|p| (p.topic, p.packet_id, p.dup)).collect();
    assert_eq!(
        summary,
        [
            ("q1", Some(a), true),
            ("q1", Some(b), true),
            ("q0", None, false),
            ("q1", Some(c), false),
            ("new", None, false)
        ]
    );
    assert_eq!(pubs[2].payload, b"cut");
}

#[test]
fn mqtt_3_3_1_1_a_qos1_packet_cut_mid_way_is_sent_again_with_dup() {
    let mut p = Peer::new();
    p.c.set_auto_reconnect(true);
    p.c.set_reconnect_delays_ms(&[0]).unwrap();
    p.connect();
    let id = p.c.publish("q1", b"payload", QoS::AtLeastOnce, false).unwrap().unwrap();
    p.c.advance_transmit(p.now, 5);
    p.c.handle_link_down(p.now, DisconnectReason::NetworkError);
    p.events();
    p.c.handle_timeout(p.now);
    p.connect();
    let again = p.drain();
    let publ = publish_of(&again);
    assert_eq!((publ.packet_id, publ.dup, publ.payload), (Some(id), true, &b"payload"[..]));
}

#[test]
fn puback_during_resend_is_accepted() {
    let mut p = Peer::new();
    p.c.set_auto_reconnect(true);
    p.c.set_reconnect_delays_ms(&[0]).unwrap();
    p.connect();
    let a = p.c.publish("q", b"1", QoS::AtLeastOnce, false).unwrap().unwrap();
    let b = p.c.publish("q", b"2", QoS::AtLeastOnce, false).unwrap().unwrap();
    p.drain();
    p.c.handle_link_down(p.now, DisconnectReason::NetworkError);
    p.events();
    p.c.handle_timeout(p.now);
    p.connect();
    p.c.advance_transmit(p.now, 2); // part of the first re-send
    assert_eq!(p.feed(&[0x40, 2, 0, a as u8]), [Ev::Published(a)]);
    let rest = p.drain();
    let (first, second) = rest.split_at(rest.len() - 8);
    assert_eq!(first.len(), 6, "the cut re-send is finished whole");
    assert_eq!(publish_of(second).packet_id, Some(b));
}

// ---- disconnect ----

#[test]
fn mqtt_3_14_4_1_disconnect_flushes_then_sends_disconnect_then_closes_and_never_reconnects() {
    let mut p = Peer::new();
    p.c.set_auto_reconnect(true);
    p.connect();
    p.c.publish("a", b"1", QoS::AtMostOnce, false).unwrap();
    p.c.publish("a", b"2", QoS::AtLeastOnce, false).unwrap();
    p.c.disconnect(p.now);
    assert_eq!(p.c.state(), State::Disconnecting);
    assert_eq!(p.c.publish("a", b"3", QoS::AtMostOnce, false), Err(mqtt_core::ClientError::Closed));
    let sent = p.drain();
    assert_eq!(types(&sent), [PacketType::Publish, PacketType::Publish], "DISCONNECT waits for the PUBACK");
    assert_eq!(p.c.poll_action(), None);
    let id = publish_of(&packets(&sent)[1].1).packet_id.unwrap();
    assert_eq!(p.feed(&[0x40, 2, 0, id as u8]), [Ev::Published(id)]);
    assert_eq!(types(&p.drain()), [PacketType::Disconnect]);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert_eq!(p.events(), [Ev::Disconnected(DisconnectReason::Requested)]);
    assert_eq!(p.c.state(), State::Closed);
    p.advance(3_600_000);
    assert_eq!(p.c.poll_action(), None);
    assert!(p.events().is_empty());
}

#[test]
fn disconnect_waits_for_pubacks_no_longer_than_the_grace_period() {
    let mut p = Peer::new();
    p.connect();
    p.c.publish("a", b"1", QoS::AtLeastOnce, false).unwrap();
    p.c.disconnect(p.now);
    assert_eq!(types(&p.drain()), [PacketType::Publish]);
    p.advance(1_999);
    assert_eq!(p.c.state(), State::Disconnecting);
    p.advance(1);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert_eq!(p.events(), [Ev::Disconnected(DisconnectReason::Requested)]);
}

#[test]
fn a_stalled_disconnect_gets_a_short_grace_period() {
    let mut p = Peer::new();
    p.connect();
    p.c.publish("a", b"1", QoS::AtMostOnce, false).unwrap();
    p.c.disconnect(p.now);
    p.advance(2_000);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert_eq!(p.c.state(), State::Closed);
}

#[test]
fn disconnect_while_connecting_closes_at_once() {
    let mut p = Peer::new();
    p.c.set_auto_reconnect(true);
    p.open_link();
    p.c.disconnect(p.now);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert_eq!(p.events(), [Ev::Disconnected(DisconnectReason::Requested)]);
    assert_eq!(p.c.state(), State::Closed);
}

// ---- protocol violations ----

fn violation_after_connect(bytes: &[u8]) -> DisconnectReason {
    let mut p = Peer::new();
    p.connect();
    let evs = p.feed(bytes);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close), "the client closes the link itself");
    match evs.as_slice() {
        [Ev::Disconnected(r)] => *r,
        other => panic!("expected one Disconnected, got {other:?}"),
    }
}

#[test]
fn protocol_violations_close_the_link_with_a_reason() {
    use mqtt_core::client::ProtocolError as P;
    use mqtt_core::codec::DecodeError as D;
    let cases: Vec<(&[u8], DisconnectReason)> = vec![
        (&[0x82, 6, 0, 1, 0, 1, b'a', 0], DisconnectReason::Protocol(P::UnexpectedPacket(PacketType::Subscribe))),
        (&[0xc0, 0], DisconnectReason::Protocol(P::UnexpectedPacket(PacketType::PingReq))),
        (&[0x90, 3, 0, 42, 0], DisconnectReason::Protocol(P::UnknownPacketId(PacketType::SubAck))),
        (&[0x40, 2, 0, 42], DisconnectReason::Protocol(P::UnknownPacketId(PacketType::PubAck))),
        (&[0xb0, 2, 0, 42], DisconnectReason::Protocol(P::UnknownPacketId(PacketType::UnsubAck))),
        (&[0x20, 2, 0, 0], DisconnectReason::Protocol(P::SecondConnAck)),
        (&[0x00, 0], DisconnectReason::Protocol(P::Malformed(D::InvalidPacketType(0)))),
        (&[0x31, 0xff, 0xff, 0xff, 0xff, 0x7f], DisconnectReason::Protocol(P::Malformed(D::RemainingLengthTooLong))),
        (&[0x30, 5, 0, 3, b'a', 0xff, b'b'], DisconnectReason::Protocol(P::Malformed(D::InvalidUtf8))),
        (&[0x36, 3, 0, 1, b'a'], DisconnectReason::Protocol(P::Malformed(D::InvalidQoS))),
    ];
    for (bytes, expected) in cases {
        assert_eq!(violation_after_connect(bytes), expected, "{bytes:02x?}");
        assert!(!expected.reason().is_empty());
    }
}

#[test]
fn mqtt_1_5_3_1_ill_formed_utf8_from_the_server_closes_the_link() {
    let r = violation_after_connect(&[0x30, 4, 0, 2, 0xc0, 0xaf]);
    assert!(r.reason().contains("UTF-8"), "{}", r.reason());
}

#[test]
fn mqtt_2_2_2_2_invalid_flags_from_the_server_close_the_link() {
    let r = violation_after_connect(&[0x41, 2, 0, 1]);
    assert!(r.reason().contains("flags"));
}

#[test]
fn a_packet_before_connack_is_a_violation() {
    let mut p = Peer::new();
    p.open_link();
    let evs = p.feed(&inbound_publish("a", b"", QoS::AtMostOnce, None));
    assert!(matches!(evs.as_slice(), [Ev::Disconnected(DisconnectReason::Protocol(_))]));
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
}

#[test]
fn an_inbound_packet_larger_than_the_maximum_is_refused_from_its_header() {
    let mut p = Peer::with(Config { max_inbound_packet: 100, ..Config::new("small") }, 4096, 4096);
    p.connect();
    // Only the fixed header of a 1000-byte SUBACK has arrived.
    let evs = p.feed(&[0x90, 0xe8, 0x07]);
    assert!(matches!(evs.as_slice(), [Ev::Disconnected(DisconnectReason::Protocol(_))]));
}

/// Issue 12, defect 4: one huge (retained) message must not kill the link
/// over and over; it is acknowledged, reported and skipped.
#[test]
fn an_inbound_publish_larger_than_the_maximum_is_skipped_acknowledged_and_reported() {
    let mut p = Peer::with(Config { max_inbound_packet: 100, ..Config::new("skip") }, 4096, 4096);
    p.connect();
    let big = inbound_publish_flags("huge/retained", &[7; 5000], QoS::AtLeastOnce, Some(9), false, true);
    let small = inbound_publish("small", b"ok", QoS::AtMostOnce, None);
    let mut evs = Vec::new();
    let mut stream = big.clone();
    stream.extend(&small);
    // Arrives in 64-byte pieces, never more than the 100-byte maximum held.
    for chunk in stream.chunks(64) {
        evs.extend(p.feed(chunk));
    }
    assert_eq!(
        evs,
        [
            Ev::Oversized { topic: "huge/retained".into(), size: big.len(), qos: QoS::AtLeastOnce },
            msg("small", b"ok", QoS::AtMostOnce, false),
        ]
    );
    assert_eq!(p.drain(), puback(9), "acknowledged, so the broker does not send it again");
    assert_eq!(p.c.state(), State::Connected);
}

#[test]
fn an_oversized_publish_with_a_bad_topic_is_still_a_violation() {
    let mut p = Peer::with(Config { max_inbound_packet: 100, ..Config::new("skip") }, 4096, 4096);
    p.connect();
    // PUBLISH "a/+" (a wildcard in a topic name) with 500 payload bytes.
    let mut big = vec![0x30, 0xf9, 0x03, 0, 3, b'a', b'/', b'+'];
    big.extend([0; 500]);
    let evs = p.feed(&big[..50]);
    assert!(matches!(evs.as_slice(), [Ev::Disconnected(DisconnectReason::Protocol(_))]), "{evs:?}");
}

#[test]
fn a_suback_with_the_wrong_number_of_codes_is_a_violation() {
    let mut p = Peer::new();
    p.connect();
    let id = p.c.subscribe(&[("a", QoS::AtMostOnce), ("b", QoS::AtMostOnce)]).unwrap();
    p.drain();
    let evs = p.feed(&[0x90, 3, 0, id as u8, 0]);
    assert!(matches!(evs.as_slice(), [Ev::Disconnected(DisconnectReason::Protocol(_))]));
}

#[test]
fn when_the_puback_queue_is_full_reading_waits_for_the_socket() {
    let mut p = Peer::new();
    p.connect();
    let mut stream = Vec::new();
    for id in 1..=100u16 {
        stream.extend(inbound_publish("t", b"", QoS::AtLeastOnce, Some(id)));
    }
    let mut first = p.feed(&stream);
    assert!(first.len() < 100, "stalls once the PUBACK queue is full");
    let acks = p.drain();
    first.extend(p.events());
    first.extend(p.events());
    let acks2 = p.drain();
    assert_eq!(first.len(), 100);
    assert_eq!((acks.len() + acks2.len()) / 4, 100);
}

#[test]
fn auto_reconnect_turned_on_after_a_first_attempt_failed_schedules_from_the_loss() {
    let mut p = Peer::new();
    p.c.set_reconnect_delays_ms(&[300, 600]).unwrap();
    p.c.connect(p.now).unwrap();
    assert_eq!(p.c.poll_action(), Some(LinkAction::Open));
    p.c.handle_link_down(p.now, DisconnectReason::ConnectFailed);
    let lost = p.now;
    p.events();
    p.advance(100);
    assert_eq!(p.c.poll_timeout(), None, "nothing scheduled while auto-reconnect is off");
    p.c.set_auto_reconnect(true);
    assert_eq!(p.c.poll_timeout(), Some(lost + 300));
    assert_eq!(p.c.state(), State::WaitingToReconnect);
    p.c.set_auto_reconnect(false);
    assert_eq!(p.c.poll_timeout(), None, "turning it off cancels the attempt");
}

#[test]
fn invalid_topics_are_refused_with_the_precise_reason() {
    let mut p = Peer::new();
    let reason = |e: mqtt_core::ClientError| e.reason();
    assert!(reason(p.c.publish("a/+", b"", QoS::AtMostOnce, false).unwrap_err()).contains("+ or #"));
    assert!(reason(p.c.publish("", b"", QoS::AtMostOnce, false).unwrap_err()).contains("empty"));
    assert!(reason(p.c.subscribe(&[("a/#/b", QoS::AtMostOnce)]).unwrap_err()).contains("#"));
    assert!(reason(p.c.unsubscribe(&["a+"]).unwrap_err()).contains("+"));
}

// ---- issue 12 regressions ----

/// Defect 8: the "subscribe from the connected handler" pattern with 100
/// filters gets 100 acknowledgements, bounded by the pending table's bytes.
#[test]
fn a_hundred_subscribes_awaiting_suback_are_all_admitted() {
    let config = Config::new("many");
    let mut storage = storage_for(&config, 8192, 4096);
    storage.pending = vec![0; 100 * mqtt_core::PENDING_RECORD];
    let mut p = Peer { c: mqtt_core::Client::new(&config, storage).unwrap(), now: 1_000 };
    p.connect();
    assert_eq!(p.c.max_pending_requests(), 100);
    let ids: Vec<u16> = (0..100).map(|i| p.c.subscribe(&[(&format!("f/{i}"), QoS::AtMostOnce)]).unwrap()).collect();
    assert_eq!(p.c.subscribe(&[("one/more", QoS::AtMostOnce)]), Err(mqtt_core::ClientError::TooManyPending));
    p.drain();
    let acked: Vec<Ev> = ids.iter().flat_map(|&id| p.feed(&suback(id, &[0]))).collect();
    assert_eq!(acked.len(), 100);
    assert!(p.c.subscribe(&[("one/more", QoS::AtMostOnce)]).is_ok(), "room again");
}

/// Defect 9: nothing would ever send it.
#[test]
fn publish_and_subscribe_are_refused_when_the_link_is_down_for_good() {
    let mut p = Peer::new();
    p.connect();
    p.drop_link();
    p.events();
    assert_eq!(p.c.state(), State::Disconnected);
    assert_eq!(p.c.publish("t", b"x", QoS::AtMostOnce, false), Err(mqtt_core::ClientError::LinkDown));
    assert_eq!(p.c.subscribe(&[("t", QoS::AtMostOnce)]), Err(mqtt_core::ClientError::LinkDown));
    p.c.set_auto_reconnect(true);
    assert_eq!(p.c.state(), State::WaitingToReconnect);
    assert!(p.c.publish("t", b"x", QoS::AtMostOnce, false).is_ok(), "queued for the next link");
}

/// Defect 10: the schedule in force when the attempt is due counts, timed
/// from the failure.
#[test]
fn reconnect_delays_set_while_waiting_apply_to_the_attempt_already_scheduled() {
    let mut p = Peer::new();
    p.c.set_auto_reconnect(true);
    p.c.set_reconnect_delays_ms(&[5_000]).unwrap();
    p.connect();
    p.drop_link();
    p.events();
    let lost = p.now;
    assert_eq!(p.c.poll_timeout(), Some(lost + 5_000));
    p.advance(100);
    p.c.set_reconnect_delays_ms(&[200]).unwrap();
    assert_eq!(p.c.poll_timeout(), Some(lost + 200), "timed from the failure, not from the call");
    p.advance(100);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Open));
}

/// Defect 13: no schedule busy-loops.
#[test]
fn zero_delays_are_floored_to_twenty_attempts_a_second() {
    let mut p = Peer::with(Config { connect_timeout_ms: 0, ..Config::new("floor") }, 4096, 4096);
    p.c.set_auto_reconnect(true);
    p.c.set_reconnect_delays_ms(&[0]).unwrap();
    p.c.connect(p.now).unwrap();
    let mut opens = 0;
    for _ in 0..1_000 {
        p.advance(1);
        while let Some(a) = p.c.poll_action() {
            if a == LinkAction::Open {
                p.c.handle_link_down(p.now, DisconnectReason::ConnectFailed);
            }
        }
        // Each attempt ends in one `Disconnected` (refused, or timed out at once).
        opens += p.events().len();
    }
    assert!(opens <= 21, "{opens} attempts in one second");
    assert!(opens >= 15, "{opens} attempts in one second: the floor is not a stop");
}

/// Defect 11: nothing to flush, nothing to wait for.
#[test]
fn disconnect_while_waiting_for_connack_with_nothing_queued_closes_at_once() {
    let mut p = Peer::new();
    p.open_link();
    p.c.disconnect(p.now);
    assert_eq!(p.events(), [Ev::Disconnected(DisconnectReason::Requested)]);
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert_eq!(p.c.state(), State::Closed);
    assert!(!p.c.disconnect_sent());
}

#[test]
fn disconnect_while_connecting_flushes_what_was_queued_once_connected_within_the_grace() {
    let mut p = Peer::new();
    p.open_link();
    p.c.publish("t", b"queued", QoS::AtMostOnce, false).unwrap();
    p.c.disconnect(p.now);
    assert!(p.events().is_empty());
    assert_eq!(p.feed(&CONNACK_OK), [Ev::Connected]);
    assert_eq!(types(&p.drain()), [PacketType::Publish, PacketType::Disconnect]);
    assert!(p.c.disconnect_sent());
    assert_eq!(p.c.state(), State::Closed);
    // And when the CONNACK never comes, the grace period ends it.
    let mut q = Peer::new();
    q.open_link();
    q.c.publish("t", b"queued", QoS::AtMostOnce, false).unwrap();
    q.c.disconnect(q.now);
    q.advance(1_999);
    assert!(q.events().is_empty());
    q.advance(1);
    assert_eq!(q.events(), [Ev::Disconnected(DisconnectReason::Requested)]);
    assert_eq!(q.c.state(), State::Closed);
}

/// Defect 12: after a -1 for lack of room, one `Drain` says when to retry.
#[test]
fn a_refused_publish_is_followed_by_drain_when_half_the_buffer_is_free() {
    let mut p = Peer::with(Config::new("drain"), 100, 4096);
    p.connect();
    while p.c.publish("t", &[0; 16], QoS::AtMostOnce, false).is_ok() {}
    assert!(p.events().is_empty());
    let sent = p.drain_by(30);
    assert!(!sent.is_empty());
    assert_eq!(p.events(), [Ev::Drain]);
    assert!(p.events().is_empty(), "once per refusal");
    p.drain();
    assert!(p.events().is_empty());
}

/// Defect 16: the limit is stated.
#[test]
fn too_large_says_the_size_and_the_limit() {
    let mut p = Peer::with(Config::new("big"), 64, 4096);
    p.connect();
    assert_eq!(
        p.c.publish("t", &[0; 100], QoS::AtMostOnce, false),
        Err(mqtt_core::ClientError::TooLarge { size: 105, limit: 64 })
    );
}

/// A message delivered before a bad packet is still acknowledged on the
/// link the client closes [MQTT-4.3.2-2] (found by the hostile-broker table).
#[test]
fn pubacks_owed_before_a_violation_are_parting_bytes() {
    let mut p = Peer::new();
    p.connect();
    let mut bytes = inbound_publish("m/x", b"m1", QoS::AtLeastOnce, Some(1));
    bytes.extend([0xf0, 0x00]); // packet type 15
    let evs = p.feed(&bytes);
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert_eq!(p.c.poll_action(), Some(LinkAction::Close));
    assert_eq!(p.c.parting_bytes(), puback(1));
    assert!(p.drain().is_empty(), "nothing through the normal path on a closed link");
    p.c.advance_parting(4);
    assert!(p.c.parting_bytes().is_empty());
}

/// Found by the restart soak: a -1 for lack of packet ids is followed by a
/// `Drain` too, once half the ids are free again.
#[test]
fn running_out_of_packet_ids_is_followed_by_drain() {
    let config = Config::new("ids");
    let mut storage = storage_for(&config, 8192, 8192);
    storage.ids = vec![0; 2]; // ids 1..=15
    let mut p = Peer { c: mqtt_core::Client::new(&config, storage).unwrap(), now: 1_000 };
    p.connect();
    let ids: Vec<u16> = (0..15).map(|_| p.c.publish("t", b"", QoS::AtLeastOnce, false).unwrap().unwrap()).collect();
    assert_eq!(p.c.publish("t", b"", QoS::AtLeastOnce, false), Err(mqtt_core::ClientError::NoPacketId));
    p.drain();
    let mut drains = 0;
    for id in ids {
        drains += p.feed(&puback(id)).iter().filter(|e| **e == Ev::Drain).count();
    }
    assert_eq!(drains, 1);
}

/// Found by the restart soak: PUBLISHes already received when the server
/// resets the link are delivered (before the `Disconnected`), not dropped
/// with the link, even when their PUBACKs could not all be queued.
#[test]
fn publishes_received_before_a_reset_are_still_delivered() {
    let mut p = Peer::new();
    p.connect();
    let mut burst = Vec::new();
    for id in 1..=100u16 {
        burst.extend(inbound_publish("b", &id.to_be_bytes(), QoS::AtLeastOnce, Some(id)));
    }
    burst.extend(&inbound_publish("b", b"cut", QoS::AtMostOnce, None)[..4]); // a torn one at the end
    let took = p.c.handle_input(&burst);
    let mut got: Vec<Ev> = p.events();
    assert!(got.len() < 100, "the PUBACK queue holds back the rest: {}", got.len());
    // The write of the PUBACKs fails: the server reset the link.
    p.c.handle_link_down(p.now, DisconnectReason::NetworkError);
    assert_eq!(p.c.handle_input(&burst[took..]), burst.len() - took, "bytes read before the reset are taken");
    got.extend(p.events());
    let messages: Vec<u16> = got
        .iter()
        .filter_map(|e| match e {
            Ev::Message { payload, .. } if payload.len() == 2 => Some(u16::from_be_bytes([payload[0], payload[1]])),
            _ => None,
        })
        .collect();
    assert_eq!(messages, (1..=100).collect::<Vec<u16>>());
    assert_eq!(got.last(), Some(&Ev::Disconnected(DisconnectReason::NetworkError)), "then the loss");
    assert!(p.drain().is_empty(), "no PUBACK on a dead link");
    assert!(p.events().is_empty());
}
