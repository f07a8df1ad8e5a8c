// The client against a real mosquitto (Debian package), started by this file
// on its own loopback port. Without mosquitto the tests pass as skipped,
// unless MQTT_REQUIRE_MOSQUITTO=1 (CI), which makes that an error.

import anyTest from 'ava';

// Serial: the connection limit (16) is per process, and timing-sensitive
// tests should not compete with each other for the two cores.
const test = anyTest.serial;
import mqttjs from 'mqtt';
import mqtt from 'mqtt-rs-client';
import { connectAndSubscribe, openRecorded, Recorder, sleep, track, uid } from './helpers/client';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto';
import { waitFor } from './helpers/wait';

let broker: Mosquitto | null = null;

anyTest.before(async () => {
  broker = await startMosquitto({ passwords: { alice: 'secret', bob: 'hunter2' } });
});

anyTest.after.always(async () => {
  await broker?.stop();
});

const SKIP = 'mosquitto not installed: skipped';

async function mqttjsClient(port: number, opts: mqttjs.IClientOptions = {}) {
  return mqttjs.connectAsync({ host: '127.0.0.1', port, reconnectPeriod: 0, ...opts });
}

test('connect anonymously; state() and events through the life cycle; explicit disconnect [MQTT-3.14.4-1]', async (t) => {
  if (!broker) return t.pass(SKIP);
  const id = uid('life');
  const rec = openRecorded(t, '127.0.0.1', broker.port, id, {
    hooks: { connected: () => t.is(mqtt.state(rec.conn), 'connected') },
  });
  t.true(rec.conn >= 0);
  // (open() returning before the CONNACK is checked in peer.spec.ts, where
  // the peer decides when CONNACK comes; a local mosquitto may be quicker
  // than the next line.)
  t.not(mqtt.state(rec.conn), 'disconnected');
  const c = await rec.next('connected');
  t.is(c.conn, rec.conn);
  t.false(c.sessionPresent, 'clean session: no session kept');
  t.is(mqtt.state(rec.conn), 'connected');

  mqtt.disconnect(rec.conn);
  const d = await rec.next('disconnected');
  t.is(d.conn, rec.conn);
  t.is(d.reason, 'disconnect requested');
  t.is(mqtt.state(rec.conn), 'disconnected');
  t.regex(mqtt.lastError(), /unknown or closed|disconnected/);
  // The broker saw a clean DISCONNECT (mosquitto logs "disconnected", not
  // "closed its connection").
  await sleep(100);
  t.regex(broker.log(), new RegExp(`Client ${id} disconnected\\.`));
  t.deepEqual(rec.types, ['connected', 'disconnected']);
});

test('connect with user name and password from a password file; wrong password refused with a reason', async (t) => {
  if (!broker) return t.pass(SKIP);
  const good = openRecorded(t, '127.0.0.1', broker.port, uid('auth-ok'), { auth: ['alice', 'secret'] });
  await good.next('connected');
  t.is(mqtt.state(good.conn), 'connected');

  const bad = openRecorded(t, '127.0.0.1', broker.port, uid('auth-bad'), { auth: ['alice', 'wrong'] });
  const d = await bad.next('disconnected');
  t.regex(d.reason, /connection refused \((4|5)\)/);
  t.is(mqtt.state(bad.conn), 'disconnected');
  t.deepEqual(bad.seen.connected, [], 'a refused CONNECT never fires connected');

  // A byte password works the same.
  const bytes = openRecorded(t, '127.0.0.1', broker.port, uid('auth-bytes'), { auth: ['bob', 'hunter2'] });
  await bytes.next('connected');
  const raw = mqtt.openAuth('127.0.0.1', broker.port, uid('auth-raw'), 'bob', Buffer.from('hunter2'));
  track(t, raw);
  await new Recorder(raw).next('connected');
});

test('publish and subscribe at QoS 0 and 1 with + and # filters; granted QoS', async (t) => {
  if (!broker) return t.pass(SKIP);
  const base = `t/${uid('wild')}`;
  const sub = openRecorded(t, '127.0.0.1', broker.port, uid('sub'));
  await sub.next('connected');
  t.is(mqtt.subscribe(sub.conn, `${base}/+/temp`, 1), 0);
  t.is(mqtt.subscribe(sub.conn, `${base}/all/#`, 0), 0);
  const s1 = await sub.next('subscribed');
  const s2 = await sub.next('subscribed');
  t.like(s1, { conn: sub.conn, topic: `${base}/+/temp`, qos: 1, ok: true });
  t.like(s2, { conn: sub.conn, topic: `${base}/all/#`, qos: 0, ok: true });

  const pub = openRecorded(t, '127.0.0.1', broker.port, uid('pub'));
  await pub.next('connected');
  t.is(mqtt.publish(pub.conn, `${base}/kitchen/temp`, 'k0', 0), 0);
  t.is(mqtt.publish(pub.conn, `${base}/kitchen/temp`, 'k1', 1), 0);
  t.is(mqtt.publish(pub.conn, `${base}/kitchen/humidity`, 'no match', 1), 0);
  t.is(mqtt.publish(pub.conn, `${base}/all/a/b/c`, 'deep', 1), 0);
  t.is(mqtt.publish(pub.conn, `${base}/all`, 'parent level too', 0), 0);

  const msgs = await sub.count('message', 4);
  await sleep(200);
  const got = sub.seen.message.map((m) => [m.topic, m.payload, m.qos]);
  t.deepEqual(
    got.sort(),
    [
      [`${base}/kitchen/temp`, 'k0', 0],
      [`${base}/kitchen/temp`, 'k1', 1],
      // Granted QoS 0 caps delivery at 0.
      [`${base}/all/a/b/c`, 'deep', 0],
      // "sport/#" matches "sport" itself [MQTT-4.7.1-2].
      [`${base}/all`, 'parent level too', 0],
    ].sort(),
  );
  t.true(msgs.every((m) => m.conn === sub.conn && !m.retain && !m.dup));
});

test('a 1 MiB payload travels whole at QoS 1', async (t) => {
  if (!broker) return t.pass(SKIP);
  const topic = `t/${uid('big')}`;
  const rec = await connectAndSubscribe(t, broker.port, uid('big'), [[topic, 1]]);
  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 8)) & 0xff;
  t.is(mqtt.publish(rec.conn, topic, big, 1), 0, mqtt.lastError());
  const m = await rec.next('message');
  t.is(m.bytes.length, big.length);
  t.true(m.bytes.equals(big));
  t.is(m.qos, 1);
});

test('binary, empty and non-ASCII payloads arrive byte for byte', async (t) => {
  if (!broker) return t.pass(SKIP);
  const topic = `t/${uid('bin')}/é/ü`;
  const rec = await connectAndSubscribe(t, broker.port, uid('bin'), [[topic, 1]]);
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  t.is(mqtt.publish(rec.conn, topic, all, 1), 0);
  t.is(mqtt.publish(rec.conn, topic, '', 0), 0);
  t.is(mqtt.publish(rec.conn, topic, new Uint8Array(0), 1), 0);
  t.is(mqtt.publish(rec.conn, topic, 'grüße 🌡', 1), 0);
  const [a, b, c, d] = await rec.count('message', 4);
  t.true(a.bytes.equals(all));
  t.is(a.topic, topic);
  t.is(b.payload, '');
  t.is(b.bytes.length, 0);
  t.is(c.bytes.length, 0);
  t.is(d.payload, 'grüße 🌡');
  t.true(d.bytes.equals(Buffer.from('grüße 🌡')));
});

// A flood's repeated topic is decoded once and reused while the next
// topic's bytes are the same (mqtt.ts, topicOf): topics of one length that
// differ, in one byte or in a multi-byte character, must never be confused.
test('interleaved topics of the same length each arrive with their own topic', async (t) => {
  if (!broker) return t.pass(SKIP);
  const base = `t/${uid('same')}`;
  const topics = [`${base}/ab`, `${base}/ac`, `${base}/é`, `${base}/è`, `${base}/ab`];
  const rec = await connectAndSubscribe(t, broker.port, uid('same'), [[`${base}/#`, 1]]);
  const n = 400;
  for (let i = 0; i < n; i++) {
    const topic = topics[i % topics.length];
    t.is(mqtt.publish(rec.conn, topic, `${topic} ${i}`, 1), 0);
  }
  // Busy, so that the messages come back into one batch (the cache lives
  // within a batch's run).
  const until = Date.now() + 500;
  while (Date.now() < until);
  const got = await rec.count('message', n);
  const wrong = got.filter((m) => !m.payload.startsWith(`${m.topic} `));
  t.deepEqual(wrong.slice(0, 3), [], `${wrong.length} messages carry another message's topic`);
});

test('retained messages come with retain set', async (t) => {
  if (!broker) return t.pass(SKIP);
  const topic = `t/${uid('retain')}`;
  const pub = openRecorded(t, '127.0.0.1', broker.port, uid('rp'));
  await pub.next('connected');
  t.is(mqtt.publish(pub.conn, topic, 'kept', 1, true), 0);
  // A message published after subscribing comes without retain.
  const rec = await connectAndSubscribe(t, broker.port, uid('rs'), [[topic, 1]]);
  const m = await rec.next('message');
  t.like(m, { topic, payload: 'kept', retain: true });
  t.is(mqtt.publish(pub.conn, topic, 'live', 1), 0);
  t.like(await rec.next('message'), { payload: 'live', retain: false });
  t.is(mqtt.publish(pub.conn, topic, '', 1, true), 0); // clear the retained message
});

test('keep-alive: a receive-only client with keepAlive 1 s stays connected [MQTT-3.1.2-23]', async (t) => {
  if (!broker) return t.pass(SKIP);
  const id = uid('ka');
  const rec = openRecorded(t, '127.0.0.1', broker.port, id, { options: { keepAlive: 1 } });
  await rec.next('connected');
  // mosquitto drops a client silent for 1.5 x keep-alive; several of those pass.
  await sleep(3500);
  t.is(mqtt.state(rec.conn), 'connected');
  t.deepEqual(rec.seen.disconnected, []);
  t.regex(broker.log(), new RegExp(`as ${id} \\(p2, c1, k1\\)`));
});

test('explicit disconnect flushes what was queued, and nothing reconnects afterwards', async (t) => {
  if (!broker) return t.pass(SKIP);
  const id = uid('flush');
  const topic = `t/${id}`;
  const js = await mqttjsClient(broker.port);
  t.teardown(() => js.end(true));
  const received: string[] = [];
  js.on('message', (_t, p) => received.push(p.toString()));
  await js.subscribeAsync(topic, { qos: 1 });

  const rec = openRecorded(t, '127.0.0.1', broker.port, id);
  mqtt.setAutoReconnect(rec.conn, true);
  mqtt.setReconnectDelays(rec.conn, [0.1]);
  await rec.next('connected');
  for (let i = 0; i < 20; i++) t.is(mqtt.publish(rec.conn, topic, `m${i}`, i % 2), 0);
  mqtt.disconnect(rec.conn);
  const d = await rec.next('disconnected');
  t.is(d.reason, 'disconnect requested');

  await waitFor('20 messages at MQTT.js', () => received.length >= 20, { detail: () => JSON.stringify(received) });
  t.deepEqual(received, Array.from({ length: 20 }, (_, i) => `m${i}`));
  // Ten times the reconnect delay: still no new connection.
  await sleep(1000);
  t.deepEqual(rec.types, ['connected', 'disconnected']);
  const log = broker.log();
  t.is(log.split(`as ${id} `).length - 1, 1, 'connected to the broker exactly once');
  t.regex(log, new RegExp(`Client ${id} disconnected\\.`));
  t.is(mqtt.publish(rec.conn, topic, 'late', 0), -1);
  t.regex(mqtt.lastError(), /unknown or closed/);
});

test('interop with MQTT.js both ways at QoS 0 and 1', async (t) => {
  if (!broker) return t.pass(SKIP);
  const base = `t/${uid('interop')}`;
  const js = await mqttjsClient(broker.port);
  t.teardown(() => js.end(true));
  const fromRs: { topic: string; payload: Buffer; qos: number }[] = [];
  js.on('message', (topic, payload, packet) => fromRs.push({ topic, payload, qos: packet.qos }));
  await js.subscribeAsync(`${base}/from-rs/#`, { qos: 1 });

  const rec = await connectAndSubscribe(t, broker.port, uid('interop'), [[`${base}/from-js/#`, 1]]);

  // this client -> MQTT.js
  t.is(mqtt.publish(rec.conn, `${base}/from-rs/q0`, 'zero', 0), 0);
  t.is(mqtt.publish(rec.conn, `${base}/from-rs/q1`, Buffer.from([0, 1, 254, 255]), 1), 0);
  await waitFor('2 messages at MQTT.js', () => fromRs.length >= 2, { detail: () => `have ${fromRs.length}` });
  fromRs.sort((a, b) => a.topic.localeCompare(b.topic));
  t.is(fromRs.length, 2);
  t.like(fromRs[0], { topic: `${base}/from-rs/q0`, qos: 0 });
  t.is(fromRs[0].payload.toString(), 'zero');
  t.like(fromRs[1], { topic: `${base}/from-rs/q1`, qos: 1 });
  t.deepEqual([...fromRs[1].payload], [0, 1, 254, 255]);

  // MQTT.js -> this client
  await js.publishAsync(`${base}/from-js/q0`, 'js zero', { qos: 0 });
  await js.publishAsync(`${base}/from-js/q1`, Buffer.from([9, 8, 7]), { qos: 1 });
  const [m0, m1] = await rec.count('message', 2);
  t.like(m0, { topic: `${base}/from-js/q0`, payload: 'js zero', qos: 0 });
  t.like(m1, { topic: `${base}/from-js/q1`, qos: 1 });
  t.deepEqual([...m1.bytes], [9, 8, 7]);
});

// The connection limit is per process, so nothing else may be open here.
test('16 connections at once; the 17th is refused with a reason; handles are never reused', async (t) => {
  if (!broker) return t.pass(SKIP);
  t.is(mqtt.liveConnections(), 0);
  const max = mqtt.limits().maxConnections;
  t.is(max, 16);
  const recs: Recorder[] = [];
  for (let i = 0; i < max; i++) recs.push(openRecorded(t, '127.0.0.1', broker.port, uid(`many${i}`)));
  await Promise.all(recs.map((r) => r.next('connected')));
  t.is(mqtt.liveConnections(), 16);

  t.is(mqtt.open('127.0.0.1', broker.port, uid('seventeenth')), -1);
  t.regex(mqtt.lastError(), /too many connections: at most 16/);

  // Every one of them works.
  const topic = `t/${uid('many')}`;
  t.is(mqtt.subscribe(recs[15].conn, topic, 1), 0);
  await recs[15].next('subscribed');
  for (const r of recs) t.is(mqtt.publish(r.conn, topic, String(r.conn), 1), 0);
  const msgs = await recs[15].count('message', 16);
  t.deepEqual(msgs.map((m) => Number(m.payload)).sort((a, b) => a - b), recs.map((r) => r.conn).sort((a, b) => a - b));

  // Freeing a slot lets the next open in, with a new handle.
  mqtt.disconnect(recs[0].conn);
  await recs[0].next('disconnected');
  const again = track(t, mqtt.open('127.0.0.1', broker.port, uid('again')));
  t.true(again >= 0, mqtt.lastError());
  t.false(recs.some((r) => r.conn === again), 'a handle is never reused');
  t.true(again > Math.max(...recs.map((r) => r.conn)));
  await new Recorder(again).next('connected');

  mqtt.disconnect(again);
  for (const r of recs) mqtt.disconnect(r.conn);
  t.is(mqtt.liveConnections(), 0);
});

test('broker restart: auto-reconnect, connected fires again, the handler re-subscribes', async (t) => {
  if (!broker) return t.pass(SKIP);
  // Its own broker: the restart must not disturb the other tests.
  const own = await startMosquitto();
  if (!own) return t.pass(SKIP);
  t.teardown(() => own.stop());
  const topic = `t/${uid('restart')}`;
  const states: string[] = [];
  const rec = openRecorded(t, '127.0.0.1', own.port, uid('restart'), {
    hooks: {
      connected: (e) => {
        states.push(mqtt.state(e.conn));
        mqtt.subscribe(e.conn, topic, 1);
      },
      disconnected: (e) => states.push(mqtt.state(e.conn)),
    },
  });
  mqtt.setAutoReconnect(rec.conn, true);
  mqtt.setReconnectDelays(rec.conn, [0.2, 0.5]);
  await rec.next('connected');
  await rec.next('subscribed');

  await own.restart();
  const d = await rec.next('disconnected');
  t.regex(d.reason, /closed by the server|network error/);
  await rec.next('connected');
  const s = await rec.next('subscribed');
  t.true(s.ok);

  const js = await mqttjsClient(own.port);
  t.teardown(() => js.end(true));
  await js.publishAsync(topic, 'after restart', { qos: 1 });
  const m = await rec.next('message');
  t.is(m.payload, 'after restart');
  t.is(states[0], 'connected');
  t.not(states[1], 'connected', 'not connected inside the disconnected handler');
  t.is(states[states.length - 1], 'connected');
  t.is(rec.seen.connected.length, 2);
});
