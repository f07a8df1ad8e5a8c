// mqtt-rs-client/compat against MQTT.js itself: typical MQTT.js programs
// (__test__/compat-programs/, written for the `mqtt` package and
// type-checked against it) run once as written and once with only their
// import changed to 'mqtt-rs-client/compat'; both print the same lines.
// Then what MQTT.js does not have: the async iterator with inbound flow
// control, and the refusals of what this build cannot do (TLS, failover).
// A real mosquitto every time; the compat runs use the built package
// (dist/, through the package's "exports"), as a user gets it.

import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { connect as mqttjsConnect } from 'mqtt';
import { connect, connectAsync, type MqttClient } from '../bindings/typescript/compat';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto';
import { makeCerts, startTlsMosquitto } from './helpers/tls';
import { runTs, ROOT } from './helpers/run';
import { sleep, waitFor } from './helpers/wait';

const PROGRAMS = path.join(__dirname, 'compat-programs');

let broker: Mosquitto | null = null;
let runDir = '';

test.before(async () => {
  // Unlimited queues: a subscriber that falls behind must not lose QoS 1 messages in the broker.
  broker = await startMosquitto({ extraConfig: ['max_queued_messages 0', 'max_inflight_messages 0'] });
  // The compat copies live inside the package, so 'mqtt-rs-client/compat' resolves to it (self-reference).
  runDir = fs.mkdtempSync(path.join(ROOT, '.compat-run-'));
});

test.after.always(async () => {
  await broker?.stop();
  if (runDir) fs.rmSync(runDir, { recursive: true, force: true });
});

/** The program as written (MQTT.js) and with only its import changed. */
function variants(name: string): { mqttjs: string; compat: string } {
  const mqttjs = path.join(PROGRAMS, name);
  const source = fs.readFileSync(mqttjs, 'utf8');
  const changed = source.replace(/from 'mqtt';/, "from 'mqtt-rs-client/compat';");
  if (changed === source) throw new Error(`${name} does not import 'mqtt'`);
  const compat = path.join(runDir, name);
  fs.writeFileSync(compat, changed);
  return { mqttjs, compat };
}

async function runProgram(file: string, during?: (p: ReturnType<typeof runTs>) => Promise<void>): Promise<string> {
  const p = runTs([file], { env: { BROKER_URL: `mqtt://127.0.0.1:${broker!.port}` }, timeoutMs: 120_000 });
  if (during) await during(p);
  const r = await p.exit;
  if (r.code !== 0) throw new Error(`${file} exited with ${r.code ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

for (const name of ['pubsub.ts', 'request-response.ts', 'publish-load.ts']) {
  test.serial(`${name}: the same output with MQTT.js and with the compat import`, async (t) => {
    if (!broker) return t.pass('mosquitto not installed');
    const { mqttjs, compat } = variants(name);
    const expected = await runProgram(mqttjs);
    const got = await runProgram(compat);
    t.log(got);
    t.not(expected.trim(), '');
    t.is(got, expected);
  });
}

test.serial('reconnect.ts: a broker restart gives the same events with MQTT.js and with the compat import', async (t) => {
  if (!broker) return t.pass('mosquitto not installed');
  const { mqttjs, compat } = variants('reconnect.ts');
  const restartWhenReady = async (p: ReturnType<typeof runTs>) => {
    await p.waitLine(/^ready/, 20_000);
    await broker!.restart();
  };
  const expected = await runProgram(mqttjs, restartWhenReady);
  const got = await runProgram(compat, restartWhenReady);
  t.log(got);
  t.regex(expected, /events offline close reconnect connect/);
  t.is(got, expected);
});

test.serial('the async iterator: a slow consumer gets 100,000 QoS 1 messages, all, in order, and RSS stays bounded', async (t) => {
  if (!broker) return t.pass('mosquitto not installed');
  const COUNT = 100_000;
  const topic = `iter/${process.pid}`;
  const client = await connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: `iter-${process.pid}` });
  t.teardown(() => client.end(true));
  await client.subscribeAsync(topic, { qos: 1 });
  const stream = client.messages(topic, { highWaterMark: 500 });

  // The flood comes from another process (MQTT.js, a thousand QoS 1
  // publishes at a time): this process's memory is the consumer's alone.
  const publisher = [
    "const mqtt = require('mqtt');",
    `const c = mqtt.connect('mqtt://127.0.0.1:${broker.port}');`,
    "c.on('connect', async () => {",
    `  for (let i = 0; i < ${COUNT}; i += 1000) {`,
    `    await Promise.all(Array.from({ length: 1000 }, (_, j) => c.publishAsync('${topic}', (i + j) + ' ' + 'x'.repeat(200), { qos: 1 })));`,
    '  }',
    '  await c.endAsync();',
    '});',
  ].join('\n');
  const pub = spawn(process.execPath, ['-e', publisher], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const published = new Promise<number | null>((resolve) => pub.on('exit', resolve));

  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  let next = 0;
  let outOfOrder = 0;
  for await (const m of stream) {
    if (m.payload.toString().split(' ')[0] !== String(next)) outOfOrder++;
    next++;
    if (next % 100 === 0) {
      peak = Math.max(peak, process.memoryUsage().rss);
      await sleep(1); // slower than the flood
    }
    if (next === COUNT) break;
  }
  t.is(await published, 0);
  t.is(next, COUNT);
  t.is(outOfOrder, 0);
  const growth = (peak - rss0) / 2 ** 20;
  t.log(`RSS growth ${growth.toFixed(1)} MiB`);
  t.true(growth < 300, `RSS grew by ${growth.toFixed(1)} MiB`);
});

test.serial('the async iterator holds delivery while its consumer is behind, and resumes', async (t) => {
  if (!broker) return t.pass('mosquitto not installed');
  const topic = `hold/${process.pid}`;
  const client = await connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  t.teardown(() => client.end(true));
  await client.subscribeAsync(`${topic}/#`, { qos: 1 });
  const it = client.messages(`${topic}/+`, { highWaterMark: 10 });
  let emitted = 0;
  client.on('message', () => emitted++);
  // Published by MQTT.js: the hold stops every event of this thread, the
  // acknowledgements of our own publishes too (see the README).
  const publisher = mqttjsConnect(`mqtt://127.0.0.1:${broker.port}`);
  t.teardown(() => publisher.end(true));
  for (let i = 0; i < 100; i++) await publisher.publishAsync(`${topic}/a`, String(i), { qos: 1 });
  // Nobody reads: delivery stops near the mark (the iterator's 10, plus what
  // the addon delivered before the hold took effect), well short of 100.
  await waitFor('the hold', () => emitted >= 10);
  await sleep(200);
  t.true(emitted < 100, `emitted ${emitted}`);
  const got: string[] = [];
  for await (const m of it) {
    got.push(m.payload.toString());
    if (got.length === 100) break;
  }
  t.deepEqual(got, Array.from({ length: 100 }, (_, i) => String(i)));
  t.is(emitted, 100);
});

test.serial('the iterator filters by topic and ends when the client ends', async (t) => {
  if (!broker) return t.pass('mosquitto not installed');
  const base = `filter/${process.pid}`;
  const client = await connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  await client.subscribeAsync(`${base}/#`);
  const only = client.messages(`${base}/keep/+`);
  for (const tail of ['keep/1', 'drop/1', 'keep/2', 'keep/2/deeper']) await client.publishAsync(`${base}/${tail}`, tail, { qos: 1 });
  const got: string[] = [];
  const done = (async () => {
    for await (const m of only) got.push(m.topic.slice(base.length + 1));
  })();
  await waitFor('two messages', () => got.length === 2);
  await client.endAsync();
  await done; // the loop ends with the client
  t.deepEqual(got, ['keep/1', 'keep/2']);
  t.throws(() => client.messages('a/#/b'), { instanceOf: TypeError, message: /filter/ });
});

test.serial('publish beyond the bound of the wait queue gets an error that names the bound; the link stays up', async (t) => {
  if (!broker) return t.pass('mosquitto not installed');
  const topic = `room/${process.pid}`;
  const client = await connectAsync(`mqtt://127.0.0.1:${broker.port}`, { queueLimitBytes: 64 * 1024 });
  t.teardown(() => client.end(true));
  const big = Buffer.alloc(16 * 1024, 1);
  const results = await Promise.allSettled(Array.from({ length: 400 }, () => client.publishAsync(topic, big, { qos: 1 })));
  const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  // Some fit the handle, a few wait (64 KiB of them), the rest are refused with a reason.
  t.true(refused.length > 0 && refused.length < 400, `refused ${refused.length}`);
  t.regex((refused[0].reason as Error).message, /publish queue full.*queueLimitBytes/);
  t.true(client.connected);
});

test.serial('bad input: a TypeError naming the argument, or an error that says what is not supported', async (t) => {
  t.throws(() => connect('wss://127.0.0.1'), { message: /WebSocket .* not supported/ });
  t.throws(() => connect('mqtts://127.0.0.1', { pfx: Buffer.alloc(1) }), { message: /pfx.* not supported/ });
  t.throws(() => connect('mqtt://127.0.0.1', { ca: 'x' }), { instanceOf: TypeError, message: /^options.ca is a TLS option: use an mqtts:\/\/ URL/ });
  t.throws(() => connect('mqtt://127.0.0.1', { servers: [{ host: 'a', port: 1, protocol: 'mqtts' }] }), { message: /mixing TLS and plain TCP/ });
  t.throws(() => connect('mqtt://127.0.0.1', { servers: [{ host: 1 as unknown as string }] }), { instanceOf: TypeError, message: /^options.servers\[0\].host/ });
  t.throws(() => connect('mqtt://127.0.0.1', { servers: [] }), { instanceOf: TypeError, message: /^options.servers/ });
  t.throws(() => connect('gopher://127.0.0.1'), { instanceOf: TypeError, message: /^protocol/ });
  t.throws(() => connect('mqtt://127.0.0.1', { protocolVersion: 5 }), { message: /protocolVersion 5/ });
  t.throws(() => connect('not a url'), { instanceOf: TypeError, message: /url/ });
  t.throws(() => connect('mqtt://127.0.0.1', { reconnectPeriod: -1 }), { instanceOf: TypeError, message: /reconnectPeriod/ });
  if (!broker) return;
  const client = connect(`mqtt://127.0.0.1:${broker.port}`);
  t.teardown(() => client.end(true));
  t.throws(() => client.publish(1 as unknown as string, 'x'), { instanceOf: TypeError, message: /^topic must be a string/ });
  t.throws(() => client.publish('t', 5 as unknown as string), { instanceOf: TypeError, message: /^message/ });
  t.throws(() => client.publish('t', 'x', { qos: 3 as 0 }), { instanceOf: TypeError, message: /^opts.qos/ });
  t.throws(() => client.subscribe(7 as unknown as string), { instanceOf: TypeError, message: /^topic/ });
  await t.throwsAsync(client.publishAsync('a/+', 'x'), { message: /wildcard|topic/i });
  await t.throwsAsync(client.subscribeAsync('a/#/b'), { message: /Invalid topic/ });
});

test.serial('connection refused: an error event, then close; with reconnectPeriod 0 no reconnect', async (t) => {
  // A port nobody listens on: take a broker's and stop it.
  const gone = await startMosquitto();
  if (!gone) return t.pass('mosquitto not installed');
  const port = gone.port;
  await gone.stop();
  const client: MqttClient = connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  const events: string[] = [];
  client.on('error', (e: Error & { code?: unknown }) => events.push(`error ${e.message.length > 0} ${String(e.code)}`));
  client.on('close', () => events.push('close'));
  client.on('reconnect', () => events.push('reconnect'));
  await waitFor('close', () => events.includes('close'));
  await sleep(300);
  // code as MQTT.js's (Node's socket error): MQTT.js's test "should emit error event if the socket refuses the connection"
  t.deepEqual(events, ['error true ECONNREFUSED', 'close']);
  t.false(client.connected);
  t.false(client.reconnecting);
  await client.endAsync();
  t.true(client.disconnected);
});

test.serial('messages cross between MQTT.js and the compat client both ways', async (t) => {
  if (!broker) return t.pass('mosquitto not installed');
  const topic = `cross/${process.pid}`;
  const ours = await connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  const theirs = mqttjsConnect(`mqtt://127.0.0.1:${broker.port}`);
  await new Promise((resolve) => theirs.once('connect', resolve));
  await ours.subscribeAsync(`${topic}/to-ours`, { qos: 1 });
  await theirs.subscribeAsync(`${topic}/to-theirs`, { qos: 1 });
  const gotOurs = new Promise<Buffer>((resolve) => ours.once('message', (_t, p) => resolve(p)));
  const gotTheirs = new Promise<Buffer>((resolve) => theirs.once('message', (_t, p) => resolve(p)));
  await theirs.publishAsync(`${topic}/to-ours`, Buffer.from([0, 255, 1]), { qos: 1 });
  await ours.publishAsync(`${topic}/to-theirs`, Buffer.from([9, 0, 8]), { qos: 1 });
  t.deepEqual([...(await gotOurs)], [0, 255, 1]);
  t.deepEqual([...(await gotTheirs)], [9, 0, 8]);
  await ours.endAsync();
  await theirs.endAsync();
});

test.serial('end() without force sends what waits for room first; end(true) fails it', async (t) => {
  if (!broker) return t.pass('mosquitto not installed');
  const COUNT = 5000;
  const topic = `end/${process.pid}`;
  const receiver = mqttjsConnect(`mqtt://127.0.0.1:${broker.port}`);
  t.teardown(() => receiver.end(true));
  await new Promise((resolve) => receiver.once('connect', resolve));
  await receiver.subscribeAsync(topic, { qos: 1 });
  let received = 0;
  receiver.on('message', () => received++);

  const client = await connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  const results: (Error | undefined)[] = [];
  for (let i = 0; i < COUNT; i++) client.publish(topic, String(i), { qos: 1 }, (err) => results.push(err));
  const events: string[] = [];
  client.on('close', () => events.push('close'));
  client.on('end', () => events.push('end'));
  await client.endAsync();
  events.push('ended');
  t.deepEqual(events, ['close', 'end', 'ended']);
  await waitFor('every message', () => received === COUNT, { timeoutMs: 30_000, detail: () => `received ${received}` });
  t.is(results.filter((e) => e !== undefined).length, 0, String(results.find((e) => e !== undefined)));
  t.is(results.length, COUNT);
  t.false(client.connected);
  // After end: refused with MQTT.js's message.
  await t.throwsAsync(client.publishAsync(topic, 'late'), { message: 'client disconnecting' });

  const forced = await connectAsync(`mqtt://127.0.0.1:${broker.port}`, { queueLimitBytes: 1 << 30 });
  const outcomes: string[] = [];
  for (let i = 0; i < COUNT; i++) forced.publish(topic, String(i), { qos: 1 }, (err) => outcomes.push(err ? err.message : 'ok'));
  await forced.endAsync(true);
  await waitFor('every callback', () => outcomes.length === COUNT, { detail: () => `${outcomes.length} callbacks` });
  // The first ones were in the handle; what still waited for room is failed, not sent.
  t.true(outcomes.some((o) => /Connection closed/.test(o)), outcomes.slice(-1)[0]);
});

test.serial('options map onto open(): clean: false keeps the session (sessionPresent, queued QoS 1 message); a bad keepalive is an error event', async (t) => {
  if (!broker) return t.pass('mosquitto not installed');
  const topic = `session/${process.pid}`;
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const options = { clientId: `session-${process.pid}`, clean: false, keepalive: 20 };
  const first = connect(url, options);
  const connack1 = await new Promise<{ sessionPresent: boolean }>((resolve) => first.once('connect', resolve));
  await first.subscribeAsync(topic, { qos: 1 });
  await first.endAsync();
  const other = await connectAsync(url);
  await other.publishAsync(topic, 'while away', { qos: 1 });
  await other.endAsync();
  const second = connect(url, options);
  const got = new Promise<string>((resolve) => second.once('message', (_t, p) => resolve(p.toString())));
  const connack2 = await new Promise<{ sessionPresent: boolean }>((resolve) => second.once('connect', resolve));
  t.deepEqual([connack1.sessionPresent, connack2.sessionPresent], [false, true]);
  t.is(await got, 'while away');
  await second.endAsync();

  const bad = connect(url, { keepalive: 70_000 });
  const err = await new Promise<Error>((resolve) => bad.once('error', resolve));
  t.regex(err.message, /keep/i);
  await bad.endAsync();
  t.true(bad.disconnected);
});

test.serial('mqtts:// with MQTT.js TLS options (ca) connects and round-trips; a wrong CA is an error event that says why', async (t) => {
  const certs = await makeCerts();
  t.teardown(() => certs.remove());
  const env = await startTlsMosquitto(certs);
  if (!env) return t.pass('mosquitto not installed');
  t.teardown(() => env.broker.stop());
  const topic = `tls/${process.pid}`;
  const client = await connectAsync(`mqtts://127.0.0.1:${env.ports.tls}`, { ca: Buffer.from(certs.ca), reconnectPeriod: 0 });
  await client.subscribeAsync(topic, { qos: 1 });
  const got = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())));
  await client.publishAsync(topic, 'over TLS', { qos: 1 });
  t.is(await got, 'over TLS');
  await client.endAsync();

  const refused = connect(`mqtts://127.0.0.1:${env.ports.tls}`, { ca: certs.otherCa, reconnectPeriod: 0 });
  const err = await new Promise<Error>((resolve) => refused.once('error', resolve));
  t.regex(err.message, /certificate|CA|issuer/i);
  await refused.endAsync();
});

test.serial('servers: the first is down, the client connects to the next one (open\'s brokers)', async (t) => {
  if (!broker) return t.pass('mosquitto not installed');
  const gone = await startMosquitto();
  if (!gone) return t.pass('mosquitto not installed');
  const downPort = gone.port;
  await gone.stop();
  const client = connect({ servers: [{ host: '127.0.0.1', port: downPort }, { host: '127.0.0.1', port: broker.port }], reconnectPeriod: 100 });
  client.on('error', () => {}); // the first server refuses
  await new Promise((resolve) => client.once('connect', resolve));
  t.true(client.connected);
  await client.endAsync();
});

test.serial('fake timers (sinon, jest) installed and uninstalled while the client runs do not stop its events', async (t) => {
  if (!broker) return t.pass('mosquitto not installed');
  // MQTT.js's keepalive tests (sinon.useFakeTimers) found this: events are
  // dispatched from a setImmediate, and one scheduled on a fake clock that is
  // then uninstalled never runs, so no connection in the process got events again.
  const topic = `fake-timers/${process.pid}`;
  const client = await connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 });
  const got: string[] = [];
  client.on('message', (_t, p) => got.push(p.toString()));
  await client.subscribeAsync(topic, { qos: 1 });
  const realSetImmediate = globalThis.setImmediate;
  // A fake clock that is never ticked: what it is given never runs.
  globalThis.setImmediate = (() => ({})) as unknown as typeof setImmediate;
  try {
    client.publish(topic, 'during', { qos: 1 });
    await sleep(300); // the message comes back while the fake is installed
  } finally {
    globalThis.setImmediate = realSetImmediate;
  }
  await waitFor('the message published while the fake was installed', () => got.includes('during'), { detail: () => got.join(',') });
  await client.publishAsync(topic, 'after', { qos: 1 });
  await waitFor('the message published after', () => got.includes('after'), { detail: () => got.join(',') });
  t.deepEqual(got, ['during', 'after']);
  await client.endAsync();
});

test.serial('a CONNACK refusal is an error event whose code is the return code, as MQTT.js\'s', async (t) => {
  const closed = await startMosquitto({ allowAnonymous: false });
  if (!closed) return t.pass('mosquitto not installed');
  t.teardown(() => closed.stop());
  const client = connect(`mqtt://127.0.0.1:${closed.port}`, { reconnectPeriod: 0 });
  const err = await new Promise<Error & { code?: unknown }>((resolve) => client.once('error', resolve));
  t.is(err.code, 5, err.message); // not authorized
  await client.endAsync();
});

test.serial('subscribe([]) is an error (MQTT.js: Invalid topic empty_topic_list); requests end() abandons fail only through their callbacks', async (t) => {
  if (!broker) return t.pass('mosquitto not installed');
  const client = await connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  const errors: Error[] = [];
  client.on('error', (e) => errors.push(e));
  await t.throwsAsync(client.subscribeAsync([]), { message: 'Invalid topic empty_topic_list' });
  // MQTT.js's test "should send an unsubscribe packet": requests without a
  // callback, then end() at once. Their callbacks would get "Connection
  // closed"; without one, MQTT.js says nothing, and neither does compat.
  client.subscribe(`abandoned/${process.pid}`, { qos: 1 });
  client.unsubscribe(`abandoned/${process.pid}`);
  client.publish(`abandoned/${process.pid}`, 'x', { qos: 1 });
  await client.endAsync(true);
  await sleep(100);
  t.deepEqual(errors.map((e) => e.message), []);
});

test('clean: false without a clientId throws, as MQTT.js does (a session under a random id could never be resumed)', (t) => {
  t.throws(() => connect('mqtt://127.0.0.1:1', { clean: false, reconnectPeriod: 0 }), { message: 'Missing clientId for unclean clients' });
});

test.serial('an error event without a listener does not throw: connect() adds a no-op one, as MQTT.js\'s connect() does', async (t) => {
  const gone = await startMosquitto();
  if (!gone) return t.pass('mosquitto not installed');
  const port = gone.port;
  await gone.stop();
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  t.teardown(() => process.off('uncaughtException', onUncaught));
  const client = connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  await new Promise((resolve) => client.once('close', resolve));
  await sleep(100);
  t.deepEqual(uncaught, []);
  t.is(client.listenerCount('error'), 1);
  await client.endAsync();
});

test.serial('end() without force waits for the SUBACK and UNSUBACK of requests in flight, as MQTT.js does', async (t) => {
  if (!broker) return t.pass('mosquitto not installed');
  // MQTT.js's test "should delay ending up until all inflight messages are delivered".
  const client = await connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  const done: string[] = [];
  client.subscribe(`end-wait/${process.pid}`, { qos: 1 }, (err) => done.push(`subscribe ${err === null}`));
  client.unsubscribe(`end-wait/other/${process.pid}`, (err) => done.push(`unsubscribe ${err === undefined}`));
  await client.endAsync();
  t.deepEqual(done, ['subscribe true', 'unsubscribe true']);
});
