// Benchmarks: this client against MQTT.js (Nagle off) in the same run, on
// the same fast Rust peer, plus the raw-socket ceiling of this runtime.
// Prints median (min-max) of RUNS runs and the ratio of the medians, ours /
// MQTT.js; writes bench/results/bench.json and the chart bench/results/bench.svg.
//
//   npm run bench            (BENCH_RUNS=5 BENCH_N=200000 by default)
//   BENCH_ONLY=latency npm run bench     (or peer, or tls): one part only

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startPeer, median, percentile, ours, mqttJs, rawMqttSocket, BenchClient, PAYLOAD } from './lib';
import { chart } from './chart';
import { startMosquitto } from '../__test__/helpers/mosquitto';
import { makeCerts, startTlsMosquitto } from '../__test__/helpers/tls';
import { mqttJsOverTls, oursOverTls } from './tls';
import { runTs } from '../__test__/helpers/run';
import { sleep } from '../__test__/helpers/wait';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const N = Number(process.env.BENCH_N ?? 200_000);
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 2_000);
const ONLY = process.env.BENCH_ONLY;
const OUT = process.env.BENCH_OUT ?? path.join(__dirname, 'results');

type Factory = (port: number, id: string) => Promise<BenchClient>;
const CLIENTS: [string, Factory][] = [
  ['mqtt-rs-client', ours],
  ['MQTT.js', mqttJs],
];

async function rate(port: number, make: Factory, body: (c: BenchClient) => Promise<void>): Promise<number> {
  const c = await make(port, `bench-${Math.random().toString(36).slice(2)}`);
  const t0 = process.hrtime.bigint();
  await body(c);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await c.close();
  return N / secs;
}

const scenarios: [string, (c: BenchClient) => Promise<void>][] = [
  ['QoS 0 publish (msg/s)', async (c) => {
    await c.publishMany('bench/q0', N, 0);
    const seen = await c.fence();
    if (seen !== N + 1) throw new Error(`peer saw ${seen - 1} of ${N}`);
  }],
  ['QoS 1 publish, PUBACKed (msg/s)', async (c) => {
    await c.publishMany('bench/q1', N, 1);
    await c.fence();
  }],
  ['receive into a handler (msg/s)', (c) => c.receive(`bench/source/${N}`, N)],
];

/** Pre-encoded bytes written and read by this runtime: the ceiling. */
async function rawCeiling(port: number): Promise<{ write: number; read: number }> {
  const topic = 'bench/raw';
  const one = Buffer.concat([Buffer.from([0x30, 2 + topic.length + PAYLOAD.length, 0, topic.length]), Buffer.from(topic), PAYLOAD]);
  const block = Buffer.concat(Array(1024).fill(one));
  const connect = Buffer.from([0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 1, 0x72]);
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  await new Promise((r) => sock.once('connect', r));
  sock.write(connect);
  // Write: N packets, then a fence whose reply proves the peer read them.
  const fenceTopic = 'bench/fence';
  const fence = Buffer.concat([Buffer.from([0x30, 2 + fenceTopic.length + 1, 0, fenceTopic.length]), Buffer.from(fenceTopic), Buffer.from('f')]);
  let t0 = process.hrtime.bigint();
  let fenceSeen!: () => void;
  const fenceDone = new Promise<void>((r) => (fenceSeen = r));
  let readTarget = 0;
  let readBytes = 0;
  let readDone: () => void = () => {};
  sock.on('data', (d: Buffer) => {
    if (readTarget === 0 && d.includes(Buffer.from(fenceTopic))) fenceSeen();
    readBytes += d.length;
    if (readTarget > 0 && readBytes >= readTarget) readDone();
  });
  for (let left = N; left > 0; left -= 1024) {
    const k = Math.min(1024, left);
    if (!sock.write(k === 1024 ? block : block.subarray(0, k * one.length))) await new Promise((r) => sock.once('drain', r));
  }
  sock.write(fence);
  await fenceDone;
  const write = N / (Number(process.hrtime.bigint() - t0) / 1e9);
  // Read: subscribe to the source; count bytes of N packets of the same size.
  const src = `bench/source/${N}`;
  const srcOne = 2 + 2 + src.length + PAYLOAD.length;
  const sub = Buffer.concat([Buffer.from([0x82, 2 + 2 + src.length + 1, 0, 1, 0, src.length]), Buffer.from(src), Buffer.from([0])]);
  readBytes = 0;
  readTarget = 5 + N * srcOne; // SUBACK + N PUBLISHes
  const done = new Promise<void>((r) => (readDone = r));
  t0 = process.hrtime.bigint();
  sock.write(sub);
  await done;
  const read = N / (Number(process.hrtime.bigint() - t0) / 1e9);
  sock.destroy();
  return { write, read };
}


/** RSS per connection, each client kind in a fresh process. */
async function memoryPerConnection(kind: 'ours' | 'mqttjs', port: number): Promise<number> {
  const r = await runTs(['--expose-gc', path.join(__dirname, 'memory.ts'), kind, String(port)], { timeoutMs: 0 }).exit;
  if (r.code !== 0) throw new Error(`memory.ts failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** Latency percentiles reported (and charted). */
const PERCENTILES: [string, number][] = [['p50', 50], ['p90', 90], ['p99', 99], ['p99.9', 99.9], ['max', 100]];

/** A latency sampler: `once()` publishes one message and resolves when the subscriber has it. */
interface Pinger {
  once(): Promise<void>;
  close(): Promise<void>;
}

async function clientPinger(make: Factory, port: number): Promise<Pinger> {
  const sub = await make(port, `lat-sub-${Math.random()}`);
  const pub = await make(port, `lat-pub-${Math.random()}`);
  const topic = `bench/lat/${Math.random().toString(36).slice(2)}`;
  // Subscribe (the subscriber's `receive` resolves after 1 message; prime it).
  const primed = sub.receive(topic, 1);
  await sleep(100);
  await pub.publishMany(topic, 1, 0);
  await primed;
  return {
    async once() {
      const got = sub.nextMessage();
      await pub.publishMany(topic, 1, 0);
      await got;
    },
    async close() {
      await pub.close();
      await sub.close();
    },
  };
}

/** The ceiling: pre-encoded packets on two raw sockets of this runtime, Nagle off. */
async function rawPinger(port: number): Promise<Pinger> {
  const topic = `bench/lat/raw${Math.random().toString(36).slice(2)}`;
  const open = (id: string) => rawMqttSocket(port, id);
  const sub = await open(`rs${Math.random().toString(36).slice(2, 10)}`);
  const pub = await open(`rp${Math.random().toString(36).slice(2, 10)}`);
  const filter = Buffer.concat([Buffer.from([0, 1, 0, topic.length]), Buffer.from(topic), Buffer.from([0])]);
  sub.write(Buffer.concat([Buffer.from([0x82, filter.length]), filter]));
  await new Promise((r) => sub.once('data', r)); // SUBACK
  const packet = Buffer.concat([Buffer.from([0x30, 2 + topic.length + PAYLOAD.length, 0, topic.length]), Buffer.from(topic), PAYLOAD]);
  let have = 0;
  let arrived: () => void = () => {};
  sub.on('data', (d: Buffer) => {
    have += d.length;
    if (have >= packet.length) {
      have -= packet.length;
      arrived();
    }
  });
  return {
    once() {
      const got = new Promise<void>((r) => (arrived = r));
      pub.write(packet);
      return got;
    },
    async close() {
      pub.destroy();
      sub.destroy();
    },
  };
}

/** Round trips per client before the next client takes its turn. */
const LATENCY_TURN = 100;

/**
 * One run: LATENCY_SAMPLES sequential round trips per pinger, the pingers
 * taking turns of LATENCY_TURN, so that every client meets the same phases
 * of a noisy machine. µs at each of PERCENTILES, per pinger.
 */
async function latencyRun(pingers: Pinger[]): Promise<number[][]> {
  for (const p of pingers) for (let i = 0; i < 200; i++) await p.once(); // warm-up, not counted
  const samples: number[][] = pingers.map(() => []);
  for (let done = 0; done < LATENCY_SAMPLES; done += LATENCY_TURN) {
    for (const [k, p] of pingers.entries()) {
      for (let i = 0; i < LATENCY_TURN; i++) {
        const t0 = process.hrtime.bigint();
        await p.once();
        samples[k].push(Number(process.hrtime.bigint() - t0) / 1e3);
      }
    }
  }
  return samples.map((xs) => PERCENTILES.map(([, q]) => (q === 100 ? Math.max(...xs) : percentile(xs, q))));
}

/** median, min and max of a list of runs */
interface Stats {
  median: number;
  min: number;
  max: number;
}
const stats = (xs: number[]): Stats => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toPrecision(3));
const cell = (s: Stats) => `${fmt(s.median)} (${fmt(s.min)}-${fmt(s.max)})`;

interface Row {
  scenario: string;
  ours: Stats;
  mqttjs?: Stats;
  ceiling?: Stats;
  /** ours / MQTT.js (medians); for latency, below 1 is better */
  ratio?: number;
}

const rows: Row[] = [];
function report(r: Row) {
  rows.push(r);
  const ratio = r.ratio === undefined ? '' : `   ratio ${r.ratio.toFixed(2)}`;
  const ceiling = r.ceiling ? `   ceiling ${cell(r.ceiling)}` : '';
  console.log(`${r.scenario.padEnd(36)} ${cell(r.ours).padStart(28)} ${(r.mqttjs ? cell(r.mqttjs) : '').padStart(28)}${ratio}${ceiling}`);
}

async function againstPeer(port: number) {
  console.log(`runs ${RUNS}, N ${N}, payload ${PAYLOAD.length} B; peer: bench-peer (Rust); median (min-max) of the runs`);
  console.log(`${'scenario'.padEnd(36)} ${'ours'.padStart(28)} ${'MQTT.js'.padStart(28)}`);
  const raws = [];
  for (let r = 0; r < RUNS; r++) raws.push(await rawCeiling(port));
  const ceilings = [stats(raws.map((r) => r.write)), undefined, stats(raws.map((r) => r.read))];
  for (const [k, [name, body]] of scenarios.entries()) {
    const res: number[][] = CLIENTS.map(() => []);
    for (let r = 0; r < RUNS; r++) {
      for (let i = 0; i < CLIENTS.length; i++) res[i].push(await rate(port, CLIENTS[i][1], body));
    }
    const [a, b] = [stats(res[0]), stats(res[1])];
    report({ scenario: name, ours: a, mqttjs: b, ratio: a.median / b.median, ceiling: ceilings[k] });
  }
  const q0 = rows[rows.length - 3];
  console.log(`QoS 0 publish is ${((100 * q0.ours.median) / q0.ceiling!.median).toFixed(1)} % of the raw write ceiling (pre-encoded packets on a net.Socket)`);
  const mem: [number[], number[]] = [[], []];
  for (let r = 0; r < 3; r++) {
    mem[0].push((await memoryPerConnection('ours', port)) / 1024);
    mem[1].push((await memoryPerConnection('mqttjs', port)) / 1024);
  }
  const [a, b] = [stats(mem[0]), stats(mem[1])];
  report({ scenario: 'RSS per connection (KiB, 3 runs)', ours: a, mqttjs: b, ratio: a.median / b.median });
}

/** Latency percentile rows; returns the medians per client for the chart. */
async function throughMosquitto(): Promise<{ name: string; values: number[] }[]> {
  const broker = await startMosquitto();
  if (!broker) {
    console.log('latency: mosquitto not installed, skipped');
    return [];
  }
  try {
    const makers: [string, () => Promise<Pinger>][] = [
      ...CLIENTS.map(([name, make]): [string, () => Promise<Pinger>] => [name, () => clientPinger(make, broker.port)]),
      ['raw socket (node net)', () => rawPinger(broker.port)],
    ];
    // runs[client][run][percentile]; the clients take turns within a run.
    const runs: number[][][] = makers.map(() => []);
    for (let r = 0; r < RUNS; r++) {
      const pingers = [];
      for (const [, make] of makers) pingers.push(await make());
      const result = await latencyRun(pingers);
      result.forEach((v, i) => runs[i].push(v));
      for (const p of pingers) await p.close();
    }
    console.log(`latency through mosquitto, ${LATENCY_SAMPLES} sequential round trips per client and run, in turns of ${LATENCY_TURN} (µs)`);
    for (const [k, [label]] of PERCENTILES.entries()) {
      const [a, b, raw] = runs.map((rs) => stats(rs.map((v) => v[k])));
      report({ scenario: `latency via mosquitto ${label} (µs)`, ours: a, mqttjs: b, ratio: a.median / b.median, ceiling: raw });
    }
    return makers.map(([name], i) => ({ name, values: PERCENTILES.map((_, k) => median(runs[i].map((v) => v[k]))) }));
  } finally {
    await broker.stop();
  }
}

/** QoS 0 publish over TLS to mosquitto: one row. */
async function overTls(): Promise<void> {
  const certs = await makeCerts();
  const env = await startTlsMosquitto(certs);
  if (!env) {
    console.log('TLS: mosquitto not installed, skipped');
    certs.remove();
    return;
  }
  try {
    const res: [number[], number[]] = [[], []];
    for (let r = 0; r < RUNS; r++) {
      res[0].push(await oursOverTls(env.ports.tls, certs.ca, N));
      res[1].push(await mqttJsOverTls(env.ports.tls, certs.ca, N));
    }
    const [a, b] = [stats(res[0]), stats(res[1])];
    report({ scenario: 'QoS 0 publish, TLS, mosquitto (msg/s)', ours: a, mqttjs: b, ratio: a.median / b.median });
  } finally {
    await env.broker.stop();
    certs.remove();
  }
}

function machine(): string {
  return `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${os.platform()} ${os.release()}, Node ${process.version}`;
}

async function main() {
  let latency: { name: string; values: number[] }[] = [];
  if (ONLY === undefined || ONLY === 'peer') {
    const peer = await startPeer();
    try {
      await againstPeer(peer.port);
    } finally {
      peer.stop();
    }
  }
  if (ONLY === undefined || ONLY === 'latency') latency = await throughMosquitto();
  if (ONLY === undefined || ONLY === 'tls') await overTls();
  if (ONLY !== undefined) return; // a partial run does not replace the recorded one
  fs.mkdirSync(OUT, { recursive: true });
  const when = new Date().toISOString();
  const record = { when, machine: machine(), runs: RUNS, n: N, latencySamples: LATENCY_SAMPLES, rows };
  fs.writeFileSync(path.join(OUT, 'bench.json'), JSON.stringify(record, null, 2) + '\n');
  const throughput = rows.slice(0, 3).map((r) => ({
    name: r.scenario.replace(/ \(msg\/s\)$/, ''),
    ours: r.ours.median,
    mqttjs: r.mqttjs!.median,
    ceiling: r.ceiling?.median,
  }));
  const caption = `npm run bench, ${when.slice(0, 10)}: medians of ${RUNS} runs, ${N} messages of ${PAYLOAD.length} B; ${machine()}`;
  fs.writeFileSync(path.join(OUT, 'bench.svg'), chart({ throughput, latency, percentiles: PERCENTILES.map(([l]) => l), caption }));
  console.log(`wrote ${path.relative(process.cwd(), path.join(OUT, 'bench.json'))} and bench.svg`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
