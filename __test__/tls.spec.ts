// TLS (rustls in the driver) against a real mosquitto with TLS listeners,
// using a CA and certificates that `openssl` makes for this run
// (helpers/tls.ts). Refusals must say why: unknown CA, another host name,
// expired. Nothing here is mocked: the handshake, the broker and the
// sockets are real; the one scripted part is a TCP server that never
// answers the handshake (to show that the connect timeout covers it).

import anyTest, { type ExecutionContext } from 'ava';
import net from 'node:net';
import path from 'node:path';
import mqttjs from 'mqtt';
import mqtt, { type MqttDisconnected, type MqttOpenOptions } from 'mqtt-rs-client';
import { connectAndSubscribe, openRecorded, Recorder, track, uid } from './helpers/client';
import { ROOT, run } from './helpers/run';
import { makeCerts, startTlsMosquitto, type Certs, type TlsMosquitto } from './helpers/tls';
import { waitFor } from './helpers/wait';

// Serial: the connection limit (16) is per process, and the restart test
// stops the broker that the others use.
const test = anyTest.serial;

let certs: Certs | null = null;
let env: TlsMosquitto | null = null;

anyTest.before(async () => {
  certs = await makeCerts();
  env = await startTlsMosquitto(certs);
});

anyTest.after.always(async () => {
  await env?.broker.stop();
  certs?.remove();
});

const SKIP = 'mosquitto not installed: skipped';

/** Opens with `options` and returns the first `disconnected` (the attempt's failure). */
async function refusal(t: ExecutionContext, port: number, options: MqttOpenOptions): Promise<MqttDisconnected> {
  const rec = openRecorded(t, '127.0.0.1', port, uid('tls-refused'), { options });
  const d = await rec.next('disconnected');
  t.deepEqual(rec.seen.connected, [], 'never connected');
  return d;
}

test('tls: { ca } connects to the TLS listener; a message crosses to and from MQTT.js on the plain listener', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const topic = uid('tls-rt');
  const rec = openRecorded(t, '127.0.0.1', env.ports.tls, uid('tls-ok'), { options: { tls: { ca: certs.ca } } });
  await rec.next('connected');
  t.is(mqtt.state(rec.conn), 'connected');
  t.is(mqtt.subscribe(rec.conn, `${topic}/#`, 1), 0, mqtt.lastError());
  t.true((await rec.next('subscribed')).ok);

  const js = await mqttjs.connectAsync({ host: '127.0.0.1', port: env.ports.plain, reconnectPeriod: 0 });
  t.teardown(() => js.end(true));
  const fromUs = new Promise<string>((resolve) => js.on('message', (_topic, p) => resolve(p.toString())));
  await js.subscribeAsync(`${topic}/to-js`, { qos: 1 });
  t.is(mqtt.publish(rec.conn, `${topic}/to-js`, 'over TLS', 1), 0, mqtt.lastError());
  t.is(await fromUs, 'over TLS');

  await js.publishAsync(`${topic}/from-js`, Buffer.from([0, 1, 2, 255]), { qos: 1 });
  const m = await rec.until('message', (e) => e.topic === `${topic}/from-js`);
  t.deepEqual([...m.bytes], [0, 1, 2, 255]);
});

test('tls: the CA as a Buffer and the host name localhost (checked against the DNS name in the certificate)', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const rec = openRecorded(t, 'localhost', env.ports.tls, uid('tls-localhost'), { options: { tls: { ca: Buffer.from(certs.ca) } } });
  await rec.next('connected');
  t.pass();
});

test('tls.ca as an array of PEM texts: any of them may be the issuer', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const rec = openRecorded(t, '127.0.0.1', env.ports.tls, uid('tls-ca-array'), { options: { tls: { ca: [certs.otherCa, Buffer.from(certs.ca)] } } });
  await rec.next('connected');
  t.pass();
});

test('mutual TLS: a client certificate and key (PEM) are accepted by a listener that requires one', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const options = { tls: { ca: certs.ca, cert: certs.clientCert, key: Buffer.from(certs.clientKey) } };
  const rec = openRecorded(t, '127.0.0.1', env.ports.mtls, uid('tls-mtls'), { options });
  await rec.next('connected');
  const topic = uid('tls-mtls-topic');
  t.is(mqtt.subscribe(rec.conn, topic, 0), 0);
  await rec.next('subscribed');
  t.is(mqtt.publish(rec.conn, topic, 'mutual', 0), 0);
  t.is((await rec.next('message')).payload, 'mutual');
});

test('mutual TLS: without a client certificate the broker refuses, and the reason says TLS', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const d = await refusal(t, env.ports.mtls, { tls: { ca: certs.ca } });
  t.is(d.cause, 'tls', d.reason);
  t.regex(d.reason, /^TLS: .*client certificate/, d.reason);
});

test('a wrong CA is refused: "certificate not trusted (unknown CA)"', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const d = await refusal(t, env.ports.tls, { tls: { ca: certs.otherCa } });
  t.is(d.cause, 'tls');
  t.is(d.reason, 'TLS: certificate not trusted (unknown CA)');
});

test('tls: true trusts the system roots only: the test CA is unknown there', async (t) => {
  if (!env) return t.pass(SKIP);
  const d = await refusal(t, env.ports.tls, { tls: true });
  t.is(d.cause, 'tls');
  t.is(d.reason, 'TLS: certificate not trusted (unknown CA)');
});

test('a wrong host name is refused: servername "wrong.example"', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const d = await refusal(t, env.ports.tls, { tls: { ca: certs.ca, servername: 'wrong.example' } });
  t.is(d.cause, 'tls');
  t.regex(d.reason, /^TLS: certificate is for another host name/, d.reason);
  t.regex(d.reason, /wrong\.example/);
});

test('an expired server certificate is refused: "certificate expired"', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const d = await refusal(t, env.ports.expired, { tls: { ca: certs.ca } });
  t.is(d.cause, 'tls');
  t.regex(d.reason, /^TLS: certificate expired/, d.reason);
});

test('rejectUnauthorized: false connects despite an expired certificate, an unknown CA and another name', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const options = { tls: { ca: certs.otherCa, servername: 'wrong.example', rejectUnauthorized: false } };
  const rec = openRecorded(t, '127.0.0.1', env.ports.expired, uid('tls-insecure'), { options });
  await rec.next('connected');
  t.pass();
});

test('tls against a plain MQTT listener: the broker hangs up during the handshake, cause "tls"', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const d = await refusal(t, env.ports.plain, { tls: { ca: certs.ca } });
  t.is(d.cause, 'tls', d.reason);
  t.regex(d.reason, /^TLS: /);
});

test('the connect timeout covers the handshake: a server that accepts and never answers', async (t) => {
  const silent: net.Socket[] = [];
  const server = net.createServer((s) => {
    silent.push(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of silent) s.destroy();
    server.close();
  });
  const port = (server.address() as net.AddressInfo).port;
  const rec = openRecorded(t, '127.0.0.1', port, uid('tls-silent'), { options: { tls: true, connectTimeoutMs: 300 } });
  const d = await rec.next('disconnected');
  t.is(d.cause, 'connect-timeout', d.reason);
  t.true(silent.length >= 1, 'the TCP connect was accepted');
});

test('QoS 1 flood over TLS under backpressure: every message arrives whole and in order (some larger than a TLS record)', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const options = { tls: { ca: certs.ca } };
  const topic = uid('tls-flood');
  const sub = openRecorded(t, '127.0.0.1', env.ports.tls, uid('tls-flood-sub'), { options });
  await sub.next('connected');
  t.is(mqtt.subscribe(sub.conn, topic, 1), 0);
  await sub.next('subscribed');

  const pub = track(t, mqtt.open('127.0.0.1', env.ports.tls, uid('tls-flood-pub'), options));
  const pubRec = new Recorder(pub);
  await pubRec.next('connected');
  let drains = 0;
  const drained = new Set<() => void>();
  mqtt.on(pub, 'drain', () => {
    drains += 1;
    for (const w of [...drained]) w();
  });

  const N = 20_000;
  // Every 500th message is 40 KiB (it spans several 16 KiB TLS records);
  // the rest are 512 bytes: 11 MB in all, more than the outbound buffer
  // holds. Each names its sequence number and length.
  const payload = (i: number): Buffer => {
    const size = i % 500 === 499 ? 40 << 10 : 512;
    const b = Buffer.alloc(size, i % 251);
    b.writeUInt32BE(i, 0);
    b.writeUInt32BE(size, 4);
    return b;
  };
  let refused = 0;
  for (let i = 0; i < N;) {
    if (mqtt.publish(pub, topic, payload(i), 1) === 0) {
      i += 1;
      continue;
    }
    refused += 1;
    t.regex(mqtt.lastError(), /buffer|in flight|awaiting/i);
    const before = drains;
    await waitFor('drain', () => drains > before, { signal: drained, timeoutMs: 30_000 });
  }
  const got = await sub.count('message', N, 120_000).catch((e: Error) => {
    throw new Error(`${e.message}\nbroker log (end):\n${env?.broker.log().slice(-3000)}`);
  });
  t.is(got.length, N);
  for (let i = 0; i < N; i++) {
    const m = got[i].bytes;
    const want = payload(i);
    if (m.length !== want.length || m.readUInt32BE(0) !== i || !m.equals(want)) {
      t.fail(`message ${i}: got ${m.length} bytes, sequence ${m.length >= 4 ? m.readUInt32BE(0) : '?'}`);
      return;
    }
  }
  t.log(`publish refused ${refused} times for lack of room (backpressure), ${drains} drains`);
  t.true(refused > 0, 'the flood met backpressure');
});

test('a slow handler over TLS: reading pauses and resumes (flow control); every message arrives once, in order', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const topic = uid('tls-slow');
  // The first message's handler holds the JavaScript thread for 1.5 s, while
  // a publisher in another process floods 30 MB at QoS 1: the undelivered
  // events reach their bound (8 MiB), reading from the TLS socket pauses
  // (TCP pushes back on mosquitto), and resumes once JavaScript catches up.
  const seqs: number[] = [];
  const sub = openRecorded(t, '127.0.0.1', env.ports.tls, uid('tls-slow-sub'), {
    options: { tls: { ca: certs.ca } },
    hooks: {
      message: (m) => {
        if (seqs.length === 0) {
          const until = performance.now() + 1500;
          while (performance.now() < until);
        }
        seqs.push(m.bytes.readUInt32BE(0));
      },
    },
  });
  await sub.next('connected');
  t.is(mqtt.subscribe(sub.conn, topic, 1), 0);
  await sub.next('subscribed');

  const N = 30_000;
  const script = `
    const c = require('mqtt').connect({ host: '127.0.0.1', port: ${env.ports.plain}, reconnectPeriod: 0 });
    c.on('connect', async () => {
      const body = Buffer.alloc(1024, 7);
      for (let i = 0; i < ${N}; i++) {
        const b = Buffer.from(body);
        b.writeUInt32BE(i, 0);
        await c.publishAsync(${JSON.stringify(topic)}, b, { qos: 1 }).catch(() => process.exit(3));
      }
      c.end(() => process.exit(0));
    });
    c.on('error', () => process.exit(2));`;
  const publisher = await run(process.execPath, ['-e', script], { timeoutMs: 120_000 }).exit;
  t.is(publisher.code, 0, publisher.stderr);
  await waitFor(`${N} messages`, () => seqs.length >= N, { timeoutMs: 120_000, detail: () => `have ${seqs.length}` });
  t.is(seqs.length, N);
  const wrong = seqs.findIndex((v, i) => v !== i);
  t.is(wrong, -1, `message ${wrong} has sequence ${seqs[wrong]}`);
});

test('a broker restart: auto-reconnect over TLS, and messages flow again', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const rec = openRecorded(t, '127.0.0.1', env.ports.tls, uid('tls-restart'), { options: { tls: { ca: certs.ca } } });
  mqtt.setAutoReconnect(rec.conn, true);
  mqtt.setReconnectDelays(rec.conn, [0.1, 0.2]);
  await rec.next('connected');
  await env.broker.restart();
  const d = await rec.next('disconnected');
  t.not(d.cause, 'tls', d.reason);
  await rec.next('connected', 15_000);
  const topic = uid('tls-restart-topic');
  t.is(mqtt.subscribe(rec.conn, topic, 1), 0);
  await rec.next('subscribed');
  t.is(mqtt.publish(rec.conn, topic, 'after restart', 1), 0);
  t.is((await rec.next('message')).payload, 'after restart');
});

// ---- options: values are checked in Rust (-1 and a reason), types in TypeScript

test('tls option values: -1 with a reason naming the field', (t) => {
  const bad = (tls: unknown): string => {
    const r = mqtt.open('127.0.0.1', 1883, uid('tls-bad'), { tls } as MqttOpenOptions);
    track(t, r);
    t.is(r, -1, `accepted ${JSON.stringify(tls)}`);
    return mqtt.lastError();
  };
  t.is(bad({ ca: 'not a certificate' }), 'tls.ca: no certificate in the PEM');
  t.is(bad({ ca: '' }), 'tls.ca: no certificate in the PEM');
  t.regex(bad({ ca: '-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n' }), /^tls\.ca: /);
  t.is(bad({ cert: certs?.clientCert ?? 'x' }), 'tls.cert and tls.key go together: give both or neither');
  t.is(bad({ key: certs?.clientKey ?? 'x' }), 'tls.cert and tls.key go together: give both or neither');
  t.is(bad({ cert: 'nothing', key: certs?.clientKey ?? 'x' }), 'tls.cert: no certificate in the PEM');
  if (certs) {
    t.is(bad({ cert: certs.clientCert, key: certs.clientCert }), 'tls.key: no private key in the PEM');
    t.regex(bad({ cert: certs.clientCert, key: certs.otherCa }), /^tls\.key: /);
  }
  t.regex(bad({ servername: 'not a name!' }), /^tls\.servername: /);
  t.regex(bad({ servername: '' }), /^tls\.servername: /);
});

test('tls option types: TypeError naming the field', (t) => {
  const open = (tls: unknown) => () => mqtt.open('127.0.0.1', 1883, 'x', { tls } as MqttOpenOptions);
  t.throws(open('yes'), { instanceOf: TypeError, message: /^options\.tls must be/ });
  t.throws(open(1), { instanceOf: TypeError, message: /^options\.tls must be/ });
  t.throws(open({ ca: 42 }), { instanceOf: TypeError, message: /^options\.tls\.ca must be/ });
  t.throws(open({ ca: ['pem', 42] }), { instanceOf: TypeError, message: /^options\.tls\.ca\[1\] must be/ });
  t.throws(open({ cert: {} }), { instanceOf: TypeError, message: /^options\.tls\.cert must be/ });
  t.throws(open({ key: [1] }), { instanceOf: TypeError, message: /^options\.tls\.key must be/ });
  t.throws(open({ servername: 5 }), { instanceOf: TypeError, message: /^options\.tls\.servername must be/ });
  t.throws(open({ rejectUnauthorized: 'no' }), { instanceOf: TypeError, message: /^options\.tls\.rejectUnauthorized must be/ });
});

test('tls: false is plain MQTT', async (t) => {
  if (!env) return t.pass(SKIP);
  const rec = openRecorded(t, '127.0.0.1', env.ports.plain, uid('tls-false'), { options: { tls: false } });
  await rec.next('connected');
  t.pass();
});

// ---- the command line: mqtts:// and mosquitto_pub's TLS flags ------------

const CLI = path.join(ROOT, 'dist', 'cli', 'mqtt-rs.js');
const cli = (args: string[]) => run(process.execPath, [CLI, ...args]).exit;

test('mqtt-rs pub -L mqtts://... --cafile: published over TLS; --cert/--key for mutual TLS; --insecure', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  const topic = uid('tls-cli');
  const rec = await connectAndSubscribe(t, env.ports.plain, uid('tls-cli-sub'), [[`${topic}/#`, 1]]);
  const f = certs.files;

  let r = await cli(['pub', '-L', `mqtts://127.0.0.1:${env.ports.tls}/${topic}/a`, '--cafile', f.ca, '-q', '1', '-m', 'A']);
  t.is(r.code, 0, r.stderr);
  r = await cli([
    'pub', '-h', '127.0.0.1', '-p', String(env.ports.mtls), '-t', `${topic}/b`, '--cafile', f.ca,
    '--cert', f.clientCert, '--key', f.clientKey, '-q', '1', '-m', 'B',
  ]);
  t.is(r.code, 0, r.stderr);
  r = await cli(['pub', '-L', `mqtts://127.0.0.1:${env.ports.expired}/${topic}/c`, '--insecure', '-q', '1', '-m', 'C']);
  t.is(r.code, 0, r.stderr);
  await rec.count('message', 3);
  t.deepEqual(rec.seen.message.map((m) => `${m.topic.slice(topic.length)} ${m.payload}`), ['/a A', '/b B', '/c C']);
});

test('mqtt-rs pub over TLS: the refusal is on stderr, exit code 2; --cert without --key is a usage error', async (t) => {
  if (!env || !certs) return t.pass(SKIP);
  let r = await cli(['pub', '-L', `mqtts://127.0.0.1:${env.ports.tls}/x`, '-m', 'x']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /TLS: certificate not trusted \(unknown CA\)/);
  r = await cli(['pub', '-L', `mqtts://127.0.0.1:${env.ports.tls}/x`, '--cert', certs.files.clientCert, '-m', 'x']);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /--cert and --key go together/);
});
