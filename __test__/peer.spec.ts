// The client against a scripted TCP peer (helpers/peer.ts): what a real
// broker will not do on demand: refuse, stall, stop reading, send garbage,
// drop the link mid-packet, never answer a PINGREQ. Every test reads the
// bytes the client actually wrote and parses every frame.

import anyTest from 'ava';

// Serial: the connection limit (16) is per process, and timing-sensitive
// tests should not compete with each other for the two cores.
const test = anyTest.serial;
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt-rs-client';
import { openRecorded, sleep, uid } from './helpers/client';
import { freePort } from './helpers/net';
import {
  PacketType, decodeConnect, decodePublish, packetId, packets, splitFrame, startPeer,
  type Peer, type PeerConnection,
} from './helpers/peer';

async function withPeer(t: { teardown(fn: () => unknown): void }): Promise<Peer> {
  const peer = await startPeer();
  t.teardown(() => peer.close());
  return peer;
}

/** Accepts the next connection and completes the handshake with CONNACK 0. */
async function accept(peer: Peer): Promise<PeerConnection> {
  const c = await peer.nextConnection();
  await c.nextPacket(PacketType.CONNECT);
  c.write(packets.connack(0));
  return c;
}

test('CONNECT: MQTT 3.1.1, clean session, client id, keep-alive, user name and password [MQTT-3.1.2-1] [MQTT-3.1.2-2] [MQTT-3.1.3-3]', async (t) => {
  const peer = await withPeer(t);
  const id = uid('hello');
  const rec = openRecorded(t, '127.0.0.1', peer.port, id);
  const c = await peer.nextConnection();
  const f = await c.nextPacket();
  t.is(f.type, PacketType.CONNECT, 'the first packet is CONNECT [MQTT-3.1.0-1]');
  t.is(f.flags, 0);
  const info = decodeConnect(f);
  t.like(info, { protocolName: 'MQTT', protocolLevel: 4, cleanSession: true, keepAlive: 60, clientId: id });
  t.is(info.username, undefined);
  t.is(info.password, undefined);
  // open() returned at once; the connection waits for the CONNACK on its own.
  await sleep(100);
  t.is(mqtt.state(rec.conn), 'connecting');
  t.deepEqual(rec.types, []);
  c.write(packets.connack(0));
  await rec.next('connected');
  t.is(mqtt.state(rec.conn), 'connected');

  const auth = openRecorded(t, '127.0.0.1', peer.port, uid('auth'), { auth: ['user', 'pässword'], options: { keepAlive: 17 } });
  const c2 = await peer.nextConnection();
  const info2 = decodeConnect(await c2.nextPacket(PacketType.CONNECT));
  t.is(info2.username, 'user');
  t.is(info2.password?.toString('utf8'), 'pässword');
  t.is(info2.keepAlive, 17);
  c2.write(packets.connack(0));
  await auth.next('connected');
});

for (const [code, text] of [
  [1, /MQTT 3\.1\.1|protocol/],
  [2, /client identifier rejected/],
  [3, /server unavailable/],
  [4, /bad user name or password/],
  [5, /not authorized/],
] as const) {
  test(`CONNACK refusal code ${code}: disconnected with the reason, never connected [MQTT-3.2.2-5]`, async (t) => {
    const peer = await withPeer(t);
    const rec = openRecorded(t, '127.0.0.1', peer.port, uid(`refused${code}`));
    const c = await peer.nextConnection();
    await c.nextPacket(PacketType.CONNECT);
    c.write(packets.connack(code));
    const d = await rec.next('disconnected');
    t.true(d.reason.startsWith(`connection refused (${code})`), d.reason);
    t.regex(d.reason, text);
    t.is(mqtt.state(rec.conn), 'disconnected');
    await c.waitClosed();
    t.deepEqual(rec.types, ['disconnected']);
  });
}

test('no CONNACK within the connect timeout: disconnected with a reason, the link is closed', async (t) => {
  const peer = await withPeer(t);
  const rec = openRecorded(t, '127.0.0.1', peer.port, uid('slow'), { options: { connectTimeoutMs: 300 } });
  const c = await peer.nextConnection();
  await c.nextPacket(PacketType.CONNECT);
  const d = await rec.next('disconnected');
  t.regex(d.reason, /CONNACK/);
  await c.waitClosed();
});

test('auto-reconnect also covers a first connection that never came up (TCP refused)', async (t) => {
  const port = await freePort();
  const rec = openRecorded(t, '127.0.0.1', port, uid('late'));
  mqtt.setAutoReconnect(rec.conn, true);
  mqtt.setReconnectDelays(rec.conn, [0.1]);
  const d = await rec.next('disconnected');
  t.regex(d.reason, /TCP connect failed/);
  t.not(mqtt.state(rec.conn), 'connected');
  const peer = await startPeer(port);
  t.teardown(() => peer.close());
  await accept(peer);
  await rec.next('connected');
  t.is(mqtt.state(rec.conn), 'connected');
});

test('link dropped mid-packet: disconnected, no partial message; the next link starts clean', async (t) => {
  const peer = await withPeer(t);
  const rec = openRecorded(t, '127.0.0.1', peer.port, uid('torn'));
  mqtt.setAutoReconnect(rec.conn, true);
  mqtt.setReconnectDelays(rec.conn, [0.05]);
  const c = await accept(peer);
  await rec.next('connected');
  const whole = packets.publish('torn/x', Buffer.alloc(1000, 7));
  c.write(whole.subarray(0, 500));
  await sleep(50);
  c.destroy();
  const d = await rec.next('disconnected');
  t.regex(d.reason, /closed by the server|network error/);

  const c2 = await accept(peer);
  await rec.next('connected');
  c2.write(packets.publish('torn/y', 'whole'));
  const m = await rec.next('message');
  t.is(m.topic, 'torn/y');
  t.is(m.payload, 'whole');
  t.is(rec.seen.message.length, 1, 'the torn packet never surfaced');
});

test('reconnect follows the delay schedule: the last delay repeats, the index resets after a CONNACK', async (t) => {
  const peer = await withPeer(t);
  const rec = openRecorded(t, '127.0.0.1', peer.port, uid('schedule'));
  mqtt.setAutoReconnect(rec.conn, true);
  mqtt.setReconnectDelays(rec.conn, [0.15, 0.45, 0.9]);
  // Attempts 0-3 fail (the peer hangs up at once), attempt 4 succeeds.
  for (let i = 0; i < 4; i++) (await peer.nextConnection(10_000)).destroy();
  const ok = await accept(peer);
  await rec.next('connected');
  const lost = performance.now();
  ok.destroy();
  await accept(peer);
  await rec.next('connected');

  const at = peer.connectionTimes;
  const gaps = [at[1] - at[0], at[2] - at[1], at[3] - at[2], at[4] - at[3]];
  const afterReset = at[5] - lost;
  t.log('gaps (ms)', gaps.map(Math.round), 'after reset', Math.round(afterReset));
  // Ratios, not durations: 0.15 -> 0.45 -> 0.9 -> 0.9 (repeat) -> reset to 0.15.
  t.true(gaps[1] > gaps[0] * 1.5, 'second delay longer than the first');
  t.true(gaps[2] > gaps[1] * 1.3, 'third delay longer than the second');
  t.true(gaps[3] > gaps[2] * 0.6 && gaps[3] < gaps[2] * 1.6, 'the last delay repeats');
  t.true(afterReset < gaps[2] * 0.5, 'a CONNACK resets the schedule to the first delay');
  t.true(rec.seen.disconnected.length >= 5);
});

test('a peer that stops reading: publish returns -1 (backpressure), the link stays up, and no packet is torn', async (t) => {
  const peer = await withPeer(t);
  const rec = openRecorded(t, '127.0.0.1', peer.port, uid('stall'));
  const c = await accept(peer);
  await rec.next('connected');
  c.pause();

  const topic = 'stall/x';
  const size = 64 * 1024;
  let accepted = 0;
  let refused = false;
  for (let i = 0; i < 4000; i++) {
    const p = Buffer.alloc(size, i & 0xff);
    p.writeUInt32BE(i, 0);
    if (mqtt.publish(rec.conn, topic, p, 0) !== 0) {
      refused = true;
      break;
    }
    accepted++;
  }
  t.true(refused, 'publish refused once the buffers were full');
  t.regex(mqtt.lastError(), /outbound buffer full/);
  t.is(mqtt.state(rec.conn), 'connected');
  await sleep(100);
  t.is(mqtt.state(rec.conn), 'connected', 'backpressure is not an error of the link');

  c.resume();
  for (let i = 0; i < accepted; i++) {
    const f = await c.nextPacket(undefined, 20_000);
    t.is(f.type, PacketType.PUBLISH);
    const p = decodePublish(f);
    if (p.topic !== topic || p.payload.length !== size || p.payload.readUInt32BE(0) !== i || p.payload[size - 1] !== (i & 0xff)) {
      t.fail(`frame ${i} is not publish #${i} whole: topic ${p.topic}, ${p.payload.length} bytes`);
      return;
    }
  }
  // Nothing after the last whole packet: no torn remainder.
  await sleep(100);
  const all = c.received;
  let off = 0;
  let frames = 0;
  for (let f = splitFrame(all, 0); f; f = splitFrame(all, off)) {
    off += f.bytes.length;
    frames++;
  }
  t.is(off, all.length, 'the stream ends on a packet boundary');
  t.true(frames >= accepted);

  // Backpressure was temporary: the connection works.
  t.is(mqtt.publish(rec.conn, topic, 'after', 0), 0);
  const after = decodePublish(await c.nextPacket(PacketType.PUBLISH));
  t.is(after.payload.toString(), 'after');
  t.deepEqual(rec.types, ['connected']);
});

test('a peer that never answers PINGREQ: keep-alive declares the link dead [MQTT-3.1.2-24]', async (t) => {
  const peer = await withPeer(t);
  const rec = openRecorded(t, '127.0.0.1', peer.port, uid('deadlink'), { options: { keepAlive: 1 } });
  const c = await accept(peer);
  await rec.next('connected');
  const ping = await c.nextPacket(PacketType.PINGREQ);
  t.deepEqual([...ping.bytes], [0xc0, 0x00]);
  const d = await rec.next('disconnected');
  t.regex(d.reason, /keep-alive/);
  await c.waitClosed();
  t.is(mqtt.state(rec.conn), 'disconnected');
});

test('ping() sends a PINGREQ now; a PINGRESP keeps the link up', async (t) => {
  const peer = await withPeer(t);
  const rec = openRecorded(t, '127.0.0.1', peer.port, uid('ping'));
  const c = await accept(peer);
  await rec.next('connected');
  mqtt.ping(rec.conn);
  await c.nextPacket(PacketType.PINGREQ);
  c.write(packets.pingresp());
  await sleep(100);
  t.is(mqtt.state(rec.conn), 'connected');
  t.deepEqual(rec.types, ['connected']);
});

for (const [name, bytes, reason] of [
  ['reserved packet type 0', Buffer.from([0x00, 0x00]), /reserved packet type/],
  ['remaining length of 5 bytes', Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), /remaining length/],
  ['ill-formed UTF-8 in a topic', Buffer.from([0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, 0x41]), /UTF-8/],
  ['a second CONNACK', packets.connack(0), /second CONNACK/],
  ['a PUBACK for an unknown packet id', packets.puback(999), /unknown packet id/],
  ['wrong fixed-header flags on SUBACK', Buffer.from([0x92, 0x03, 0x00, 0x01, 0x00]), /flags/],
  ['QoS 3 on a PUBLISH', Buffer.from([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]), /QoS/],
] as const) {
  test(`malformed input (${name}): the client closes the link itself and reports a reason [MQTT-4.8.0-1]`, async (t) => {
    const peer = await withPeer(t);
    const rec = openRecorded(t, '127.0.0.1', peer.port, uid('garbage'));
    const c = await accept(peer);
    await rec.next('connected');
    c.write(bytes);
    const d = await rec.next('disconnected');
    t.regex(d.reason, reason);
    await c.waitClosed();
    t.is(mqtt.state(rec.conn), 'disconnected');
    // The process carries on: a new connection works.
    const again = openRecorded(t, '127.0.0.1', peer.port, uid('again'));
    await accept(peer);
    await again.next('connected');
  });
}

test('a PUBLISH before CONNACK is a protocol violation', async (t) => {
  const peer = await withPeer(t);
  const rec = openRecorded(t, '127.0.0.1', peer.port, uid('early'));
  const c = await peer.nextConnection();
  await c.nextPacket(PacketType.CONNECT);
  c.write(packets.publish('too/early', 'x'));
  const d = await rec.next('disconnected');
  t.regex(d.reason, /CONNACK/);
  await c.waitClosed();
});

test('packet ids start at 1 and count up; SUBSCRIBE flags 0b0010; SUBACK codes incl. 0x80 [MQTT-2.3.1-1] [MQTT-3.8.1-1]', async (t) => {
  const peer = await withPeer(t);
  const rec = openRecorded(t, '127.0.0.1', peer.port, uid('ids'));
  const c = await accept(peer);
  await rec.next('connected');
  t.is(mqtt.subscribe(rec.conn, 'a/#', 1), 0);
  t.is(mqtt.subscribe(rec.conn, 'b/+', 0), 0);
  const s1 = await c.nextPacket(PacketType.SUBSCRIBE);
  const s2 = await c.nextPacket(PacketType.SUBSCRIBE);
  t.is(s1.flags, 0b0010);
  t.is(packetId(s1), 1);
  t.is(packetId(s2), 2);
  c.write(packets.suback(1, 1));
  c.write(packets.suback(2, 0x80));
  const [a, b] = await rec.count('subscribed', 2);
  t.like(a, { topic: 'a/#', qos: 1, ok: true, packetId: 1 });
  t.like(b, { topic: 'b/+', qos: 128, ok: false, packetId: 2 });

  for (const p of ['x', 'y']) t.is(mqtt.publish(rec.conn, 'ids/q1', p, 1), 0);
  t.is(mqtt.publish(rec.conn, 'ids/q0', 'z', 0), 0);
  const p1 = decodePublish(await c.nextPacket(PacketType.PUBLISH));
  const p2 = decodePublish(await c.nextPacket(PacketType.PUBLISH));
  const p3 = decodePublish(await c.nextPacket(PacketType.PUBLISH));
  t.deepEqual([p1.id, p2.id, p3.id], [3, 4, undefined]);
  t.deepEqual([p1.qos, p2.qos, p3.qos], [1, 1, 0]);
  t.false(p1.dup || p2.dup || p3.dup || p1.retain);
});

test('inbound QoS 1: PUBACK with the same id; dup and retain reach the event [MQTT-4.3.2-2]', async (t) => {
  const peer = await withPeer(t);
  const rec = openRecorded(t, '127.0.0.1', peer.port, uid('inbound'));
  const c = await accept(peer);
  await rec.next('connected');
  c.write(packets.publish('in/1', 'hello', { qos: 1, id: 4242, dup: true, retain: true }));
  c.write(packets.publish('in/0', Buffer.from([0xff, 0xfe]), { qos: 0 }));
  const ack = await c.nextPacket(PacketType.PUBACK);
  t.is(packetId(ack), 4242);
  t.is(ack.flags, 0);
  const [m1, m0] = await rec.count('message', 2);
  t.like(m1, { topic: 'in/1', payload: 'hello', qos: 1, dup: true, retain: true });
  t.like(m0, { topic: 'in/0', qos: 0, dup: false, retain: false });
  t.deepEqual([...m0.bytes], [0xff, 0xfe], 'raw bytes survive even when not UTF-8');
  t.is(m0.payload, '\ufffd\ufffd');
});

test('QoS 1 survives a reconnect: unacknowledged PUBLISHes go first with DUP and their ids, then what was queued while down', async (t) => {
  const peer = await withPeer(t);
  const queuedWhileDown: number[] = [];
  const rec = openRecorded(t, '127.0.0.1', peer.port, uid('resend'), {
    hooks: {
      disconnected: (e) => {
        if (queuedWhileDown.length === 0) queuedWhileDown.push(mqtt.publish(e.conn, 'resend/t', 'd (queued while down)', 1));
      },
    },
  });
  mqtt.setAutoReconnect(rec.conn, true);
  mqtt.setReconnectDelays(rec.conn, [0.5]);
  const c = await accept(peer);
  await rec.next('connected');
  for (const p of ['a', 'b', 'c']) t.is(mqtt.publish(rec.conn, 'resend/t', p, 1), 0);
  const first = [];
  for (let i = 0; i < 3; i++) first.push(decodePublish(await c.nextPacket(PacketType.PUBLISH)));
  t.deepEqual(first.map((p) => [p.payload.toString(), p.id, p.dup]), [['a', 1, false], ['b', 2, false], ['c', 3, false]]);
  c.write(packets.puback(1));
  await sleep(50);
  c.destroy();
  await rec.next('disconnected');
  t.deepEqual(queuedWhileDown, [0], 'publish while the link is down queues');

  const c2 = await peer.nextConnection();
  await c2.nextPacket(PacketType.CONNECT);
  c2.write(packets.connack(0));
  await rec.next('connected');
  t.is(mqtt.publish(rec.conn, 'resend/t', 'e (after reconnect)', 1), 0);
  const next = [];
  for (let i = 0; i < 4; i++) next.push(decodePublish(await c2.nextPacket(PacketType.PUBLISH)));
  t.deepEqual(next.map((p) => [p.payload.toString(), p.id, p.dup]), [
    ['b', 2, true],
    ['c', 3, true],
    ['d (queued while down)', 4, false],
    ['e (after reconnect)', 5, false],
  ]);
});

test('disconnect(): queued PUBLISHes, then DISCONNECT, then the client closes [MQTT-3.14.4-1]', async (t) => {
  const peer = await withPeer(t);
  const rec = openRecorded(t, '127.0.0.1', peer.port, uid('bye'));
  const c = await accept(peer);
  await rec.next('connected');
  for (let i = 0; i < 3; i++) t.is(mqtt.publish(rec.conn, 'bye/t', `m${i}`, 0), 0);
  mqtt.disconnect(rec.conn);
  const types = [];
  for (let i = 0; i < 4; i++) types.push((await c.nextPacket()).type);
  t.deepEqual(types, [PacketType.PUBLISH, PacketType.PUBLISH, PacketType.PUBLISH, PacketType.DISCONNECT]);
  await c.waitClosed();
  t.is((await rec.next('disconnected')).reason, 'disconnect requested');
});
