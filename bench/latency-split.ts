// Which side of this client costs latency: round trips through mosquitto
// with each side either this client or a raw socket, in turns of 100 per
// run (as in bench/run.ts), medians of the runs' p50 and p99.
//
//   node --import=tsx bench/latency-split.ts      (SPLIT_RUNS=5, SPLIT_SAMPLES=2000)
//
// raw -> raw is the ceiling; ours -> raw adds only our publish side;
// raw -> ours adds only our receive side.

import mqtt from 'mqtt-rs-client';
import { median, percentile, rawMqttSocket as rawSocket } from './lib';
import { startMosquitto } from '../__test__/helpers/mosquitto';

const RUNS = Number(process.env.SPLIT_RUNS ?? 5);
const SAMPLES = Number(process.env.SPLIT_SAMPLES ?? 2000);
const TURN = 100;
const PAYLOAD = Buffer.alloc(64, 'x');

interface Publisher {
  publish(topic: string): void;
  close(): void;
}
interface Subscriber {
  next(): Promise<void>;
  close(): void;
}

const packet = (topic: string) =>
  Buffer.concat([Buffer.from([0x30, 2 + topic.length + PAYLOAD.length, 0, topic.length]), Buffer.from(topic), PAYLOAD]);

async function rawPublisher(port: number): Promise<Publisher> {
  const sock = await rawSocket(port, `sp${Math.random().toString(36).slice(2, 10)}`);
  return { publish: (topic) => sock.write(packet(topic)), close: () => sock.destroy() };
}

async function rawSubscriber(port: number, topic: string): Promise<Subscriber> {
  const sock = await rawSocket(port, `ss${Math.random().toString(36).slice(2, 10)}`);
  const filter = Buffer.concat([Buffer.from([0, 1, 0, topic.length]), Buffer.from(topic), Buffer.from([0])]);
  sock.write(Buffer.concat([Buffer.from([0x82, filter.length]), filter]));
  await new Promise((r) => sock.once('data', r)); // SUBACK
  const size = packet(topic).length;
  let have = 0;
  let arrived: () => void = () => {};
  sock.on('data', (d: Buffer) => {
    have += d.length;
    if (have >= size) {
      have -= size;
      arrived();
    }
  });
  return { next: () => new Promise<void>((r) => (arrived = r)), close: () => sock.destroy() };
}

async function oursConnected(port: number): Promise<number> {
  const conn = mqtt.open('127.0.0.1', port, `s${Math.random().toString(36).slice(2, 10)}`);
  await new Promise<void>((r) => mqtt.on(conn, 'connected', () => r()));
  return conn;
}

async function oursPublisher(port: number): Promise<Publisher> {
  const conn = await oursConnected(port);
  return { publish: (topic) => void mqtt.publish(conn, topic, PAYLOAD, 0), close: () => mqtt.disconnect(conn) };
}

async function oursSubscriber(port: number, topic: string): Promise<Subscriber> {
  const conn = await oursConnected(port);
  let arrived: () => void = () => {};
  mqtt.on(conn, 'message', () => arrived());
  await new Promise<void>((r) => {
    mqtt.on(conn, 'subscribed', () => r());
    mqtt.subscribe(conn, topic, 0);
  });
  return { next: () => new Promise<void>((r) => (arrived = r)), close: () => mqtt.disconnect(conn) };
}

async function main() {
  const broker = await startMosquitto();
  if (!broker) throw new Error('mosquitto not installed');
  const port = broker.port;
  const pairs: [string, () => Promise<Publisher>, (t: string) => Promise<Subscriber>][] = [
    ['raw -> raw (ceiling)', () => rawPublisher(port), (t) => rawSubscriber(port, t)],
    ['ours -> raw (our publish side)', () => oursPublisher(port), (t) => rawSubscriber(port, t)],
    ['raw -> ours (our receive side)', () => rawPublisher(port), (t) => oursSubscriber(port, t)],
    ['ours -> ours', () => oursPublisher(port), (t) => oursSubscriber(port, t)],
  ];
  const p50: number[][] = pairs.map(() => []);
  const p99: number[][] = pairs.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    const live = [];
    for (const [k, [, pub, sub]] of pairs.entries()) {
      const topic = `split/${r}/${k}`;
      live.push({ topic, sub: await sub(topic), pub: await pub() });
    }
    const samples: number[][] = pairs.map(() => []);
    for (let done = -200; done < SAMPLES; done += TURN) {
      for (const [k, l] of live.entries()) {
        for (let i = 0; i < TURN; i++) {
          const got = l.sub.next();
          const t0 = process.hrtime.bigint();
          l.pub.publish(l.topic);
          await got;
          if (done >= 0) samples[k].push(Number(process.hrtime.bigint() - t0) / 1e3);
        }
      }
    }
    for (const l of live) {
      l.pub.close();
      l.sub.close();
    }
    samples.forEach((s, k) => {
      p50[k].push(percentile(s, 50));
      p99[k].push(percentile(s, 99));
    });
  }
  console.log(`round trips through mosquitto, ${SAMPLES} per pair and run, medians of ${RUNS} runs (µs)`);
  for (const [k, [name]] of pairs.entries()) {
    console.log(`${name.padEnd(34)} p50 ${median(p50[k]).toFixed(1).padStart(7)}   p99 ${median(p99[k]).toFixed(1).padStart(7)}`);
  }
  await broker.stop();
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
