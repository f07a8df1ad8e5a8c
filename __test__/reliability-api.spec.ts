// Regression tests for the reliability defects of issue 12, through the
// package API, each asserting what a user would notice: a host that killed
// the process, hosts that were accepted and then failed late, a reconnect
// schedule that ignored the delays set right after open or busy-looped, a
// disconnect that kept a process alive for seconds, backpressure without a
// signal to resume, reasons that did not say the limit. Each test failed on
// the commit before the fix (a01d916).
//
// Timing: where time is the point, the bound is generous (several times the
// expected value, far below the defect's) and the measured value is logged.
//
// Needs: mosquitto for two tests (skipped with a note without it); IPv6
// loopback for "[::1]" (skipped with a note without it). "Every address is
// tried" needs a name that resolves to ::1 and then 127.0.0.1: when localhost
// does not, a child process gets its own /etc/hosts in a private mount
// namespace (`unshare -m`, root); without that only the IPv4 connect is checked.

import anyTest, { type ExecutionContext } from 'ava';

// Serial: the connection limit (16) is per process, and timing-sensitive
// tests should not compete with each other for the two cores.
const test = anyTest.serial;
import dns from 'node:dns/promises';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttEventName, type MqttEvents } from 'mqtt-rs-client';
import { sleep, track, uid } from './helpers/client';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto';
import { freePort } from './helpers/net';
import {
  PacketType, Peer, decodePublish, packets, splitFrame, startPeer, type PeerConnection,
} from './helpers/peer';
import { run } from './helpers/run';
import { waitFor } from './helpers/wait';

// ---- shared bits ---------------------------------------------------------

const EVENT_NAMES = [
  'connected', 'disconnected', 'subscribed', 'message', 'published', 'unsubscribed', 'drain', 'oversized',
] as const satisfies readonly MqttEventName[];

type Hooks = { [E in MqttEventName]?: (e: MqttEvents[E]) => void };
interface Seen<E extends MqttEventName> { event: MqttEvents[E]; at: number }

/**
 * Records every event of one handle (all eight kinds) with its arrival time
 * (performance.now()). A kind the addon does not know is noted in
 * `unbound` instead of throwing, so a test can say which API is missing.
 */
class Events {
  readonly log: { type: MqttEventName; event: unknown; at: number }[] = [];
  readonly unbound: string[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(readonly conn: number, hooks: Hooks = {}) {
    for (const type of EVENT_NAMES) {
      const hook = hooks[type] as ((e: unknown) => void) | undefined;
      const r = mqtt.on(conn, type, (e: unknown) => {
        this.log.push({ type, event: e, at: performance.now() });
        hook?.(e);
        for (const w of [...this.waiters]) w();
      });
      if (r !== 0) this.unbound.push(`${type}: ${mqtt.lastError()}`);
    }
  }

  all<E extends MqttEventName>(type: E): Seen<E>[] {
    return this.log.filter((l) => l.type === type) as unknown as Seen<E>[];
  }

  /** Resolves with the first event of `type` satisfying `pred` (seen before or after the call). */
  find<E extends MqttEventName>(type: E, pred: (e: MqttEvents[E]) => boolean = () => true, timeoutMs = 10_000): Promise<Seen<E>> {
    return this.wait(() => this.all(type).find((s) => pred(s.event)), timeoutMs, `${type}`);
  }

  /** Resolves with the events of `type` once there are at least `n`. */
  count<E extends MqttEventName>(type: E, n: number, timeoutMs = 10_000): Promise<Seen<E>[]> {
    return this.wait(() => {
      const l = this.all(type);
      return l.length >= n ? l : undefined;
    }, timeoutMs, `${n} ${type} events`);
  }

  private wait<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return waitFor(what, check, {
      signal: this.waiters,
      timeoutMs,
      label: `conn ${this.conn}`,
      detail: () => {
        const types = this.log.map((l) => l.type);
        return `events so far: ${JSON.stringify(types.slice(0, 40))}${types.length > 40 ? ` (+${types.length - 40})` : ''}` +
          (this.unbound.length ? `; not bound: ${this.unbound.join('; ')}` : '');
      },
    });
  }

}

/** open() that fails the test on -1, disconnects at teardown and records events. */
function openEvents(t: ExecutionContext, host: string, port: number, o: { hooks?: Hooks; options?: Parameters<typeof mqtt.open>[3] } = {}): Events {
  const conn = mqtt.open(host, port, uid('rel'), o.options);
  if (conn < 0) throw new Error(`open(${host.length > 40 ? `${host.slice(0, 40)}...` : host}) failed: ${mqtt.lastError()}`);
  track(t, conn);
  return new Events(conn, o.hooks);
}

/** Asserts that `names` could be bound (they are new API; on an older build this says so). */
function assertBound(t: ExecutionContext, ev: Events, names: MqttEventName[]): boolean {
  const missing = ev.unbound.filter((u) => names.some((n) => u.startsWith(`${n}:`)));
  t.deepEqual(missing, [], 'event kinds the package must support');
  return missing.length === 0;
}

async function withPeer(t: ExecutionContext): Promise<Peer> {
  const peer = await startPeer();
  t.teardown(() => peer.close());
  return peer;
}

/** Accepts the next connection and completes the handshake with CONNACK 0. */
async function accept(peer: Peer, timeoutMs = 5000): Promise<PeerConnection> {
  const c = await peer.nextConnection(timeoutMs);
  await c.nextPacket(PacketType.CONNECT, timeoutMs);
  c.write(packets.connack(0));
  return c;
}

/** A scripted peer listening on ::1 only, or null when this machine has no IPv6 loopback. */
async function startPeer6(): Promise<Peer | null> {
  const server = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => resolve(true));
  });
  if (!ok) return null;
  return new Peer(server, (server.address() as net.AddressInfo).port);
}

interface ChildResult { code: number | null; signal: string | null; stdout: string; stderr: string; timedOut: boolean; ms: number }

/** Runs `argv` (node and a snippet, possibly behind a wrapper); killed after `timeoutMs`. */
async function runProcess(argv: string[], env: Record<string, string>, timeoutMs: number): Promise<ChildResult> {
  const started = performance.now();
  const r = await run(argv[0], argv.slice(1), { env, timeoutMs }).exit;
  return { ...r, ms: performance.now() - started };
}

/** Runs a TypeScript snippet in a child Node process (the package resolves as 'mqtt-rs-client'). */
function runChild(code: string, env: Record<string, string> = {}, timeoutMs = 15_000): Promise<ChildResult> {
  return runProcess([process.execPath, '--import=tsx', '-e', code], env, timeoutMs);
}

/** A host name of exactly `n` bytes (DNS labels of 63 bytes), under the reserved .invalid TLD. */
function longName(n: number): string {
  const tail = '.invalid';
  let head = '';
  for (let k = 0; k < n - tail.length; k++) head += (k + 1) % 64 === 0 ? '.' : String.fromCharCode(97 + ((k >> 6) % 26));
  const name = head + tail;
  if (Buffer.byteLength(name) !== n || name.includes('..') || name.startsWith('.')) throw new Error(`longName(${n}): ${name}`);
  return name;
}

const round = (ms: number) => Math.round(ms);

// mosquitto, started once for the tests that need a real broker.
let broker: Mosquitto | null = null;

anyTest.before(async () => {
  broker = await startMosquitto();
});

anyTest.after.always(async () => {
  await broker?.stop();
});

// ---- defect 5: host length, long reasons ---------------------------------

test('defect 5: a 70 000-byte host is refused at open with a reason (253 bytes) and the process carries on', async (t) => {
  // In a child process: on the old build the process died on the next tick
  // ("unknown event record kind 97"), which must not take this file down.
  const r = await runChild(
    `const mqtt = require('mqtt-rs-client').default;
     const conn = mqtt.open('a'.repeat(70000), 1883, 'x');
     console.log(JSON.stringify({ conn, reason: mqtt.lastError() }));
     setTimeout(() => {
       if (conn >= 0) mqtt.disconnect(conn);
       console.log('still alive');
     }, 1500);`,
  );
  t.log(`child: code ${r.code}, stdout ${JSON.stringify(r.stdout.trim())}`);
  t.false(r.timedOut, 'the child should exit by itself');
  t.is(r.code, 0, `the process must carry on: ${r.stderr.slice(0, 500)}`);
  const first = r.stdout.split('\n')[0];
  const res = JSON.parse(first) as { conn: number; reason: string };
  t.is(res.conn, -1, 'open refuses the host');
  t.regex(res.reason, /host/);
  t.regex(res.reason, /253 bytes/);
  t.regex(r.stdout, /still alive/);
  t.notRegex(r.stderr, /unknown event record kind/);
});

test('defect 5: the 253-byte boundary: 254 bytes (or 127 x "é") refused at open; 253 accepted, and its resolve failure carries the whole name', async (t) => {
  const tooLong = [longName(254), 'é'.repeat(127)];
  for (const host of tooLong) {
    const conn = mqtt.open(host, 1883, uid('long'));
    const why = mqtt.lastError();
    if (conn >= 0) track(t, conn);
    t.is(conn, -1, `a host of ${host.length} characters, ${Buffer.byteLength(host)} bytes`);
    t.regex(why, /253 bytes/, why);
  }
  const name = longName(253);
  const ev = openEvents(t, name, 1883);
  const d = await ev.find('disconnected', () => true, 30_000);
  t.log(`reason: ${d.event.reason.length} chars: ${d.event.reason.slice(0, 30)}...${d.event.reason.slice(-70)}`);
  t.true(d.event.reason.includes(name), 'the reason names the host it could not resolve');
  // The batch framing survived the long record: a later connection works.
  const peer = await withPeer(t);
  const ok = openEvents(t, '127.0.0.1', peer.port);
  await accept(peer);
  await ok.find('connected');
});

// ---- defect 14: host syntax, IPv6 literals, every address ----------------

test('defect 14: a port inside the host and a leading space are refused at open with readable reasons', async (t) => {
  const withPort = mqtt.open('127.0.0.1:1883', 1883, uid('hp'));
  const why1 = mqtt.lastError();
  if (withPort >= 0) track(t, withPort);
  t.is(withPort, -1, `open('127.0.0.1:1883') returned ${withPort}`);
  t.regex(why1, /port/, why1);
  t.log(`'127.0.0.1:1883': ${why1}`);

  const spaced = mqtt.open(' 127.0.0.1', 1883, uid('sp'));
  const why2 = mqtt.lastError();
  if (spaced >= 0) track(t, spaced);
  t.is(spaced, -1, `open(' 127.0.0.1') returned ${spaced}`);
  t.regex(why2, /space/, why2);
  t.log(`' 127.0.0.1': ${why2}`);
});

test('defect 14: open("[::1]") connects to a peer listening on ::1', async (t) => {
  const peer = await startPeer6();
  if (peer === null) {
    t.log('NOTE: no IPv6 loopback on this machine; skipped');
    t.pass();
    return;
  }
  t.teardown(() => peer.close());
  const ev = openEvents(t, '[::1]', peer.port);
  const c = await accept(peer);
  t.is(c.socket.remoteAddress, '::1');
  await ev.find('connected');
  t.is(mqtt.state(ev.conn), 'connected');
});

test('defect 14: a name that resolves to ::1 first and then 127.0.0.1 reaches a peer listening on 127.0.0.1 only (every address is tried)', async (t) => {
  const peer = await withPeer(t);
  const addrs = await dns.lookup('localhost', { all: true, verbatim: true });
  t.log('localhost resolves here to', addrs.map((a) => a.address));
  const bothHere = addrs.some((a) => a.family === 6) && addrs.some((a) => a.family === 4);
  if (bothHere) {
    const ev = openEvents(t, 'localhost', peer.port);
    await accept(peer);
    await ev.find('connected');
    return;
  }
  // localhost has no ::1 entry on this machine: give a child process its own
  // /etc/hosts (a private mount namespace, nothing global is touched) where
  // it resolves to ::1 and then 127.0.0.1.
  const hosts = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rel-hosts-')), 'hosts');
  fs.writeFileSync(hosts, '::1 localhost\n127.0.0.1 localhost\n');
  t.teardown(() => fs.rmSync(path.dirname(hosts), { recursive: true, force: true }));
  const probe = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
    `mount --bind "${hosts}" /etc/hosts && getent ahosts localhost`], { timeoutMs: 10_000 }).exit;
  const order = probe.stdout.split('\n').filter((l) => l.includes('STREAM')).map((l) => l.split(/\s+/)[0]);
  if (probe.code !== 0 || order[0] !== '::1' || !order.includes('127.0.0.1')) {
    t.log(`NOTE: localhost resolves to IPv4 only here and no private mount namespace is available ` +
      `(unshare: ${probe.code} ${probe.stderr.trim()}); only the IPv4 connect is checked`);
    const ev = openEvents(t, 'localhost', peer.port);
    await accept(peer);
    await ev.find('connected');
    return;
  }
  t.log('child resolves localhost to', order);
  const snippet =
    `const mqtt = require('mqtt-rs-client').default;
     const conn = mqtt.open('localhost', Number(process.env.PORT), 'dual-' + process.pid);
     if (conn < 0) { console.log('open failed: ' + mqtt.lastError()); process.exit(2); }
     mqtt.on(conn, 'connected', () => { console.log('connected'); mqtt.disconnect(conn); });
     mqtt.on(conn, 'disconnected', (e) => { console.log('disconnected: ' + e.reason); mqtt.disconnect(conn); });`;
  const child = runProcess(['unshare', '-m', '--propagation', 'private', 'sh', '-c',
    `mount --bind "${hosts}" /etc/hosts && exec "$0" --import=tsx -e "$SNIPPET"`, process.execPath],
  { PORT: String(peer.port), SNIPPET: snippet }, 15_000);
  const c = await accept(peer, 10_000).catch(() => null);
  const r = await child;
  t.log(`child: ${JSON.stringify(r.stdout.trim())}`);
  t.not(c, null, 'the peer on 127.0.0.1 was reached after ::1 refused');
  t.regex(r.stdout, /^connected$/m, r.stderr.slice(0, 500));
  t.false(r.timedOut);
});

// ---- defect 8: many subscribes at once -----------------------------------

test('defect 8: 100 subscribes from the connected handler (mosquitto) all return 0 and all come back ok', async (t) => {
  const lim = mqtt.limits();
  t.log('limits', lim);
  if (!broker) {
    t.log('NOTE: mosquitto not installed; the broker part is skipped');
    t.true((lim.maxPendingRequests ?? 0) >= 100, `maxPendingRequests ${lim.maxPendingRequests}`);
    return;
  }
  const prefix = `t/${uid('many')}`;
  const results: number[] = [];
  const reasons = new Set<string>();
  const ev = openEvents(t, '127.0.0.1', broker.port, {
    hooks: {
      connected: (e) => {
        for (let i = 0; i < 100; i++) {
          const r = mqtt.subscribe(e.conn, `${prefix}/${i}`, i % 2);
          results.push(r);
          if (r !== 0) reasons.add(mqtt.lastError());
        }
      },
    },
  });
  await ev.find('connected');
  const refused = results.filter((r) => r !== 0).length;
  t.is(refused, 0, `subscribe calls refused: ${refused}: ${[...reasons].join('; ')}`);
  const subs = await ev.count('subscribed', 100 - refused, 15_000);
  t.is(subs.length, 100);
  t.true(subs.every((s) => s.event.ok), 'every SUBACK is a success');
  t.deepEqual(subs.map((s) => s.event.topic), Array.from({ length: 100 }, (_, i) => `${prefix}/${i}`));
  t.deepEqual(subs.map((s) => s.event.qos), Array.from({ length: 100 }, (_, i) => i % 2));
  t.true((lim.maxPendingRequests ?? 0) >= 100, `limits().maxPendingRequests: ${lim.maxPendingRequests}`);
});

// ---- defect 9: publish with the link down for good -----------------------

test('defect 9: first connect refused, auto-reconnect off: publish is -1 (not connected, auto-reconnect off); after setAutoReconnect it queues again', async (t) => {
  const port = await freePort();
  const ev = openEvents(t, '127.0.0.1', port);
  const d = await ev.find('disconnected');
  t.regex(d.event.reason, /TCP connect failed/);
  const r = mqtt.publish(ev.conn, 'a/b', 'lost?', 1);
  const why = mqtt.lastError();
  t.log(`publish while down for good: ${r} (${why})`);
  t.is(r, -1, 'nothing would ever send it');
  t.regex(why, /not connected/);
  t.regex(why, /auto-reconnect is off/);
  // A broker appears on that port; auto-reconnect goes on: publish queues again
  // and the message goes out on the next link.
  const peer = await startPeer(port);
  t.teardown(() => peer.close());
  mqtt.setReconnectDelays(ev.conn, [0.2]);
  mqtt.setAutoReconnect(ev.conn, true);
  const r2 = mqtt.publish(ev.conn, 'a/b', 'queued', 1);
  t.is(r2, 0, `publish after setAutoReconnect(true): ${r2 === 0 ? '' : mqtt.lastError()}`);
  const c = await accept(peer);
  await ev.find('connected');
  const p = decodePublish(await c.nextPacket(PacketType.PUBLISH));
  t.is(p.payload.toString(), 'queued');
});

// ---- defect 10: the reconnect schedule in force --------------------------

test('defect 10: delays set right after open (README order) govern the first retry: 10 fresh handles, every gap well under the 1 s default', async (t) => {
  t.timeout(60_000);
  const port = await freePort();
  const gaps: number[] = [];
  for (let i = 0; i < 10; i++) {
    const conn = mqtt.open('127.0.0.1', port, uid('order'));
    t.not(conn, -1, mqtt.lastError());
    track(t, conn);
    mqtt.setAutoReconnect(conn, true);
    mqtt.setReconnectDelays(conn, [0.2]);
    const ev = new Events(conn);
    const [first, second] = await ev.count('disconnected', 2, 5000);
    gaps.push(second.at - first.at);
    mqtt.disconnect(conn);
  }
  t.log('first-retry gaps (ms):', gaps.map(round));
  const slow = gaps.filter((g) => g >= 800);
  t.deepEqual(slow.map(round), [], 'no first retry waits for the 1 s default (bound 800 ms for a 200 ms delay)');
});

test('defect 10: with delays [5] and the link lost, setReconnectDelays([0.2]) while waiting makes the pending attempt come ~0.2 s after the failure', async (t) => {
  const peer = await withPeer(t);
  const ev = openEvents(t, '127.0.0.1', peer.port);
  mqtt.setAutoReconnect(ev.conn, true);
  mqtt.setReconnectDelays(ev.conn, [5]);
  const c = await accept(peer);
  await ev.find('connected');
  c.destroy();
  const lost = await ev.find('disconnected');
  // While the 5 s wait is pending (100 ms into it), shorten the schedule.
  await sleep(100);
  mqtt.setReconnectDelays(ev.conn, [0.2]);
  const c2 = await peer.nextConnection(10_000);
  const after = c2.acceptedAt - lost.at;
  t.log(`next attempt ${round(after)} ms after the loss was reported (old schedule: 5000 ms, new: 200 ms)`);
  t.true(after < 2000, `the next attempt came ${round(after)} ms after the loss`);
  await c2.nextPacket(PacketType.CONNECT);
  c2.write(packets.connack(0));
  await ev.count('connected', 2);
});

// ---- defect 11: disconnect within the grace period -----------------------

test('defect 11a: disconnect() while the peer has not sent CONNACK and nothing is queued: the final `disconnected` comes at once', async (t) => {
  const peer = await withPeer(t);
  const ev = openEvents(t, '127.0.0.1', peer.port);
  const c = await peer.nextConnection();
  await c.nextPacket(PacketType.CONNECT);
  t.is(mqtt.state(ev.conn), 'connecting');
  const t0 = performance.now();
  mqtt.disconnect(ev.conn);
  const d = await ev.find('disconnected', () => true, 10_000);
  const ms = d.at - t0;
  t.log(`final disconnected after ${round(ms)} ms (grace period 2000 ms)`);
  t.is(d.event.reason, 'disconnect requested');
  t.true(ms < 1000, `final disconnected after ${round(ms)} ms`);
  await c.waitClosed();
});

test('defect 11a: a process that opened to a peer that never sends CONNACK and disconnected exits by itself at once', async (t) => {
  const peer = await withPeer(t);
  // The peer takes the connection and the CONNECT and never answers.
  let sawConnect = false;
  void peer.nextConnection(10_000).then((c) => c.nextPacket(PacketType.CONNECT, 10_000)).then(() => { sawConnect = true; }, () => {});
  const r = await runChild(
    `const { performance } = require('node:perf_hooks');
     const mqtt = require('mqtt-rs-client').default;
     const conn = mqtt.open('127.0.0.1', Number(process.env.PORT), 'noack-' + process.pid);
     let t0 = 0;
     mqtt.on(conn, 'disconnected', (e) => console.log('disconnected: ' + e.reason + ' after ' + Math.round(performance.now() - t0) + ' ms'));
     setTimeout(() => {
       console.log('state ' + mqtt.state(conn));
       t0 = performance.now();
       mqtt.disconnect(conn);
     }, 500);
     process.on('exit', () => console.log('exit ' + Math.round(performance.now() - t0) + ' ms after disconnect'));`,
    { PORT: String(peer.port) },
    10_000,
  );
  t.log(`child (${round(r.ms)} ms in all): ${JSON.stringify(r.stdout.trim())}`);
  t.true(sawConnect, 'the child got as far as the CONNECT');
  t.false(r.timedOut, 'the process should exit by itself');
  t.is(r.code, 0, r.stderr.slice(0, 500));
  t.regex(r.stdout, /state connecting/);
  t.regex(r.stdout, /disconnected: disconnect requested/);
  const exitMs = Number(/exit (\d+) ms after disconnect/.exec(r.stdout)?.[1] ?? NaN);
  // Before the fix the process lingered for the whole grace period (2 s).
  t.true(exitMs < 1500, `the process exited ${exitMs} ms after disconnect()`);
});

test('defect 11b: a frozen peer (stops reading, never acks) with an unacknowledged QoS 1 message: the final `disconnected` within the 2 s grace plus slack', async (t) => {
  const peer = await withPeer(t);
  const ev = openEvents(t, '127.0.0.1', peer.port);
  const c = await accept(peer);
  await ev.find('connected');
  c.pause();
  t.is(mqtt.publish(ev.conn, 'frozen/x', 'never acked', 1), 0, mqtt.lastError());
  await sleep(200);
  const t0 = performance.now();
  mqtt.disconnect(ev.conn);
  const d = await ev.find('disconnected', () => true, 15_000);
  const ms = d.at - t0;
  t.log(`final disconnected after ${round(ms)} ms (grace 2000 ms; before the fix ~4000 ms)`);
  t.is(d.event.reason, 'disconnect requested');
  t.is(d.event.abandoned, 1, 'the final event says the unacknowledged message was given up');
  t.true(ms < 3000, `final disconnected after ${round(ms)} ms`);
});

// ---- defect 12: backpressure and drain -----------------------------------

test('defect 12: a peer that stops reading: publish until -1; one `drain` after it reads again; publishing then succeeds', async (t) => {
  t.timeout(60_000);
  const peer = await withPeer(t);
  const ev = openEvents(t, '127.0.0.1', peer.port);
  if (!assertBound(t, ev, ['drain'])) return;
  const c = await accept(peer);
  await ev.find('connected');
  c.pause();
  // Fill until -1. Right after the first -1 the I/O thread may still move
  // the buffer into the kernel's socket buffers, and that is room again (a
  // drain): fill again until the writes are really blocked, i.e. no drain
  // follows a -1 for 300 ms.
  const payload = Buffer.alloc(64 * 1024, 0x61);
  let accepted = 0;
  let rounds = 0;
  let blocked = false;
  while (!blocked && rounds < 40) {
    rounds++;
    for (let i = 0; i < 4000 && mqtt.publish(ev.conn, 'bp/x', payload, 0) === 0; i++) accepted++;
    t.regex(mqtt.lastError(), /outbound buffer full/);
    const before = ev.all('drain').length;
    await sleep(300);
    blocked = ev.all('drain').length === before;
  }
  t.log(`${accepted} x 64 KiB accepted in ${rounds} rounds of publish-until--1 before the writes were blocked`);
  t.true(blocked, 'the peer not reading blocks the writes: a -1 that no drain follows');
  const earlier = ev.all('drain').length;
  const resumed = performance.now();
  c.resume();
  const drain = await ev.count('drain', earlier + 1, 20_000);
  t.log(`drain ${round(drain[earlier].at - resumed)} ms after the peer resumed reading`);
  t.is(mqtt.publish(ev.conn, 'bp/x', 'after drain', 0), 0, mqtt.lastError());
  await sleep(200);
  t.is(ev.all('drain').length, earlier + 1, 'one drain for the refusal');
  t.is(mqtt.state(ev.conn), 'connected');
});

test('defect 12: the drain retry pattern: 200 000 QoS 0 messages, about one -1 per drain, all received in order', async (t) => {
  t.timeout(120_000);
  const peer = await withPeer(t);
  const ev = openEvents(t, '127.0.0.1', peer.port);
  if (!assertBound(t, ev, ['drain'])) return;
  const c = await accept(peer);
  await ev.find('connected');
  // The peer starts by not reading so that the buffer certainly fills.
  c.pause();
  const total = 200_000;
  const size = 64;
  const topic = 'flood/x';
  const payload = (i: number) => Buffer.from(String(i).padStart(8, '0').padEnd(size, '.'));
  let next = 0;
  let refusals = 0;
  let calls = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => { done = resolve; });
  const send = () => {
    while (next < total) {
      calls++;
      if (mqtt.publish(ev.conn, topic, payload(next), 0) !== 0) {
        refusals++;
        if (refusals === 1) setTimeout(() => c.resume(), 200);
        return;
      }
      next++;
    }
    done();
  };
  mqtt.on(ev.conn, 'drain', (e) => {
    ev.log.push({ type: 'drain', event: e, at: performance.now() });
    send();
  });
  const t0 = performance.now();
  send();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    finished,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`stuck at ${next}/${total} after ${refusals} refusals, ${ev.all('drain').length} drains`)), 90_000); }),
  ]).finally(() => clearTimeout(timer));
  const frameBytes = 2 + 2 + topic.length + size; // header, remaining length (1 byte), topic length, topic, payload
  // The CONNECT is at the front of what the peer received.
  const connectLen = splitFrame(c.received)!.bytes.length;
  const all = (await c.waitBytes(connectLen + total * frameBytes, 60_000)).subarray(connectLen);
  const ms = performance.now() - t0;
  const drains = ev.all('drain').length;
  t.log(`${total} messages in ${round(ms)} ms: ${calls} publish calls, ${refusals} returned -1, ${drains} drain events`);
  t.true(refusals >= 1, 'the buffer filled at least once');
  t.true(refusals <= drains + 1 && drains <= refusals, `-1 results (${refusals}) match drain events (${drains})`);
  t.true(refusals < 10_000, 'no busy retry');
  // Every message, whole and in order.
  let off = 0;
  let bad = -1;
  for (let i = 0; i < total; i++) {
    const f = splitFrame(all, off);
    if (!f || f.type !== PacketType.PUBLISH) { bad = i; break; }
    const p = decodePublish(f);
    if (p.topic !== topic || !p.payload.equals(payload(i))) { bad = i; break; }
    off += f.bytes.length;
  }
  t.is(bad, -1, `message #${bad} missing or out of order`);
  t.is(off, all.length, 'nothing after the last message');
});

// ---- defect 13: no busy reconnect loop -----------------------------------

test('defect 13: setReconnectDelays([0]) and the broker gone (closed port): at most ~25 attempts in a second', async (t) => {
  const peer = await startPeer();
  const ev = openEvents(t, '127.0.0.1', peer.port);
  await accept(peer);
  await ev.find('connected');
  mqtt.setAutoReconnect(ev.conn, true);
  mqtt.setReconnectDelays(ev.conn, [0]);
  // The broker goes away: the link drops and the port is closed from now on.
  await peer.close();
  const first = await ev.find('disconnected');
  await sleep(1000);
  const inWindow = ev.all('disconnected').filter((d) => d.at - first.at <= 1000).length;
  mqtt.disconnect(ev.conn);
  const reasons = new Set(ev.all('disconnected').slice(1, 4).map((d) => d.event.reason));
  t.log(`${inWindow} disconnected events in the second after the link was lost (floor 50 ms: about 20); reasons`, [...reasons]);
  t.true(inWindow <= 26, `${inWindow} attempts in one second`);
  t.true(inWindow >= 2, 'it does retry');
});

// ---- defect 16: the size limit in the reason ------------------------------

test('defect 16: a payload too large for the maximum packet size: -1, and the reason states the limit in bytes', async (t) => {
  const peer = await withPeer(t);
  const ev = openEvents(t, '127.0.0.1', peer.port);
  await accept(peer);
  await ev.find('connected');
  const limit = mqtt.limits().outboundBuffer;
  const r = mqtt.publish(ev.conn, 'big/x', Buffer.alloc(limit + 1), 0);
  const why = mqtt.lastError();
  t.log(`publish of ${limit + 1} bytes: ${r} (${why})`);
  t.is(r, -1);
  t.regex(why, /2097152 bytes/);
  t.is(mqtt.publish(ev.conn, 'big/x', 'small', 0), 0, 'the connection keeps working');
});

// ---- new events: published, unsubscribed ---------------------------------

test('new events (mosquitto): `published` carries the packet id publishWithId returned; `unsubscribed` names the filter', async (t) => {
  if (!broker) {
    t.log('NOTE: mosquitto not installed; skipped');
    t.pass();
    return;
  }
  const ev = openEvents(t, '127.0.0.1', broker.port);
  if (!assertBound(t, ev, ['published', 'unsubscribed'])) return;
  await ev.find('connected');
  const topic = `t/${uid('ids')}`;
  const ids: number[] = [];
  for (let i = 0; i < 3; i++) ids.push(mqtt.publishWithId(ev.conn, topic, `m${i}`, 1));
  t.log('publishWithId returned', ids);
  t.true(ids.every((id) => id >= 1 && id <= 65535), `packet ids ${ids}`);
  t.is(new Set(ids).size, 3, 'distinct ids');
  t.is(mqtt.publishWithId(ev.conn, topic, 'qos0', 0), 0, 'QoS 0 has no packet id');
  const acks = await ev.count('published', 3);
  t.deepEqual(acks.map((a) => a.event.packetId).sort((a, b) => a - b), [...ids].sort((a, b) => a - b));
  t.true(acks.every((a) => a.event.conn === ev.conn));

  const filter = `${topic}/+/#`;
  t.is(mqtt.subscribe(ev.conn, filter, 1), 0, mqtt.lastError());
  t.true((await ev.find('subscribed')).event.ok);
  t.is(mqtt.unsubscribe(ev.conn, filter), 0, mqtt.lastError());
  const u = await ev.find('unsubscribed');
  t.is(u.event.topic, filter);
  t.is(u.event.conn, ev.conn);
  t.true(u.event.packetId >= 1);
});
