// Broker failover (issue 11, item 2): `open` options `brokers` after the
// address given to open, tried in order and wrapping around; the reconnect
// schedule applies once per round over them; `connected` names the broker
// that answered. Against two real mosquitto instances, and against closed
// loopback ports and the scripted peer for the order of attempts.

import anyTest from 'ava';

// Serial: the connection limit (16) is per process, and these tests stop and
// start brokers.
const test = anyTest.serial;
import mqtt from 'mqtt-rs-client';
import { openRecorded, uid } from './helpers/client';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto';
import { freePort } from './helpers/net';
import { PacketType, packets, startPeer } from './helpers/peer';

const SKIP = 'mosquitto not installed: skipped';

async function broker(t: { teardown(fn: () => unknown): void }): Promise<Mosquitto | null> {
  const b = await startMosquitto();
  if (b) t.teardown(() => b.stop());
  return b;
}

test('the first broker is down: the client connects to the second, then moves back to the first when the second dies', async (t) => {
  const a = await broker(t);
  const b = await broker(t);
  if (!a || !b) return t.pass(SKIP);
  await a.down();
  const rec = openRecorded(t, '127.0.0.1', a.port, uid('failover'), {
    options: { brokers: [{ host: '127.0.0.1', port: b.port }] },
  });
  mqtt.setAutoReconnect(rec.conn, true);
  mqtt.setReconnectDelays(rec.conn, [0.1]);

  const refused = await rec.next('disconnected');
  t.is(refused.cause, 'connect-failed');
  t.true(refused.reason.includes(`127.0.0.1:${a.port}`), `the reason names the broker that refused: ${refused.reason}`);
  const first = await rec.next('connected');
  t.like(first, { broker: 1, host: '127.0.0.1', port: b.port }, 'the second broker answered');

  await a.up();
  await b.down('SIGKILL');
  const lost = await rec.next('disconnected');
  t.not(lost.cause, 'requested');
  const second = await rec.next('connected');
  t.like(second, { broker: 0, host: '127.0.0.1', port: a.port }, 'back on the first broker');
  t.is(mqtt.state(rec.conn), 'connected');

  // Still a working link: a message goes round through the first broker.
  const topic = `${uid('fo')}/x`;
  t.is(mqtt.subscribe(rec.conn, topic, 1), 0);
  await rec.next('subscribed');
  t.true(mqtt.publish(rec.conn, topic, 'via a', 1) >= 0);
  const m = await rec.next('message');
  t.is(m.payload, 'via a');
});

test('the reconnect schedule applies per round over the brokers, in order, wrapping around', async (t) => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const rec = openRecorded(t, '127.0.0.1', ports[0], uid('rounds'), {
    options: { brokers: ports.slice(1).map((port) => ({ host: '127.0.0.1', port })) },
  });
  mqtt.setAutoReconnect(rec.conn, true);
  // A schedule per address would stop after two attempts (the second
  // delay is an hour); per round, two whole rounds come first.
  mqtt.setReconnectDelays(rec.conn, [0.05, 3600]);
  const failed = await rec.count('disconnected', 6);
  const tried = failed.map((d) => {
    t.is(d.cause, 'connect-failed', d.reason);
    return Number(/127\.0\.0\.1:(\d+)/.exec(d.reason)?.[1]);
  });
  t.deepEqual(tried, [...ports, ...ports], 'each broker once per round, in order');

  // The third round starts with the first broker again: a peer answers there
  // (a shorter schedule counts from the next attempt that falls due).
  const peer = await startPeer(ports[0]);
  t.teardown(() => peer.close());
  mqtt.setReconnectDelays(rec.conn, [0.05]);
  const c = await peer.nextConnection();
  await c.nextPacket(PacketType.CONNECT);
  c.write(packets.connack(0));
  const up = await rec.next('connected');
  t.like(up, { broker: 0, port: ports[0] });
  t.is(rec.seen.disconnected.length, 6, 'no attempt went elsewhere meanwhile');
});

test('a DNS name that resolves to several addresses is tried on each within one attempt', async (t) => {
  // localhost: ::1 (nothing listens there) and 127.0.0.1 (the peer).
  const peer = await startPeer();
  t.teardown(() => peer.close());
  const dead = await freePort();
  const rec = openRecorded(t, '127.0.0.1', dead, uid('dns'), {
    options: { brokers: [{ host: 'localhost', port: peer.port }] },
  });
  mqtt.setAutoReconnect(rec.conn, true);
  mqtt.setReconnectDelays(rec.conn, [0.05]);
  const c = await peer.nextConnection();
  await c.nextPacket(PacketType.CONNECT);
  c.write(packets.connack(0));
  const up = await rec.next('connected');
  t.like(up, { broker: 1, host: 'localhost', port: peer.port });
});

test('the brokers list is checked at open: -1 with a reason naming the entry, TypeError naming the field', (t) => {
  const open = (brokers: unknown) => mqtt.open('127.0.0.1', 1883, 'id', { brokers } as never);
  const refused: [unknown, RegExp][] = [
    [[{ host: '', port: 1883 }], /brokers\[0\]\.host must not be empty/],
    [[{ host: 'a', port: 1 }, { host: 'b', port: 0 }], /options\.brokers\[1\]\.port must be an integer from 1 to 65535/],
    [[{ host: 'a', port: 1 }, { host: 'b', port: 65536 }], /options\.brokers\[1\]\.port must be an integer from 1 to 65535/],
    [[{ host: 'a', port: 1.5 }], /options\.brokers\[0\]\.port/],
    [[{ host: 'b:1883', port: 1 }], /brokers\[0\]\.host must not include a port/],
    [[{ host: 'mqtt://b', port: 1 }], /brokers\[0\]\.host/],
    [[{ host: 'a\ud800', port: 1 }], /options\.brokers\[0\]\.host is not well-formed UTF-16/],
    [Array.from({ length: 17 }, () => ({ host: 'a', port: 1 })), /brokers: at most 16 entries/],
    [Array.from({ length: 100_000 }, () => ({ host: 'a', port: 1 })), /brokers: at most 16 entries/],
  ];
  for (const [brokers, reason] of refused) {
    t.is(open(brokers), -1, JSON.stringify(brokers).slice(0, 80));
    t.regex(mqtt.lastError(), reason);
  }
  const thrown: [unknown, RegExp][] = [
    ['127.0.0.1:1883', /^options\.brokers must be an array of \{ host, port \}, got string/],
    [{ host: 'a', port: 1 }, /^options\.brokers must be an array/],
    [[null], /^options\.brokers\[0\] must be an object \{ host, port \}, got null/],
    [[{ host: 'a', port: 1 }, 'b:1'], /^options\.brokers\[1\] must be an object/],
    [[{ host: 'a', port: '1883' }], /^options\.brokers\[0\]\.port must be a number, got string/],
    [[{ port: 1883 }], /^options\.brokers\[0\]\.host must be a string, got undefined/],
  ];
  for (const [brokers, message] of thrown) {
    t.throws(() => open(brokers), { instanceOf: TypeError, message });
  }
  t.is(mqtt.liveConnections(), 0, 'no refused open left a connection behind');
  // 16 entries and an empty list are accepted.
  const ok = [open(Array.from({ length: 16 }, (_, i) => ({ host: `b${i}.invalid`, port: 1 + i }))), open([])];
  for (const conn of ok) {
    t.true(conn >= 0, mqtt.lastError());
    mqtt.disconnect(conn);
  }
});
