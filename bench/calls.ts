// Per-call cost on the JS thread (issue 8, goal 4): how long one call takes,
// through the TypeScript API and straight into the addon, so the layers can
// be told apart.
//
//   cargo build --release -p bench-peer && node --import=tsx bench/calls.ts
//
// The connection is up to bench-peer (a fast sink), so `publish` is never
// backpressured: the outbound buffer is drained by the I/O thread while the
// loop runs (each round is short enough never to fill 2 MiB).

import mqtt from 'mqtt-rs-client';
import native = require('../index.js');
import { PAYLOAD, median, startPeer } from './lib';

const ROUNDS = Number(process.env.CALLS_ROUNDS ?? 7);
const N = Number(process.env.CALLS_N ?? 20_000);

/** Nanoseconds per call of `f`: [median, min] of ROUNDS rounds of N calls. */
function perCall(f: () => unknown): [number, number] {
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) f();
    rounds.push(Number(process.hrtime.bigint() - t0) / N);
  }
  return [median(rounds), Math.min(...rounds)];
}

/** Lets the I/O thread drain what the last round queued. */
const settle = () => new Promise((r) => setTimeout(r, 50));

async function main(): Promise<void> {
  const peer = await startPeer();
  const conn = mqtt.open('127.0.0.1', peer.port, 'calls');
  if (conn < 0) throw new Error(mqtt.lastError());
  await new Promise<void>((resolve) => mqtt.on(conn, 'connected', () => resolve()));
  const topic = 'bench/calls';
  const text = 'x'.repeat(64);
  const rows: [string, [number, number]][] = [];
  const row = async (name: string, f: () => unknown) => {
    await settle();
    rows.push([name, perCall(f)]);
  };
  await row('floor: native.liveConnections() (an N-API call returning a number)', () => native.liveConnections());
  await row('native.state(conn)', () => native.state(conn));
  await row('native.stateCode(conn) (the same as a number)', () => native.stateCode(conn));
  await row('mqtt.state(conn)', () => mqtt.state(conn));
  await row('native.publish(conn, topic, 64 B Buffer, 0)', () => native.publish(conn, topic, PAYLOAD, 0, false));
  await row('mqtt.publish(conn, topic, 64 B Buffer, 0)', () => mqtt.publish(conn, topic, PAYLOAD, 0));
  await row('native.publishString(conn, topic, 64-char string, 0)', () => native.publishString(conn, topic, text, 0, false));
  await row('mqtt.publish(conn, topic, 64-char string, 0)', () => mqtt.publish(conn, topic, text, 0));
  await row('a refused call: qos as a string, the TypeError thrown before the addon', () => {
    try {
      mqtt.publish(conn, topic, PAYLOAD, '0' as unknown as number);
    } catch {
      // expected: TypeError
    }
  });
  mqtt.disconnect(conn);
  peer.stop();

  console.log(`per-call cost on the JS thread, ${ROUNDS} rounds of ${N} calls (ns/call): median, min`);
  for (const [name, [med, min]] of rows) console.log(`${med.toFixed(0).padStart(8)}${min.toFixed(0).padStart(8)}  ${name}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
