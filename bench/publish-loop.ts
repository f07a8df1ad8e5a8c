// A tight loop of 64 B QoS 0 publishes to bench-peer, for profilers:
//   perf record -g node --perf-basic-prof --import=tsx bench/publish-loop.ts
import mqtt from 'mqtt-rs-client';
import { PAYLOAD, startPeer } from './lib';

async function main(): Promise<void> {
  const peer = await startPeer();
  const conn = mqtt.open('127.0.0.1', peer.port, 'loop');
  await new Promise<void>((resolve) => mqtt.on(conn, 'connected', () => resolve()));
  const n = Number(process.env.LOOP_N ?? 5_000_000);
  let refused = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (mqtt.publish(conn, 'bench/loop', PAYLOAD, 0) < 0) {
      refused++;
      await new Promise((r) => setImmediate(r));
    }
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${ns.toFixed(0)} ns per publish, ${refused} refused`);
  mqtt.disconnect(conn);
  peer.stop();
}
main();
