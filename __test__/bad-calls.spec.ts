// Bad calls: the whole exported API under a generated table of bad
// arguments (helpers/bad-calls-table.ts: wrong types, out-of-range values,
// huge strings, lone surrogates and U+0000 in every string argument,
// Proxies and objects whose getters/traps/toString throw, closed and
// never-opened handles, missing and excess arguments), run in the main
// thread and in 2 worker threads at once, each thread loading the package
// itself. Every call must return its refusal with a readable lastError(),
// or throw a TypeError/RangeError naming the argument: no other exception,
// no crash, no hang, no garbage accepted. Afterwards real connections in
// the same process still work. Broker: mosquitto, or aedes when mosquitto
// is not installed.

import anyTest from 'ava';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import mqtt from 'mqtt-rs-client';
import { startAedes } from './helpers/aedes';
import { runTable, type TableOptions, type TableReport } from './helpers/bad-calls-table';
import { Recorder, sleep, uid } from './helpers/client';
import { startMosquitto } from './helpers/mosquitto';
import { freePort } from './helpers/net';

const test = anyTest.serial;

const WORKER = path.join(__dirname, 'helpers', 'bad-calls-worker.ts');
/** A worker that has not reported by then is stuck: a call hung (or the thread died silently). */
const WORKER_DEADLINE_MS = 45_000;

let brokerPort = 0;
let brokerName = '';
let closedPort = 0;
let stopBroker: () => Promise<void> = async () => {};

anyTest.before(async () => {
  const mosquitto = await startMosquitto();
  if (mosquitto) {
    brokerPort = mosquitto.port;
    brokerName = 'mosquitto';
    stopBroker = () => mosquitto.stop();
  } else {
    const aedes = await startAedes();
    brokerPort = aedes.port;
    brokerName = 'aedes (mosquitto is not installed)';
    stopBroker = () => aedes.close();
  }
  // Accepted open() calls of the table go here: nothing listens.
  closedPort = await freePort();
});

anyTest.after.always(async () => {
  await stopBroker();
});

interface WorkerResult {
  exitCode: number | null;
  /** every message the worker posted, in order */
  messages: Record<string, unknown>[];
  error?: string;
}

/**
 * Starts a worker running helpers/bad-calls-worker.ts (each loads the
 * package itself). On Node 20 a worker's entry goes through the ESM loader,
 * where `--import=tsx` does not reach it; tsx's require hook does.
 */
function startWorker(data: TableOptions & { mode: 'table' | 'foreign' }, onMessage: (m: Record<string, unknown>, w: Worker) => void = () => {}): Promise<WorkerResult> {
  const w = new Worker(WORKER, { execArgv: ['--require=tsx/cjs'], workerData: data });
  const result: WorkerResult = { exitCode: null, messages: [] };
  return new Promise((resolve) => {
    const deadline = setTimeout(() => {
      result.error = `${data.thread} did not finish within ${WORKER_DEADLINE_MS} ms (a call hung?): terminated`;
      void w.terminate();
    }, WORKER_DEADLINE_MS);
    w.on('message', (m: Record<string, unknown>) => {
      result.messages.push(m);
      if (typeof m.error === 'string') result.error = m.error;
      onMessage(m, w);
    });
    w.on('error', (e) => {
      result.error = `${data.thread} died: ${e.stack ?? String(e)}`;
    });
    w.on('exit', (code) => {
      clearTimeout(deadline);
      result.exitCode = code;
      resolve(result);
    });
  });
}

function summary(r: TableReport): string {
  const groups = Object.entries(r.groups).map(([k, v]) => `${k} ${v}`).join(', ');
  const outcomes = Object.entries(r.outcomes).map(([k, v]) => `${k} ${v}`).join(', ');
  return `${r.thread}: ${r.rows} calls in ${r.ms} ms (${groups}); outcomes: ${outcomes}; `
    + `caller exceptions passed through: ${r.callerExceptions}; slowest call ${r.slowest.ms} ms (${r.slowest.row}); `
    + `live connection after: ${r.liveAfter.detail}`;
}

/** Violations of all threads, each once, with the threads that saw it. */
function merge(reports: TableReport[]): string[] {
  const by = new Map<string, string[]>();
  for (const r of reports) {
    for (const v of r.violations) by.set(v, [...(by.get(v) ?? []), r.thread]);
  }
  return [...by].map(([v, threads]) => `${v} [${threads.join(', ')}]`);
}

/**
 * The same violations grouped by what happened: "<what> (n calls)" then the
 * calls, one a line ("<fn> <arg>=<value>").
 */
function byCause(violations: string[]): string {
  const groups = new Map<string, string[]>();
  for (const v of violations) {
    // "<fn> <arg>=<label>: <what> [threads]"; labels never contain ": ".
    const at = v.indexOf(': ');
    const call = v.slice(0, at);
    const what = v.slice(at + 2);
    groups.set(what, [...(groups.get(what) ?? []), call]);
  }
  return [...groups].map(([what, calls]) => `${what} (${calls.length} call${calls.length > 1 ? 's' : ''}):\n      ${calls.join('\n      ')}`).join('\n  ');
}

test('the bad-call table: every exported function, main thread and 2 worker threads at once', async (t) => {
  const options = (thread: string): TableOptions => ({ brokerPort, closedPort, thread, prefix: `bad-calls/${uid(thread.replace(' ', '-'))}` });
  const workers = [1, 2].map((i) => startWorker({ ...options(`worker ${i}`), mode: 'table' }));
  const main = await runTable(options('main'));
  const done = await Promise.all(workers);

  const reports: TableReport[] = [main];
  done.forEach((w, i) => {
    t.is(w.error, undefined, `worker ${i + 1}: ${w.error}`);
    t.is(w.exitCode, 0, `worker ${i + 1} exit code`);
    const report = w.messages.find((m) => m.report !== undefined)?.report as TableReport | undefined;
    t.truthy(report, `worker ${i + 1} posted its report`);
    if (report) reports.push(report);
  });

  t.log(`broker: ${brokerName}`);
  for (const r of reports) t.log(summary(r));
  for (const r of reports) {
    t.true(r.liveAfter.ok, `${r.thread}: the live connection kept working: ${r.liveAfter.detail}`);
    t.deepEqual(r.uncovered, [], `${r.thread}: exported functions the table does not call`);
    t.true(r.rows > 1000, `${r.thread}: the table is large (${r.rows} calls)`);
    t.is(r.rows, main.rows, `${r.thread}: the same table as the main thread`);
    t.true(Object.keys(r.perFunction).length === 19, `${r.thread}: every exported function is called`);
  }
  const notes = [...new Set(reports.flatMap((r) => r.notes))];
  if (notes.length > 0) t.log(`notes (not violations):\n  ${notes.join('\n  ')}`);

  const violations = merge(reports);
  if (violations.length > 0) t.log(`${violations.length} contract violations, by what happened:\n  ${byCause(violations)}`);
  t.is(violations.length, 0, 'every bad call returns its refusal with a readable lastError() or throws a TypeError/RangeError naming the argument (violations listed above)');
});

test('after the table, new connections in the same process still work', async (t) => {
  const topic = `bad-calls/${uid('after')}`;
  const conn = mqtt.open('127.0.0.1', brokerPort, uid('after'));
  t.true(conn >= 0, mqtt.lastError());
  t.teardown(() => mqtt.disconnect(conn));
  const rec = new Recorder(conn);
  await rec.next('connected');
  t.is(mqtt.subscribe(conn, `${topic}/#`, 1), 0, mqtt.lastError());
  const sub = await rec.next('subscribed');
  t.true(sub.ok);
  t.is(mqtt.publish(conn, `${topic}/a`, 'text after the bad calls', 0), 0, mqtt.lastError());
  t.true(mqtt.publishWithId(conn, `${topic}/b`, Buffer.from([0, 1, 2, 255]), 1) > 0, mqtt.lastError());
  const msgs = await rec.count('message', 2);
  t.deepEqual(msgs.map((m) => m.topic).sort(), [`${topic}/a`, `${topic}/b`]);
  const bin = msgs.find((m) => m.topic === `${topic}/b`)!;
  t.deepEqual([...bin.bytes], [0, 1, 2, 255]);
  t.is(mqtt.state(conn), 'connected');
  t.deepEqual(rec.seen.disconnected, []);

  mqtt.disconnect(conn);
  await rec.next('disconnected');
  // Every accepted open() of the table was disconnected, and the workers took theirs with them.
  for (let i = 0; i < 100 && mqtt.liveConnections() !== 0; i++) await sleep(50);
  t.is(mqtt.liveConnections(), 0, 'no connection of the table is left open');
});

test("a handle of another thread is not a handle of this one (each thread has its own handles)", async (t) => {
  let probe: Record<string, unknown> = {};
  const worker = startWorker({ brokerPort, closedPort, thread: 'foreign worker', prefix: `bad-calls/${uid('foreign')}`, mode: 'foreign' }, (m, w) => {
    if (m.handles === undefined) return;
    const { a, b, topic } = m.handles as { a: number; b: number; topic: string };
    // Calls from this thread with the worker's handles: all must be refused
    // here. Each call gets a fresh lastError() so that what it says is its own.
    const call = (f: () => unknown): [unknown, string] => {
      mqtt.on(-7, 'no reason yet' as 'message', () => {});
      const r = f();
      return [r, mqtt.lastError()];
    };
    probe = {
      state: call(() => mqtt.state(a)),
      publish: call(() => mqtt.publish(a, topic, 'published by the main thread through a worker handle', 0)),
      subscribe: call(() => mqtt.subscribe(a, `${topic}/x`, 0)),
      on: call(() => mqtt.on(a, 'message', () => {})),
      ping: call(() => mqtt.ping(a)),
      disconnect: call(() => mqtt.disconnect(b)),
    };
    w.postMessage('check');
  });
  const w = await worker;
  t.is(w.error, undefined);
  t.is(w.exitCode, 0);
  const seen = w.messages.find((m) => m.seen !== undefined)?.seen as Record<string, unknown>;
  t.log(`main thread, with the worker's handles: ${JSON.stringify(probe)}`);
  t.log(`the worker saw: ${JSON.stringify(seen)}`);
  const unknown = /unknown or closed connection handle/;
  const [on, onError] = probe.on as [number, string];
  t.is(on, -1, 'on() refuses it');
  t.regex(onError, unknown);
  const [state, stateError] = probe.state as [string, string];
  t.is(state, 'disconnected', `state() of a worker's handle: ${state}`);
  t.regex(stateError, unknown);
  t.is((probe.publish as [number])[0], -1, 'publish() through a worker\'s handle is refused');
  t.is((probe.subscribe as [number])[0], -1, 'subscribe() through a worker\'s handle is refused');
  t.regex((probe.ping as [unknown, string])[1], unknown, 'ping() of a worker\'s handle only sets lastError()');
  t.regex((probe.disconnect as [unknown, string])[1], unknown, 'disconnect() of a worker\'s handle only sets lastError()');
  t.deepEqual(seen?.messagesOnA, [], 'nothing was published through the worker\'s connection by this thread');
  t.deepEqual(seen?.disconnectedB, [], 'this thread could not disconnect the worker\'s connection');
  t.is(seen?.stateB, 'connected');
});
