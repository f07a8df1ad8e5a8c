//! A minimal MQTT peer for benchmarks, fast enough that the client under
//! test is what gets measured. It accepts any CONNECT, acknowledges QoS 1
//! PUBLISHes and SUBSCRIBEs, answers PINGREQ, and on a SUBSCRIBE to
//! `bench/source/<n>` sends n pre-encoded 64-byte QoS 0 PUBLISHes on
//! `bench/source/<n>`. A PUBLISH to `bench/fence` is answered with a QoS 0
//! PUBLISH on `bench/fence` whose payload is the number of PUBLISHes
//! received on that connection so far (so a client knows the peer has read
//! everything it sent). It prints `port <p>` once listening.
//!
//! A SUBSCRIBE to `bench/flood/<payload bytes>/<max ms>/<max bytes>` starts
//! a flood on that connection (after the SUBACK): pre-encoded QoS 0
//! PUBLISHes of that payload size on that topic, written as fast as the
//! socket takes them, until `max ms` have passed or `max bytes` have been
//! written, whichever comes first. Nothing is read from that connection
//! meanwhile. At the end it prints one line,
//! `flood msgs=<n> bytes=<n> ms=<n> torn=<0|1>`; `torn=1` means the client
//! stopped reading for more than 2 s past the deadline, so the flood gave up
//! in the middle of a packet and closed the connection.
//!
//! Usage: bench-peer [port]   (0 or none: any free port)

use std::io::{BufWriter, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mqtt_core::codec::{decode, Packet, Publish, QoS};

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("port {}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = serve(stream);
        });
    }
    Ok(())
}

fn encode(p: &Packet<'_>, out: &mut Vec<u8>) {
    let at = out.len();
    out.resize(at + p.encoded_len().expect("valid packet"), 0);
    p.encode(&mut out[at..]).expect("sized");
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = stream.try_clone()?;
    let mut writer = BufWriter::with_capacity(1 << 16, stream);
    let mut buf = vec![0u8; 4 << 20];
    let (mut start, mut end) = (0usize, 0usize);
    let mut received: u64 = 0;
    loop {
        if start == end {
            start = 0;
            end = 0;
        } else if end == buf.len() {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        let n = reader.read(&mut buf[end..])?;
        if n == 0 {
            return Ok(());
        }
        end += n;
        let mut out = Vec::new();
        loop {
            let (packet, used) = match decode(&buf[start..end], usize::MAX) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(_) => return Ok(()),
            };
            start += used;
            match packet {
                Packet::Connect(_) => out.extend_from_slice(&[0x20, 2, 0, 0]),
                Packet::Publish(p) => {
                    received += 1;
                    if let (QoS::AtLeastOnce, Some(id)) = (p.qos, p.packet_id) {
                        encode(&Packet::PubAck(id), &mut out);
                    }
                    if p.topic == "bench/fence" {
                        let count = received.to_string();
                        let reply = Publish {
                            dup: false,
                            qos: QoS::AtMostOnce,
                            retain: false,
                            topic: "bench/fence",
                            packet_id: None,
                            payload: count.as_bytes(),
                        };
                        encode(&Packet::Publish(reply), &mut out);
                    }
                }
                Packet::Subscribe(s) => {
                    let codes: Vec<u8> = s.filters.iter().map(|(_, q)| q as u8).collect();
                    encode(
                        &Packet::SubAck(mqtt_core::SubAck { packet_id: s.packet_id, return_codes: &codes }),
                        &mut out,
                    );
                    for (filter, _) in s.filters.iter() {
                        if let Some(n) = filter.strip_prefix("bench/source/").and_then(|n| n.parse::<usize>().ok()) {
                            writer.write_all(&out)?;
                            out.clear();
                            send_source(&mut writer, filter, n)?;
                        } else if let Some(spec) = filter.strip_prefix("bench/flood/") {
                            writer.write_all(&out)?;
                            out.clear();
                            writer.flush()?;
                            flood(writer.get_mut(), filter, spec)?;
                        }
                    }
                }
                Packet::PingReq => out.extend_from_slice(&[0xd0, 0]),
                Packet::Disconnect => {
                    writer.write_all(&out)?;
                    return writer.flush();
                }
                _ => {}
            }
        }
        writer.write_all(&out)?;
        writer.flush()?;
    }
}

/// One QoS 0 PUBLISH, encoded.
fn qos0_publish(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut one = Vec::new();
    let publish = Publish { dup: false, qos: QoS::AtMostOnce, retain: false, topic, packet_id: None, payload };
    encode(&Packet::Publish(publish), &mut one);
    one
}

/// n QoS 0 PUBLISHes of 64 bytes, pre-encoded in blocks.
fn send_source(w: &mut impl Write, topic: &str, n: usize) -> std::io::Result<()> {
    let payload = [b'x'; 64];
    let one = qos0_publish(topic, &payload);
    let block: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1024).collect();
    let mut left = n;
    while left > 0 {
        let k = left.min(1024);
        w.write_all(&block[..k * one.len()])?;
        left -= k;
    }
    w.flush()
}

/// See the module comment: `spec` is `<payload bytes>/<max ms>/<max bytes>`.
fn flood(stream: &mut TcpStream, topic: &str, spec: &str) -> std::io::Result<()> {
    let mut parts = spec.split('/').map(|p| p.parse::<u64>().ok());
    let (Some(Some(size)), Some(Some(max_ms)), Some(Some(max_bytes))) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(());
    };
    let payload = vec![b'x'; size as usize];
    let one = qos0_publish(topic, &payload);
    // Blocks of about 256 KiB, whole packets only.
    let block = one.repeat(((256usize << 10) / one.len()).max(1));
    let start = Instant::now();
    let deadline = start + Duration::from_millis(max_ms);
    let give_up = deadline + Duration::from_secs(2);
    // A short timeout so a client that stopped reading cannot keep the
    // flood past its deadline.
    stream.set_write_timeout(Some(Duration::from_millis(20)))?;
    let mut sent: u64 = 0;
    let mut torn = false;
    'flood: while Instant::now() < deadline && sent + block.len() as u64 <= max_bytes {
        let mut at = 0;
        while at < block.len() {
            match stream.write(&block[at..]) {
                Ok(0) => break 'flood,
                Ok(n) => {
                    at += n;
                    sent += n as u64;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    if Instant::now() >= give_up {
                        torn = true;
                        break 'flood;
                    }
                }
                Err(e) => {
                    report(sent, one.len(), start, true);
                    return Err(e);
                }
            }
        }
    }
    report(sent, one.len(), start, torn);
    if torn {
        // The stream ends inside a packet: nothing more can follow it.
        return Err(std::io::Error::new(ErrorKind::TimedOut, "flood: the client stopped reading"));
    }
    stream.set_write_timeout(None)
}

fn report(sent: u64, packet_len: usize, start: Instant, torn: bool) {
    let ms = start.elapsed().as_millis();
    println!("flood msgs={} bytes={sent} ms={ms} torn={}", sent / packet_len as u64, torn as u8);
}
