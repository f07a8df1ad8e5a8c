// A subscriber receives a large retained flush from mosquitto while the JS
// thread keeps timing API calls.
//
//   node --import=tsx bench/retained-flush.ts
//   FLUSH_MESSAGES=8192 node --import=tsx bench/retained-flush.ts
//
// Steps (one process, one mosquitto started on a free loopback port):
//   1. a probe connection subscribes to `flush/<N-1>`;
//   2. a publisher stores N retained QoS 0 messages `flush/<i>` of
//      FLUSH_PAYLOAD bytes (first 4 bytes: i, big-endian), retrying on
//      `drain` after publish returns -1; mosquitto handles one connection's
//      packets in order, so once the probe sees `flush/<N-1>` every message
//      is stored;
//   3. a fresh subscriber subscribes to `flush/#` at QoS 0 and receives the
//      retained flush; its handler counts messages, checks size, index and
//      duplicates;
//   4. meanwhile a setTimeout(1) loop times single calls of `publish`
//      (64 B, QoS 0, on a third connection, topic `noise/x`, not retained)
//      and `state(subscriber)` with process.hrtime.bigint() and records the
//      longest gap between loop turns; RSS (this process and mosquitto) is
//      sampled every 250 ms by a worker thread (not starved by a busy JS
//      thread).
// Everything is bounded: FLUSH_TIMEOUT_SECONDS (default 180) after start the
// run prints what it has and exits 1; a detached `sleep; kill -9` watchdog
// ends the process 10 s later if the JS thread itself is stuck.
//
// Environment: FLUSH_MESSAGES (default 65536), FLUSH_PAYLOAD (default 16384),
// FLUSH_TIMEOUT_SECONDS (default 180).

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import mqtt from 'mqtt-rs-client';
import { startMosquitto } from '../__test__/helpers/mosquitto';
import { sleep } from '../__test__/helpers/wait';

const num = (v: string | undefined, d: number): number => (v === undefined || v === '' ? d : Number(v));
const N = num(process.env.FLUSH_MESSAGES, 65536);
const SIZE = num(process.env.FLUSH_PAYLOAD, 16384);
const TIMEOUT_S = num(process.env.FLUSH_TIMEOUT_SECONDS, 180);
if (!(N >= 1) || !(SIZE >= 4)) throw new Error('FLUSH_MESSAGES >= 1 and FLUSH_PAYLOAD >= 4 required');

const t0 = process.hrtime.bigint();
const elapsedMs = (from = t0) => Number(process.hrtime.bigint() - from) / 1e6;
const MB = (b: number) => (b / 2 ** 20).toFixed(1);
const log = (s: string) => console.log(`[${(elapsedMs() / 1000).toFixed(2)} s] ${s}`);

// ---- watchdogs ---------------------------------------------------------------

const killer = spawn('sh', ['-c', `sleep ${TIMEOUT_S + 10}; kill -9 ${process.pid}`], {
  stdio: 'ignore',
  detached: true,
});
killer.unref();
const stopKiller = () => {
  try {
    process.kill(-killer.pid!, 'SIGKILL');
  } catch {
    /* already gone */
  }
};
process.once('exit', stopKiller);

// ---- RSS sampling --------------------------------------------------------------

function findPid(needle: string): number {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) return Number(d);
    } catch {
      /* raced */
    }
  }
  return 0;
}

// Sampled by a worker thread (its own event loop), so a busy JS thread does not
// stall the series; main writes the phase and the received count into `shared`.
const PHASES = ['start', 'publish', 'flush', 'end'];
const MAX_SAMPLES = 4096;
const shared = new Int32Array(new SharedArrayBuffer(4 * 4)); // [phase, recv, brokerPid, sampleCount]
const series = new Float64Array(new SharedArrayBuffer(8 * 5 * MAX_SAMPLES)); // ms, phase, rss, broker, recv
interface Sample {
  ms: number;
  phase: string;
  rss: number;
  broker: number;
  recv: number;
}
let recv = 0;
let brokerPid = 0;
const setPhase = (p: string) => Atomics.store(shared, 0, PHASES.indexOf(p));
const samplerSrc = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { shared, series, t0 } = workerData;
const rssOf = (pid) => { try { const m = /VmRSS:\\s+(\\d+) kB/.exec(fs.readFileSync('/proc/' + pid + '/status', 'utf8')); return m ? Number(m[1]) * 1024 : 0; } catch { return 0; } };
const tick = () => {
  const i = Atomics.load(shared, 3);
  if (i >= ${MAX_SAMPLES}) return;
  const b = Atomics.load(shared, 2);
  series.set([Number(process.hrtime.bigint() - t0) / 1e6, Atomics.load(shared, 0), rssOf('self'), b ? rssOf(b) : 0, Atomics.load(shared, 1)], i * 5);
  Atomics.store(shared, 3, i + 1);
};
tick();
setInterval(tick, 250);
`;
let sampler: Worker | null = null;
function samples(): Sample[] {
  const out: Sample[] = [];
  const n = Atomics.load(shared, 3);
  for (let i = 0; i < n; i++) {
    const [ms, ph, rss, broker, r] = series.subarray(i * 5, i * 5 + 5);
    out.push({ ms, phase: PHASES[ph], rss, broker, recv: r });
  }
  return out;
}

// ---- measurement loop ----------------------------------------------------------

const pubNs: number[] = [];
const stateNs: number[] = [];
let pubRefused = 0;
let maxGapNs = 0;
let maxGapAtMs = 0;
let turns = 0;
const states: Record<string, number> = {};
let loopOn = false;

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const us = (ns: number) => (ns / 1000).toFixed(1);

// ---- report --------------------------------------------------------------------

let report: (outcome: string) => void = () => {};

async function main(): Promise<number> {
  console.log(`retained flush: ${N} messages x ${SIZE} B = ${MB(N * SIZE)} MiB, timeout ${TIMEOUT_S} s`);
  const broker = await startMosquitto({
    extraConfig: [
      // QoS 0 messages to a client count against max_queued_* in 2.0.x;
      // 0 = unlimited, so the whole retained set may be queued at once.
      'max_queued_messages 0',
      'max_queued_bytes 0',
      'max_inflight_bytes 0',
      'max_inflight_messages 0',
      'memory_limit 0',
      'message_size_limit 0',
    ],
  });
  if (!broker) throw new Error('mosquitto not installed');
  brokerPid = findPid(broker.dir);
  Atomics.store(shared, 2, brokerPid);
  sampler = new Worker(samplerSrc, { eval: true, workerData: { shared, series, t0 } });
  sampler.unref();
  log(`mosquitto on 127.0.0.1:${broker.port} (pid ${brokerPid || '?'})`);

  const conns: number[] = [];
  const disconnects: string[] = [];
  const open = (id: string) =>
    new Promise<number>((resolve, reject) => {
      const c = mqtt.open('127.0.0.1', broker.port, id);
      if (c < 0) return reject(new Error(mqtt.lastError()));
      conns.push(c);
      mqtt.on(c, 'connected', () => resolve(c));
      mqtt.on(c, 'disconnected', (e) => {
        if (e.reason === 'disconnect requested') return;
        disconnects.push(`${id}: ${e.reason} at ${(elapsedMs() / 1000).toFixed(2)} s`);
        reject(new Error(`${id}: ${e.reason}`));
      });
    });

  let subStart = 0n;
  let subEnd = 0n;
  let bytes = 0;
  let badSize = 0;
  let badIndex = 0;
  let dups = 0;
  let notRetained = 0;
  let publishMs = 0;
  let storeMs = 0;

  report = (outcome: string) => {
    void sampler?.terminate();
    const mem = process.memoryUsage();
    const all = samples();
    const flushMs = subStart ? Number((subEnd || process.hrtime.bigint()) - subStart) / 1e6 : NaN;
    const out: string[] = [];
    out.push(`outcome: ${outcome}`);
    out.push(`publish phase: ${N} retained messages sent in ${publishMs.toFixed(0)} ms, stored (probe saw the last) after ${storeMs.toFixed(0)} ms`);
    out.push(`received: ${recv} / ${N} messages${recv === N ? ' (none lost)' : ` (MISSING ${N - recv})`}, ${bytes} bytes (${MB(bytes)} MiB)`);
    out.push(`checks: wrong size ${badSize}, wrong index ${badIndex}, duplicates ${dups}, without retain flag ${notRetained}`);
    out.push(`flush time: ${flushMs.toFixed(0)} ms (subscribe call to last message), ${(bytes / 2 ** 20 / (flushMs / 1000)).toFixed(1)} MiB/s`);
    const fl = all.filter((s) => s.phase === 'flush');
    const maxOf = (xs: Sample[], k: 'rss' | 'broker') => xs.reduce((m, s) => Math.max(m, s[k]), 0);
    const first = all[0];
    const last = all[all.length - 1];
    out.push(
      `RSS client: start ${MB(first.rss)} MiB, max ${MB(maxOf(all, 'rss'))} MiB (during flush: ${fl.length ? MB(maxOf(fl, "rss")) + " MiB" : "n/a, no sample"}), end ${MB(last.rss)} MiB`,
    );
    out.push(`client heap at report: heapUsed ${MB(mem.heapUsed)} MiB, heapTotal ${MB(mem.heapTotal)} MiB, external ${MB(mem.external)} MiB, arrayBuffers ${MB(mem.arrayBuffers)} MiB`);
    out.push(`RSS mosquitto: start ${MB(first.broker)} MiB, max ${MB(maxOf(all, 'broker'))} MiB, end ${MB(last.broker)} MiB`);
    // RSS series: at most ~24 points, evenly spread over all samples.
    const step = Math.max(1, Math.ceil(all.length / 24));
    const shown = all.filter((_, i) => i % step === 0 || i === all.length - 1);
    out.push('RSS series (t s / phase / client MiB / mosquitto MiB / received):');
    for (const s of shown) {
      out.push(`  ${(s.ms / 1000).toFixed(2).padStart(7)}  ${s.phase.padEnd(7)} ${MB(s.rss).padStart(8)} ${MB(s.broker).padStart(8)} ${String(s.recv).padStart(7)}`);
    }
    out.push(
      `publish (64 B QoS 0, 3rd conn) during flush: n=${pubNs.length} p50 ${us(pct(pubNs, 50))} us, p99 ${us(pct(pubNs, 99))} us, max ${us(pct(pubNs, 100))} us, refused ${pubRefused}`,
    );
    out.push(
      `state(subscriber) during flush:             n=${stateNs.length} p50 ${us(pct(stateNs, 50))} us, p99 ${us(pct(stateNs, 99))} us, max ${us(pct(stateNs, 100))} us, states ${JSON.stringify(states)}`,
    );
    out.push(`longest event-loop gap during flush: ${(maxGapNs / 1e6).toFixed(2)} ms (at ${(maxGapAtMs / 1000).toFixed(2)} s), loop turns ${turns}`);
    out.push(`unexpected disconnects: ${disconnects.length ? disconnects.join('; ') : 'none'}`);
    const warn = broker
      .log()
      .split('\n')
      .filter((l) => /warn|error|out of memory|exceed|drop|disconnect/i.test(l) && !/disconnected\.?$/.test(l));
    out.push(`mosquitto warnings/errors: ${warn.length ? '\n  ' + warn.slice(0, 20).join('\n  ') : 'none'}`);
    console.log(out.join('\n'));
  };

  // 1. probe on the last topic, publisher, noise connection
  const probe = await open('flush-probe');
  const lastTopic = `flush/${N - 1}`;
  const probeSaw = new Promise<void>((resolve) =>
    mqtt.on(probe, 'message', (e) => {
      if (e.topic === lastTopic) resolve();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    mqtt.on(probe, 'subscribed', (e) => (e.ok ? resolve() : reject(new Error('probe SUBACK refused'))));
    if (mqtt.subscribe(probe, lastTopic, 0) < 0) reject(new Error(mqtt.lastError()));
  });
  const pub = await open('flush-publisher');
  const noise = await open('flush-noise');

  // 2. store N retained messages
  setPhase('publish');
  log('publishing');
  const payload = Buffer.alloc(SIZE, 0x61);
  const tp = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    let next = 0;
    const send = () => {
      while (next < N) {
        payload.writeUInt32BE(next, 0);
        if (mqtt.publish(pub, `flush/${next}`, payload, 0, true) < 0) {
          const err = mqtt.lastError();
          if (!/backpressure/.test(err)) return reject(new Error(`publish ${next}: ${err}`));
          return; // wait for drain
        }
        next++;
      }
      resolve();
    };
    mqtt.on(pub, 'drain', send);
    send();
  });
  publishMs = elapsedMs(tp);
  log(`all ${N} queued in ${publishMs.toFixed(0)} ms; waiting for the probe`);
  await probeSaw;
  storeMs = elapsedMs(tp);
  log(`mosquitto has them (${storeMs.toFixed(0)} ms after the first publish)`);
  mqtt.disconnect(probe);
  mqtt.disconnect(pub);
  await sleep(500); // let the broker settle; a sample or two before the flush

  // 3. the flush
  const sub = await open('flush-subscriber');
  const seen = new Uint8Array(N);
  const done = new Promise<void>((resolve) => {
    mqtt.on(sub, 'message', (e) => {
      const b = e.bytes;
      recv++;
      Atomics.store(shared, 1, recv);
      bytes += b.length;
      if (b.length !== SIZE) badSize++;
      if (!e.retain) notRetained++;
      const i = Number(e.topic.slice(6));
      if (!(i >= 0 && i < N) || b.length < 4 || b.readUInt32BE(0) !== i) badIndex++;
      else if (seen[i]++) dups++;
      if (recv === N) {
        subEnd = process.hrtime.bigint();
        resolve();
      }
    });
  });

  // 4. the measured loop
  const noisePayload = Buffer.alloc(64, 0x78);
  let lastTurn = 0n;
  loopOn = true;
  const turn = () => {
    if (!loopOn) return;
    const a = process.hrtime.bigint();
    if (lastTurn) {
      const gap = Number(a - lastTurn);
      if (gap > maxGapNs) {
        maxGapNs = gap;
        maxGapAtMs = elapsedMs();
      }
    }
    lastTurn = a;
    turns++;
    const r = mqtt.publish(noise, 'noise/x', noisePayload, 0);
    const b = process.hrtime.bigint();
    const s = mqtt.state(sub);
    const c = process.hrtime.bigint();
    if (r < 0) pubRefused++;
    pubNs.push(Number(b - a));
    stateNs.push(Number(c - b));
    states[s] = (states[s] ?? 0) + 1;
    setTimeout(turn, 1);
  };

  setPhase('flush');
  log('subscribing to flush/#');
  subStart = process.hrtime.bigint();
  if (mqtt.subscribe(sub, 'flush/#', 0) < 0) throw new Error(mqtt.lastError());
  setTimeout(turn, 1);
  await done;
  loopOn = false;
  setPhase('end');
  log('flush complete');
  await sleep(1000); // RSS after the flush
  report('ok');
  for (const c of [sub, noise]) mqtt.disconnect(c);
  await broker.stop();
  return recv === N && badSize + badIndex + dups === 0 ? 0 : 1;
}

const deadline = setTimeout(() => {
  loopOn = false;
  report(`TIMEOUT after ${TIMEOUT_S} s`);
  process.exit(1);
}, TIMEOUT_S * 1000);

main().then(
  (code) => {
    clearTimeout(deadline);
    stopKiller();
    process.exit(code);
  },
  (err) => {
    clearTimeout(deadline);
    loopOn = false;
    report(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
    stopKiller();
    process.exit(1);
  },
);
