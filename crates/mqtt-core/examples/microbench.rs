//! Throughput of the codec and the client state machine, and the memory a
//! client takes in each buffer profile.
//!
//!     cargo run --release -p mqtt-core --example microbench
//!
//! Each rate is the median of 5 runs of about 0.3 s. Inputs go through
//! `std::hint::black_box` so the optimiser cannot fold the work away.

use std::hint::black_box;
use std::mem::size_of;
use std::time::{Duration, Instant};

use mqtt_core::codec::{decode, Packet, Publish, QoS};
use mqtt_core::{Client, Config, Event, LinkAction, Sizes, State, Storage};

const RUNS: usize = 5;
const RUN_TIME: Duration = Duration::from_millis(300);
const TOPIC: &str = "bench/topic";
const PAYLOAD: [u8; 64] = [0xa5; 64];
const CLIENT_ID: &str = "microbench";

/// Runs `batch` (which does `n` operations and returns `n`) until `RUN_TIME`
/// has passed, `RUNS` times; the median rate in operations per second.
fn rate(mut batch: impl FnMut() -> u64) -> f64 {
    // Warm up caches and branch predictors.
    let warm = Instant::now();
    while warm.elapsed() < RUN_TIME / 3 {
        batch();
    }
    let mut rates: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let mut ops = 0u64;
            let elapsed = loop {
                ops += batch();
                let e = start.elapsed();
                if e >= RUN_TIME {
                    break e;
                }
            };
            ops as f64 / elapsed.as_secs_f64()
        })
        .collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    rates[RUNS / 2]
}

fn report(what: &str, unit: &str, per_sec: f64, bytes_per_op: usize) {
    let mib = per_sec * bytes_per_op as f64 / (1024.0 * 1024.0);
    println!("{what:<72} {:>8.2} M {unit}/s  ({per_sec:>12.0} /s, {mib:>8.1} MiB/s)", per_sec / 1e6);
}

fn publish_packet() -> Packet<'static> {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: TOPIC,
        packet_id: None,
        payload: &PAYLOAD,
    })
}

struct Buffers {
    inbound: Vec<u8>,
    outbound: Vec<u8>,
    inflight: Vec<u8>,
    pending: Vec<u8>,
    ids: Vec<u8>,
    connect: Vec<u8>,
    awaiting_pubrel: Vec<u8>,
}

impl Buffers {
    fn new(sizes: Sizes, config: &Config<'_>) -> Self {
        Buffers {
            inbound: vec![0; sizes.inbound],
            outbound: vec![0; sizes.outbound],
            inflight: vec![0; sizes.inflight],
            pending: vec![0; sizes.pending],
            ids: vec![0; sizes.ids],
            connect: vec![0; config.connect_len().expect("valid config")],
            awaiting_pubrel: vec![0; sizes.awaiting_pubrel],
        }
    }
}

/// A client over `bufs`, connected: CONNECT sent, CONNACK taken.
fn connected<'b>(config: &Config<'_>, bufs: &'b mut Buffers) -> Client<&'b mut [u8]> {
    let storage = Storage {
        inbound: &mut bufs.inbound[..],
        outbound: &mut bufs.outbound[..],
        inflight: &mut bufs.inflight[..],
        pending: &mut bufs.pending[..],
        ids: &mut bufs.ids[..],
        connect: &mut bufs.connect[..],
        awaiting_pubrel: &mut bufs.awaiting_pubrel[..],
    };
    let mut client = Client::new(config, storage).expect("client");
    client.connect(0).expect("connect");
    assert_eq!(client.poll_action(), Some(LinkAction::Open));
    client.handle_link_up(0);
    drain(&mut client, 0);
    assert_eq!(client.handle_input(&[0x20, 2, 0, 0]), 4);
    assert!(matches!(client.poll_event(0), Some(Event::Connected { .. })));
    assert_eq!(client.state(), State::Connected);
    client
}

/// Hands everything queued to a socket that takes it all; bytes handed over.
fn drain(client: &mut Client<&mut [u8]>, now: u64) -> usize {
    let mut total = 0;
    loop {
        let out = client.poll_transmit();
        let n = black_box(out).len();
        if n == 0 {
            return total;
        }
        total += n;
        client.advance_transmit(now, n);
    }
}

fn bench_codec() {
    let packet = publish_packet();
    let len = packet.encoded_len().unwrap();
    let mut buf = vec![0u8; len];

    const BATCH: u64 = 1024;
    let encode = rate(|| {
        for _ in 0..BATCH {
            let n = black_box(&packet).encode(black_box(&mut buf[..])).unwrap();
            black_box(n);
        }
        BATCH
    });
    report(&format!("codec: encode PUBLISH QoS 0 ({len} B)"), "packets", encode, len);

    let wire = buf.clone();
    let decoded = rate(|| {
        for _ in 0..BATCH {
            let (p, n) = decode(black_box(&wire[..]), 1 << 20).unwrap().unwrap();
            black_box((p, n));
        }
        BATCH
    });
    report(&format!("codec: decode PUBLISH QoS 0 ({len} B)"), "packets", decoded, len);
}

fn bench_client_publish(config: &Config<'_>) {
    let len = publish_packet().encoded_len().unwrap();
    let mut bufs = Buffers::new(Sizes::PC, config);
    let mut client = connected(config, &mut bufs);

    // One PUBLISH in, drained to the socket, repeated.
    const BATCH: u64 = 256;
    let one_by_one = rate(|| {
        for _ in 0..BATCH {
            client.publish(black_box(TOPIC), black_box(&PAYLOAD), QoS::AtMostOnce, false).unwrap();
            let n = drain(&mut client, 1);
            debug_assert_eq!(n, len);
        }
        BATCH
    });
    report("client: publish QoS 0 + drain, one at a time", "packets", one_by_one, len);

    // 64 PUBLISHes queued, then one drain of all of them.
    const QUEUED: u64 = 64;
    let batched = rate(|| {
        for _ in 0..QUEUED {
            client.publish(black_box(TOPIC), black_box(&PAYLOAD), QoS::AtMostOnce, false).unwrap();
        }
        let n = drain(&mut client, 1);
        debug_assert_eq!(n, len * QUEUED as usize);
        QUEUED
    });
    report("client: publish QoS 0 x64, then drain", "packets", batched, len);
}

fn bench_client_receive(config: &Config<'_>, sizes: Sizes, label: &str) {
    // A pre-encoded stream of 1024 PUBLISH QoS 0 from the server.
    const MESSAGES: usize = 1024;
    let packet = publish_packet();
    let len = packet.encoded_len().unwrap();
    let mut stream = vec![0u8; len * MESSAGES];
    for chunk in stream.chunks_mut(len) {
        packet.encode(chunk).unwrap();
    }

    let mut bufs = Buffers::new(sizes, config);
    let mut client = connected(config, &mut bufs);
    let received = rate(|| {
        let mut fed = 0;
        let mut got = 0u64;
        while fed < stream.len() {
            fed += client.handle_input(black_box(&stream[fed..]));
            while let Some(event) = client.poll_event(1) {
                match event {
                    Event::Message(p) => {
                        black_box(p.payload);
                        got += 1;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!(got, MESSAGES as u64);
        got
    });
    report(&format!("client: receive (handle_input+poll_event), {label}"), "msgs", received, len);
}

fn sizes(config: &Config<'_>) {
    let state = size_of::<Client<&mut [u8]>>();
    let connect = config.connect_len().unwrap();
    println!();
    println!("memory per client (Client<&mut [u8]>, CONNECT of client id {CLIENT_ID:?}):");
    println!("  fixed state size_of::<Client<&mut [u8]>>()  {state:>9} B");
    println!("  (size_of::<Client<Vec<u8>>>()                {:>9} B)", size_of::<Client<Vec<u8>>>());
    let mut esp32_total = 0;
    for (name, s) in [("PC", Sizes::PC), ("ESP32", Sizes::ESP32)] {
        let buffers = s.inbound + s.outbound + s.inflight + s.pending + s.ids + connect;
        let total = state + buffers;
        println!(
            "  {name:<5} buffers: inbound {} + outbound {} + inflight {} + pending {} + ids {} + connect {connect} = {buffers} B",
            s.inbound, s.outbound, s.inflight, s.pending, s.ids
        );
        println!("  {name:<5} total per client: {state} + {buffers} = {total} B ({:.2} KiB)", total as f64 / 1024.0);
        if name == "ESP32" {
            esp32_total = total;
        }
    }
    println!("  ESP32 total for 2 connections: {} B ({:.2} KiB)", 2 * esp32_total, (2 * esp32_total) as f64 / 1024.0);
}

fn main() {
    if cfg!(debug_assertions) {
        println!("warning: debug build; run with --release for meaningful numbers");
    }
    let config = Config::new(CLIENT_ID);
    println!(
        "PUBLISH: topic {TOPIC:?}, {}-byte payload; median of {RUNS} runs of {} ms",
        PAYLOAD.len(),
        RUN_TIME.as_millis()
    );
    bench_codec();
    bench_client_publish(&config);
    bench_client_receive(&config, Sizes::PC, "PC, whole stream per call");
    bench_client_receive(&config, Sizes::ESP32, "ESP32, 4 KiB at a time");
    sizes(&config);
}
