// QoS 2, the will, persistent sessions and the acknowledgement events
// through the TypeScript API, against a real mosquitto started by this file
// (and MQTT.js on the other side of the broker). Without mosquitto the
// tests pass as skipped, unless MQTT_REQUIRE_MOSQUITTO=1 (CI).

import anyTest from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqttjs from 'mqtt';
import mqtt, { type MqttPublished, type MqttUnsubscribed } from 'mqtt-rs-client';
import { connectAndSubscribe, openRecorded, type Recorder, uid } from './helpers/client';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto';
import { waitFor } from './helpers/wait';

// Serial: the connection limit is per process, and the restart test stops
// the shared broker.
const test = anyTest.serial;
const SKIP = 'mosquitto not installed: skipped';

let broker: Mosquitto | null = null;

const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosquitto-db-'));

anyTest.before(async () => {
  // Sessions and queued messages survive a restart: mosquitto saves its
  // database on shutdown, here into a temp directory of this file. (The
  // helper writes `persistence false` first; the later line wins.)
  // mosquitto 2.0.11 stops sending a subscriber the QoS 2 messages queued
  // behind a full window (max_inflight_messages, 20) even after their
  // PUBCOMPs, whatever the client (MQTT.js stalls the same way): no window.
  broker = await startMosquitto({
    extraConfig: ['persistence true', `persistence_location ${dbDir}/`, 'max_inflight_messages 0'],
  });
});

anyTest.after.always(async () => {
  await broker?.stop();
  fs.rmSync(dbDir, { recursive: true, force: true });
});

async function mqttjsClient(port: number, opts: mqttjs.IClientOptions = {}) {
  return mqttjs.connectAsync({ host: '127.0.0.1', port, reconnectPeriod: 0, ...opts });
}

/** Every `published` event of `conn`, in order. */
function published(conn: number): MqttPublished[] {
  const seen: MqttPublished[] = [];
  if (mqtt.on(conn, 'published', (e) => seen.push(e)) !== 0) throw new Error(mqtt.lastError());
  return seen;
}

test('QoS 2 from this client to an MQTT.js subscriber: delivered once, `published` on PUBCOMP with the id, inflight back to 0 [MQTT-4.3.3-1]', async (t) => {
  if (!broker) return t.pass(SKIP);
  const topic = `q2/${uid('out')}`;
  const sub = await mqttjsClient(broker.port);
  t.teardown(() => sub.end(true));
  await sub.subscribeAsync(topic, { qos: 2 });
  const got: { payload: string; qos: number }[] = [];
  sub.on('message', (_t, payload, packet) => got.push({ payload: payload.toString(), qos: packet.qos }));

  const rec = openRecorded(t, '127.0.0.1', broker.port, uid('q2pub'));
  const acks = published(rec.conn);
  await rec.next('connected');
  const ids: number[] = [];
  for (let i = 0; i < 50; i++) {
    const id = mqtt.publishWithId(rec.conn, topic, `m${i}`, 2);
    t.true(id > 0, mqtt.lastError());
    ids.push(id);
  }
  t.true(mqtt.inflight(rec.conn) > 0);
  await waitFor('50 PUBCOMPs', () => acks.length >= 50);
  t.deepEqual(acks.map((a) => a.packetId).sort((a, b) => a - b), [...ids].sort((a, b) => a - b), 'one event per id');
  t.true(acks.every((a) => a.qos === 2 && a.conn === rec.conn));
  t.is(mqtt.inflight(rec.conn), 0);
  await waitFor('50 messages at MQTT.js', () => got.length >= 50);
  t.deepEqual(got.map((g) => g.payload), ids.map((_, i) => `m${i}`), 'each once, in order');
  t.true(got.every((g) => g.qos === 2));
});

test('QoS 2 from MQTT.js to this client: each message once with qos 2 and a packetId [MQTT-4.3.3-2]', async (t) => {
  if (!broker) return t.pass(SKIP);
  const topic = `q2/${uid('in')}`;
  const rec = await connectAndSubscribe(t, broker.port, uid('q2sub'), [[topic, 2]]);
  t.is(rec.seen.subscribed[0].qos, 2, 'granted QoS 2');
  const pub = await mqttjsClient(broker.port);
  t.teardown(() => pub.end(true));
  for (let i = 0; i < 50; i++) await pub.publishAsync(topic, `n${i}`, { qos: 2 });
  const msgs = await rec.count('message', 50);
  t.deepEqual(msgs.map((m) => m.payload), Array.from({ length: 50 }, (_, i) => `n${i}`));
  t.true(msgs.every((m) => m.qos === 2 && m.packetId > 0 && !m.dup));
  // Mixed with QoS 0 and 1: packetId is 0 for QoS 0 only.
  await pub.publishAsync(topic, 'q0', { qos: 0 });
  await pub.publishAsync(topic, 'q1', { qos: 1 });
  const [m0, m1] = (await rec.count('message', 52)).slice(50);
  t.like(m0, { payload: 'q0', qos: 0, packetId: 0 });
  t.like(m1, { payload: 'q1', qos: 1 });
  t.true(m1.packetId > 0);
});

test('`published` matches every id of a mixed QoS 1/2 burst and inflight returns to 0', async (t) => {
  if (!broker) return t.pass(SKIP);
  const rec = openRecorded(t, '127.0.0.1', broker.port, uid('ids'));
  const acks = published(rec.conn);
  await rec.next('connected');
  const sent = new Map<number, number>();
  for (let i = 0; i < 400; i++) {
    const qos = 1 + (i % 2);
    const id = mqtt.publishWithId(rec.conn, `ids/${uid('x')}`, 'p', qos);
    t.true(id > 0, mqtt.lastError());
    sent.set(id, qos);
  }
  await waitFor('400 acknowledgements', () => acks.length >= 400);
  t.is(acks.length, 400);
  const byId = (pairs: [number, number][]) => pairs.sort((a, b) => a[0] - b[0]);
  t.deepEqual(byId(acks.map((a) => [a.packetId, a.qos])), byId([...sent]), 'the id and the QoS of each');
  t.is(mqtt.inflight(rec.conn), 0);
  t.is(mqtt.inflight(9999), -1);
  t.regex(mqtt.lastError(), /unknown or closed connection handle/);
});

test('unsubscribe: `unsubscribed { conn, topic, packetId }` on UNSUBACK, then nothing more arrives', async (t) => {
  if (!broker) return t.pass(SKIP);
  const topic = `unsub/${uid('u')}`;
  const rec = await connectAndSubscribe(t, broker.port, uid('unsub'), [[topic, 2]]);
  const events: MqttUnsubscribed[] = [];
  mqtt.on(rec.conn, 'unsubscribed', (e) => events.push(e));
  t.is(mqtt.unsubscribe(rec.conn, topic), 0);
  await waitFor('unsubscribed', () => events.length === 1);
  t.is(events[0].conn, rec.conn);
  t.is(events[0].topic, topic);
  t.true(events[0].packetId > 0);
  // A message after the UNSUBACK is not delivered; a later marker on another subscription is.
  const marker = `${topic}-marker`;
  mqtt.subscribe(rec.conn, marker, 0);
  await rec.next('subscribed');
  mqtt.publish(rec.conn, topic, 'gone', 0);
  mqtt.publish(rec.conn, marker, 'here', 0);
  const m = await rec.next('message');
  t.is(m.payload, 'here', 'nothing from the unsubscribed topic');
});

// ---- the will ----------------------------------------------------------------

/** A TCP relay to the broker whose links the test can cut. */
async function relay(port: number): Promise<{ port: number; cut(): void; close(): void }> {
  const links = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    links.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut: () => links.forEach((s) => s.destroy()),
    close: () => {
      links.forEach((s) => s.destroy());
      server.close();
    },
  };
}

test('the will is published when the link is lost without DISCONNECT [MQTT-3.1.2-9]', async (t) => {
  if (!broker) return t.pass(SKIP);
  const topic = `will/${uid('lost')}`;
  const watcher = await mqttjsClient(broker.port);
  t.teardown(() => watcher.end(true));
  await watcher.subscribeAsync(topic, { qos: 2 });
  const wills: { payload: string; qos: number; retain: boolean }[] = [];
  watcher.on('message', (_t, p, packet) => wills.push({ payload: p.toString(), qos: packet.qos, retain: packet.retain }));

  const r = await relay(broker.port);
  t.teardown(() => r.close());
  const rec = openRecorded(t, '127.0.0.1', r.port, uid('willer'), {
    options: { will: { topic, payload: Buffer.from('offline'), qos: 2, retain: false } },
  });
  await rec.next('connected');
  r.cut();
  const d = await rec.next('disconnected');
  t.not(d.cause, 'requested');
  await waitFor('the will', () => wills.length > 0);
  t.deepEqual(wills, [{ payload: 'offline', qos: 2, retain: false }]);
});

test('the will is not published after a clean disconnect()', async (t) => {
  if (!broker) return t.pass(SKIP);
  const topic = `will/${uid('clean')}`;
  const watcher = await mqttjsClient(broker.port);
  t.teardown(() => watcher.end(true));
  await watcher.subscribeAsync(topic, { qos: 2 });
  const seen: string[] = [];
  watcher.on('message', (_t, p) => seen.push(p.toString()));

  const rec = openRecorded(t, '127.0.0.1', broker.port, uid('polite'), {
    options: { will: { topic, payload: 'offline', qos: 1, retain: true } },
  });
  await rec.next('connected');
  mqtt.disconnect(rec.conn);
  const d = await rec.next('disconnected');
  t.like(d, { cause: 'requested', abandoned: 0 });
  // The broker handled the DISCONNECT before the socket closed, so a will
  // would come before this marker from another client.
  await watcher.publishAsync(topic, 'marker', { qos: 1 });
  await waitFor('the marker', () => seen.includes('marker'));
  t.deepEqual(seen, ['marker']);
});

test('a bad will is refused: -1 with a reason, or a TypeError naming the field', (t) => {
  const host = '127.0.0.1';
  const open = (will: unknown) => mqtt.open(host, 1883, 'w', { will } as never);
  for (const [will, why] of [
    [{ topic: 'a/+' }, /will: topic name may not contain \+ or #/],
    [{ topic: '' }, /will: topic must not be empty/],
    [{ topic: 'a\0b' }, /will topic must not contain U\+0000/],
    [{ topic: '\uD800' }, /will topic is not well-formed/],
    [{ topic: 'a', qos: 3 }, /options\.will\.qos must be an integer from 0 to 2/],
    [{ topic: 'a', payload: 'x'.repeat(65536) }, /will: payload longer than 65535 bytes/],
  ] as const) {
    t.is(open(will), -1, JSON.stringify(will).slice(0, 40));
    t.regex(mqtt.lastError(), why);
  }
  t.throws(() => open({ topic: 7 }), { instanceOf: TypeError, message: /options\.will\.topic must be a string/ });
  t.throws(() => open('x'), { instanceOf: TypeError, message: /options\.will must be an object/ });
  t.throws(() => open({ topic: 'a', qos: '1' }), { instanceOf: TypeError, message: /options\.will\.qos/ });
  t.throws(() => open({ topic: 'a', retain: 1 }), { instanceOf: TypeError, message: /options\.will\.retain/ });
  t.throws(() => open({ topic: 'a', payload: 5 }), { instanceOf: TypeError, message: /options\.will\.payload/ });
  t.throws(() => mqtt.open(host, 1883, 'w', { cleanSession: 'no' } as never), {
    instanceOf: TypeError, message: /options\.cleanSession must be a boolean/,
  });
  t.is(mqtt.open(host, 1883, '', { cleanSession: false }), -1);
  t.regex(mqtt.lastError(), /empty client id needs clean session/);
});

// ---- persistent sessions -----------------------------------------------------

test('a persistent session survives a broker restart: messages published while offline arrive after reconnect, once each', async (t) => {
  if (!broker) return t.pass(SKIP);
  const id = uid('keeper');
  const topic = `keep/${uid('k')}`;
  const options = { cleanSession: false };
  // First visit: subscribe at QoS 2, leave cleanly. The broker keeps the session.
  let rec: Recorder = await connectAndSubscribe(t, broker.port, id, [[topic, 2]], { options });
  t.false(rec.seen.connected[0].sessionPresent, 'no session the first time');
  mqtt.disconnect(rec.conn);
  await rec.next('disconnected');

  // While the client is away: 10 messages at QoS 1 and 2, then a restart.
  const pub = await mqttjsClient(broker.port);
  for (let i = 0; i < 10; i++) await pub.publishAsync(topic, `off${i}`, { qos: i % 2 === 0 ? 2 : 1 });
  await pub.endAsync();
  await broker.restart();

  rec = openRecorded(t, '127.0.0.1', broker.port, id, { options });
  const c = await rec.next('connected');
  t.true(c.sessionPresent, 'the broker kept the session through its restart');
  const msgs = await rec.count('message', 10);
  t.deepEqual(msgs.map((m) => m.payload), Array.from({ length: 10 }, (_, i) => `off${i}`));
  // No subscribe was sent this time, and nothing arrives twice: a marker
  // published after everything comes next.
  const pub2 = await mqttjsClient(broker.port);
  t.teardown(() => pub2.end(true));
  await pub2.publishAsync(topic, 'marker', { qos: 2 });
  const marker = await rec.until('message', (m) => m.payload === 'marker');
  t.is(marker.payload, 'marker');
  t.is(rec.seen.message.length, 11, 'each message once');
  t.deepEqual(rec.seen.subscribed, []);
  // Leave nothing behind in the broker for other tests.
  mqtt.disconnect(rec.conn);
  await rec.next('disconnected');
  const cleaner = openRecorded(t, '127.0.0.1', broker.port, id);
  await cleaner.next('connected');
});
