// Benchmarks: this client against MQTT.js (Nagle off) in the same run, on
// the same fast Rust peer, plus the raw-socket ceiling of this runtime.
// Prints medians of RUNS runs and the ratio ours / MQTT.js.
//
//   npm run bench            (BENCH_RUNS=5 BENCH_N=200000 by default)

import * as net from 'node:net';
import * as path from 'node:path';
import { startPeer, median, percentile, ours, mqttJs, BenchClient, PAYLOAD } from './lib';
import { startMosquitto } from '../__test__/helpers/mosquitto';
import { runTs } from '../__test__/helpers/run';
import { sleep } from '../__test__/helpers/wait';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const N = Number(process.env.BENCH_N ?? 200_000);
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 2_000);

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

/** One-way latency through mosquitto (TCP_NODELAY on), publisher and subscriber in this process. */
async function latency(make: Factory, port: number): Promise<{ p50: number; p99: number }> {
  const sub = await make(port, `lat-sub-${Math.random()}`);
  const pub = await make(port, `lat-pub-${Math.random()}`);
  const topic = `bench/lat/${Math.random().toString(36).slice(2)}`;
  // Subscribe (the subscriber's `receive` resolves after 1 message; prime it).
  const primed = sub.receive(topic, 1);
  await sleep(100);
  await pub.publishMany(topic, 1, 0);
  await primed;
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const got = sub.nextMessage();
    const t0 = process.hrtime.bigint();
    await pub.publishMany(topic, 1, 0);
    await got;
    samples.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  await pub.close();
  await sub.close();
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

/** RSS per connection, each client kind in a fresh process. */
async function memoryPerConnection(kind: 'ours' | 'mqttjs', port: number): Promise<number> {
  const r = await runTs(['--expose-gc', path.join(__dirname, 'memory.ts'), kind, String(port)], { timeoutMs: 0 }).exit;
  if (r.code !== 0) throw new Error(`memory.ts failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

function row(name: string, a: number, b: number, unit = '') {
  console.log(`${name.padEnd(34)} ${a.toFixed(0).padStart(10)}${unit} ${b.toFixed(0).padStart(10)}${unit}   ratio ${(a / b).toFixed(2)}`);
}

async function main() {
  const peer = await startPeer();
  try {
    await againstPeer(peer.port);
  } finally {
    peer.stop();
  }
  await throughMosquitto();
}

async function againstPeer(port: number) {
  const peer = { port };
  console.log(`runs ${RUNS}, N ${N}, payload ${PAYLOAD.length} B; peer: bench-peer (Rust) on ${peer.port}`);
  console.log(`${'scenario'.padEnd(34)} ${'ours'.padStart(10)} ${'MQTT.js'.padStart(10)}`);
  for (const [name, body] of scenarios) {
    const res: number[][] = CLIENTS.map(() => []);
    for (let r = 0; r < RUNS; r++) {
      for (let i = 0; i < CLIENTS.length; i++) res[i].push(await rate(peer.port, CLIENTS[i][1], body));
    }
    row(name, median(res[0]), median(res[1]));
  }
  const raws = [];
  for (let r = 0; r < RUNS; r++) raws.push(await rawCeiling(peer.port));
  console.log(`raw-socket ceiling (node net): write ${median(raws.map((r) => r.write)).toFixed(0)} msg/s, read ${median(raws.map((r) => r.read)).toFixed(0)} msg/s`);
  const mem: [number[], number[]] = [[], []];
  for (let r = 0; r < 3; r++) {
    mem[0].push(await memoryPerConnection('ours', peer.port));
    mem[1].push(await memoryPerConnection('mqttjs', peer.port));
  }
  row('RSS per connection (KiB)', median(mem[0]) / 1024, median(mem[1]) / 1024);
}

async function throughMosquitto() {
  const broker = await startMosquitto();
  if (!broker) {
    console.log('latency: mosquitto not installed, skipped');
    return;
  }
  try {
    const lat = [];
    for (const [, make] of CLIENTS) lat.push(await latency(make, broker.port));
    console.log(`latency via mosquitto p50 (us)        ${lat[0].p50.toFixed(0).padStart(10)} ${lat[1].p50.toFixed(0).padStart(10)}   ratio ${(lat[0].p50 / lat[1].p50).toFixed(2)}`);
    console.log(`latency via mosquitto p99 (us)        ${lat[0].p99.toFixed(0).padStart(10)} ${lat[1].p99.toFixed(0).padStart(10)}   ratio ${(lat[0].p99 / lat[1].p99).toFixed(2)}`);
  } finally {
    await broker.stop();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
