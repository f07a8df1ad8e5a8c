// The basic flows against aedes, in this process: these run on any machine,
// mosquitto or not. Also the process lifetime rules (an open connection
// keeps Node alive; after disconnect the process exits on its own) and the
// handler-exception rule, in child processes.

import anyTest from 'ava';

// Serial: the connection limit (16) is per process, and timing-sensitive
// tests should not compete with each other for the two cores.
const test = anyTest.serial;
import mqttjs from 'mqtt';
import mqtt from 'mqtt-rs-client';
import { startAedes, type AedesBroker } from './helpers/aedes';
import { connectAndSubscribe, openRecorded, sleep, uid } from './helpers/client';
import { runTs } from './helpers/run';
import { waitFor } from './helpers/wait';

let broker: AedesBroker;
const connects = new Map<string, number>();

anyTest.before(async () => {
  broker = await startAedes(0, {
    // Anonymous clients are welcome; a user name must come with its password.
    authenticate: (_client, username, password, done) => {
      if (username === undefined) return done(null, true);
      if (username === 'alice' && password?.toString() === 'secret') return done(null, true);
      const e = Object.assign(new Error('bad user name or password'), { returnCode: 4 });
      done(e, false);
    },
    // Refuses every filter under denied/ (SUBACK 0x80).
    authorizeSubscribe: (_client, sub, done) => done(null, sub.topic.startsWith('denied/') ? null : sub),
  });
  broker.broker.on('client', (c) => connects.set(c.id, (connects.get(c.id) ?? 0) + 1));
});

anyTest.after.always(async () => {
  await broker.close();
});

test('connect, state() through the life cycle, explicit disconnect', async (t) => {
  const rec = openRecorded(t, '127.0.0.1', broker.port, uid('life'));
  t.is(mqtt.state(rec.conn), 'connecting');
  await rec.next('connected');
  t.is(mqtt.state(rec.conn), 'connected');
  mqtt.disconnect(rec.conn);
  t.is((await rec.next('disconnected')).reason, 'disconnect requested');
  t.is(mqtt.state(rec.conn), 'disconnected');
  t.deepEqual(rec.types, ['connected', 'disconnected']);
});

test('openAuth: right password connects, wrong one is refused with the CONNACK code as reason', async (t) => {
  const ok = openRecorded(t, '127.0.0.1', broker.port, uid('auth'), { auth: ['alice', 'secret'] });
  await ok.next('connected');
  const bad = openRecorded(t, '127.0.0.1', broker.port, uid('auth'), { auth: ['alice', 'nope'] });
  const d = await bad.next('disconnected');
  t.is(d.reason, 'connection refused (4): bad user name or password');
  t.is(mqtt.state(bad.conn), 'disconnected');
});

test('publish and subscribe at QoS 0 and 1 with wildcard filters', async (t) => {
  const base = `t/${uid('wild')}`;
  const sub = await connectAndSubscribe(t, broker.port, uid('sub'), [[`${base}/+/x`, 1], [`${base}/deep/#`, 0]]);
  const pub = await connectAndSubscribe(t, broker.port, uid('pub'));
  t.is(mqtt.publish(pub.conn, `${base}/a/x`, 'one', 1), 0);
  t.is(mqtt.publish(pub.conn, `${base}/a/y`, 'no match', 1), 0);
  t.is(mqtt.publish(pub.conn, `${base}/b/x`, 'two', 0), 0);
  t.is(mqtt.publish(pub.conn, `${base}/deep/1/2`, 'three', 1), 0);
  const msgs = await sub.count('message', 3);
  await sleep(100);
  t.deepEqual(
    sub.seen.message.map((m) => [m.topic, m.payload, m.qos]).sort(),
    [[`${base}/a/x`, 'one', 1], [`${base}/b/x`, 'two', 0], [`${base}/deep/1/2`, 'three', 0]].sort(),
  );
  t.true(msgs.every((m) => m.conn === sub.conn));
});

test('subscribed: granted QoS, and a refused filter as ok: false, qos: 128', async (t) => {
  const rec = await connectAndSubscribe(t, broker.port, uid('suback'));
  const ok1 = `t/${uid('ok')}/#`;
  const ok0 = `t/${uid('ok0')}`;
  t.is(mqtt.subscribe(rec.conn, ok1, 1), 0);
  t.is(mqtt.subscribe(rec.conn, 'denied/secret', 1), 0);
  t.is(mqtt.subscribe(rec.conn, ok0, 0), 0);
  // aedes answers each SUBSCRIBE when its check is done, not in order.
  const subs = await rec.count('subscribed', 3);
  const by = (topic: string) => subs.find((s) => s.topic === topic);
  t.like(by(ok1), { ok: true, qos: 1, conn: rec.conn });
  t.like(by('denied/secret'), { ok: false, qos: 128 });
  t.like(by(ok0), { ok: true, qos: 0 });
  t.is(mqtt.state(rec.conn), 'connected', 'a refusal does not end the connection');
});

test('binary, empty and 1 MiB payloads', async (t) => {
  const topic = `t/${uid('bin')}`;
  const rec = await connectAndSubscribe(t, broker.port, uid('bin'), [[topic, 1]]);
  const big = Buffer.alloc(1 << 20, 0xa5);
  t.is(mqtt.publish(rec.conn, topic, Buffer.from([0, 0xff, 0x80, 0]), 1), 0);
  t.is(mqtt.publish(rec.conn, topic, '', 1), 0);
  t.is(mqtt.publish(rec.conn, topic, big, 1), 0, mqtt.lastError());
  const [a, b, c] = await rec.count('message', 3);
  t.deepEqual([...a.bytes], [0, 0xff, 0x80, 0]);
  t.is(b.bytes.length, 0);
  t.is(b.payload, '');
  t.true(c.bytes.equals(big));
});

test('explicit disconnect: the final event, then nothing; no reconnect', async (t) => {
  const id = uid('noreconnect');
  const rec = openRecorded(t, '127.0.0.1', broker.port, id);
  mqtt.setAutoReconnect(rec.conn, true);
  mqtt.setReconnectDelays(rec.conn, [0.05]);
  await rec.next('connected');
  mqtt.disconnect(rec.conn);
  t.is((await rec.next('disconnected')).reason, 'disconnect requested');
  await sleep(500);
  t.deepEqual(rec.types, ['connected', 'disconnected']);
  t.is(connects.get(id), 1);
  t.is(mqtt.on(rec.conn, 'message', () => {}), -1, 'the handle is gone');
  t.regex(mqtt.lastError(), /unknown or closed connection handle/);
});

test('disconnect() from inside a message handler: no further events for that handle, only its final disconnected', async (t) => {
  const topic = `t/${uid('midbatch')}`;
  const rec = await connectAndSubscribe(t, broker.port, uid('midbatch'), [[topic, 0]], {});
  mqtt.on(rec.conn, 'message', (e) => {
    rec.seen.message.push(e);
    mqtt.disconnect(e.conn);
  });
  const pub = await connectAndSubscribe(t, broker.port, uid('midbatch-pub'));
  for (let i = 0; i < 50; i++) t.is(mqtt.publish(pub.conn, topic, `m${i}`, 0), 0);
  const d = await rec.next('disconnected');
  t.is(d.reason, 'disconnect requested');
  await sleep(300);
  t.is(rec.seen.message.length, 1, 'events queued behind the disconnect() are dropped');
  t.is(rec.seen.disconnected.length, 1);
});

test('interop with MQTT.js both ways at QoS 0 and 1', async (t) => {
  const base = `t/${uid('interop')}`;
  const js = await mqttjs.connectAsync({ host: '127.0.0.1', port: broker.port, reconnectPeriod: 0 });
  t.teardown(() => js.end(true));
  const got: [string, string, number][] = [];
  js.on('message', (topic, p, packet) => got.push([topic, p.toString(), packet.qos]));
  await js.subscribeAsync(`${base}/rs/#`, { qos: 1 });
  const rec = await connectAndSubscribe(t, broker.port, uid('interop'), [[`${base}/js/#`, 1]]);

  t.is(mqtt.publish(rec.conn, `${base}/rs/0`, 'r0', 0), 0);
  t.is(mqtt.publish(rec.conn, `${base}/rs/1`, 'r1', 1), 0);
  await js.publishAsync(`${base}/js/0`, 'j0', { qos: 0 });
  await js.publishAsync(`${base}/js/1`, 'j1', { qos: 1 });
  const msgs = await rec.count('message', 2);
  t.deepEqual(msgs.map((m) => [m.topic, m.payload, m.qos]), [[`${base}/js/0`, 'j0', 0], [`${base}/js/1`, 'j1', 1]]);
  await waitFor('2 messages at MQTT.js', () => got.length >= 2, { intervalMs: 10, detail: () => JSON.stringify(got) });
  t.deepEqual(got.sort(), [[`${base}/rs/0`, 'r0', 0], [`${base}/rs/1`, 'r1', 1]]);
});

test('broker restart on the same port: auto-reconnect and re-subscription from the connected handler', async (t) => {
  let own = await startAedes();
  const port = own.port;
  t.teardown(() => own.close());
  const topic = `t/${uid('restart')}`;
  const rec = openRecorded(t, '127.0.0.1', port, uid('restart'), {
    hooks: { connected: (e) => mqtt.subscribe(e.conn, topic, 1) },
  });
  mqtt.setAutoReconnect(rec.conn, true);
  mqtt.setReconnectDelays(rec.conn, [0.1, 0.3]);
  await rec.next('connected');
  await rec.next('subscribed');

  await own.close();
  const d = await rec.next('disconnected');
  t.truthy(d.reason);
  // While the broker is away, attempts fail (and each says so).
  const failed = await rec.next('disconnected');
  t.regex(failed.reason, /TCP connect failed/);
  own = await startAedes(port);
  await rec.next('connected');
  t.true((await rec.next('subscribed')).ok);
  const pub = await connectAndSubscribe(t, port, uid('restart-pub'));
  t.is(mqtt.publish(pub.conn, topic, 'back', 1), 0);
  t.is((await rec.next('message')).payload, 'back');
});

/** Runs a TypeScript snippet in a child Node process; resolves with its exit code and output. */
const runChild = (code: string, env: Record<string, string>, timeoutMs = 15_000) => runTs(['-e', code], { env, timeoutMs }).exit;

test('an open connection keeps the process alive; after disconnect it exits on its own', async (t) => {
  // Stays alive: nothing but the MQTT connection is left in the event loop.
  const alive = await runChild(
    `const mqtt = require('mqtt-rs-client').default;
     const c = mqtt.open('127.0.0.1', Number(process.env.PORT), 'alive-' + process.pid);
     mqtt.on(c, 'connected', () => console.log('connected'));`,
    { PORT: String(broker.port) },
    3000,
  );
  t.true(alive.timedOut, `the process exited early: ${alive.stdout} ${alive.stderr}`);
  t.regex(alive.stdout, /connected/);

  // Exits: connect, publish, disconnect; the queued publish still goes out.
  const topic = `t/${uid('exit')}`;
  const sub = await connectAndSubscribe(t, broker.port, uid('exit-sub'), [[topic, 1]]);
  const done = await runChild(
    `const mqtt = require('mqtt-rs-client').default;
     const c = mqtt.open('127.0.0.1', Number(process.env.PORT), 'exit-' + process.pid);
     mqtt.on(c, 'connected', (e) => {
       for (let i = 0; i < 100; i++) mqtt.publish(e.conn, process.env.TOPIC, 'm' + i, 1);
       mqtt.disconnect(e.conn);
     });
     mqtt.on(c, 'disconnected', (e) => console.log('disconnected: ' + e.reason));`,
    { PORT: String(broker.port), TOPIC: topic },
  );
  t.false(done.timedOut, 'the process should exit by itself');
  t.is(done.code, 0, done.stderr);
  t.is(done.stdout.trim(), 'disconnected: disconnect requested');
  const msgs = await sub.count('message', 100);
  t.deepEqual(msgs.map((m) => m.payload), Array.from({ length: 100 }, (_, i) => `m${i}`));
});

test('a handler that throws does not stop other events; the error is rethrown on the next tick', async (t) => {
  const topic = `t/${uid('throw')}`;
  const r = await runChild(
    `const mqtt = require('mqtt-rs-client').default;
     const caught = [];
     process.on('uncaughtException', (e) => caught.push(e.message));
     const c = mqtt.open('127.0.0.1', Number(process.env.PORT), 'throw-' + process.pid);
     const got = [];
     mqtt.on(c, 'connected', (e) => mqtt.subscribe(e.conn, process.env.TOPIC, 1));
     mqtt.on(c, 'subscribed', (e) => {
       mqtt.publish(e.conn, process.env.TOPIC, 'a', 1);
       mqtt.publish(e.conn, process.env.TOPIC, 'b', 1);
       mqtt.publish(e.conn, process.env.TOPIC, 'c', 1);
     });
     mqtt.on(c, 'message', (e) => {
       got.push(e.payload);
       if (e.payload !== 'c') throw new Error('boom ' + e.payload);
       setImmediate(() => { console.log(JSON.stringify({ got, caught })); mqtt.disconnect(c); });
     });`,
    { PORT: String(broker.port), TOPIC: topic },
  );
  t.is(r.code, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout), { got: ['a', 'b', 'c'], caught: ['boom a', 'boom b'] });
});
