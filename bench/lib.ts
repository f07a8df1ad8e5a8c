// Shared pieces of the benchmarks: the fast Rust peer, timing, medians,
// and a uniform face over the two clients being compared.

import { setImmediate as nextTurn } from 'node:timers/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import mqtt from 'mqtt-rs-client';
import * as mqttjs from 'mqtt';
import { ROOT, run } from '../__test__/helpers/run';

export const PAYLOAD = Buffer.alloc(64, 'x');

/** A raw socket (Nagle off) that has sent a clean-session CONNECT as `id` and read the CONNACK: the ceiling's client. */
export async function rawMqttSocket(port: number, id: string): Promise<net.Socket> {
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  await new Promise((r) => sock.once('connect', r));
  const body = Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, id.length]), Buffer.from(id)]);
  sock.write(Buffer.concat([Buffer.from([0x10, body.length]), body]));
  await new Promise((r) => sock.once('data', r)); // CONNACK
  return sock;
}

export interface Peer {
  port: number;
  stop(): void;
}

/** The bench-peer binary (cargo build --release -p bench-peer), in CARGO_TARGET_DIR when that is set. */
export async function startPeer(): Promise<Peer> {
  const bin = path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'release', 'bench-peer');
  const child = run(bin, ['0'], { timeoutMs: 0, inheritStderr: true });
  const line = await child.waitLine(/^port \d+$/);
  return { port: Number(line.split(' ')[1]), stop: () => child.kill('SIGTERM') };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** What a benchmark needs from a client. */
export interface BenchClient {
  name: string;
  /** Publishes n messages as fast as the client allows, backpressure included. */
  publishMany(topic: string, n: number, qos: 0 | 1): Promise<void>;
  /** Publishes to bench/fence and resolves with the peer's count. */
  fence(): Promise<number>;
  /** Resolves when n messages have reached the handler. */
  receive(filter: string, n: number): Promise<void>;
  /** Resolves on the next message to reach the handler (latency). */
  nextMessage(): Promise<void>;
  close(): Promise<void>;
}

/** This project's client. */
export async function ours(port: number, id: string): Promise<BenchClient> {
  const conn = mqtt.open('127.0.0.1', port, id);
  if (conn < 0) throw new Error(mqtt.lastError());
  await new Promise<void>((resolve) => mqtt.on(conn, 'connected', () => resolve()));
  let onMessage: (topic: string) => void = () => {};
  let fenceReply: ((n: number) => void) | null = null;
  mqtt.on(conn, 'message', (e) => {
    if (e.topic === 'bench/fence' && fenceReply) fenceReply(Number(e.payload));
    else onMessage(e.topic);
  });
  return {
    name: 'mqtt-rs-client',
    async publishMany(topic, n, qos) {
      for (let i = 0; i < n; ) {
        if (mqtt.publish(conn, topic, PAYLOAD, qos) === 0) i++;
        else await nextTurn(); // backpressure: let the I/O thread drain
      }
    },
    async fence() {
      const reply = new Promise<number>((resolve) => (fenceReply = resolve));
      while (mqtt.publish(conn, 'bench/fence', PAYLOAD, 0) !== 0) await nextTurn();
      return reply;
    },
    receive(filter, n) {
      return new Promise((resolve) => {
        let got = 0;
        onMessage = () => {
          if (++got === n) resolve();
        };
        mqtt.subscribe(conn, filter, 0);
      });
    },
    nextMessage() {
      return new Promise<void>((resolve) => (onMessage = () => resolve()));
    },
    async close() {
      const done = new Promise<void>((resolve) => mqtt.on(conn, 'disconnected', () => resolve()));
      mqtt.disconnect(conn);
      await done;
    },
  };
}

/** MQTT.js at its best: Nagle off. */
export async function mqttJs(port: number, id: string): Promise<BenchClient> {
  const c = mqttjs.connect({ host: '127.0.0.1', port, clientId: id, reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  (c.stream as import('node:net').Socket).setNoDelay(true);
  let onMessage: (topic: string) => void = () => {};
  let fenceReply: ((n: number) => void) | null = null;
  c.on('message', (topic, payload) => {
    if (topic === 'bench/fence' && fenceReply) fenceReply(Number(payload.toString()));
    else onMessage(topic);
  });
  return {
    name: 'MQTT.js',
    async publishMany(topic, n, qos) {
      if (qos === 0) {
        for (let i = 0; i < n; i++) c.publish(topic, PAYLOAD, { qos });
        return;
      }
      // MQTT.js has no backpressure of its own and stalls with more than
      // 65,535 QoS 1 messages in flight (packet ids run out): keep a window.
      const WINDOW = 20_000;
      let acked = 0;
      let wake: () => void = () => {};
      for (let i = 0; i < n; i++) {
        if (i - acked >= WINDOW) await new Promise<void>((r) => (wake = r));
        c.publish(topic, PAYLOAD, { qos }, () => {
          acked++;
          if (acked === n || i - acked < WINDOW / 2) wake();
        });
      }
      while (acked < n) await new Promise<void>((r) => (wake = r));
    },
    fence() {
      const reply = new Promise<number>((resolve) => (fenceReply = resolve));
      c.publish('bench/fence', PAYLOAD, { qos: 0 });
      return reply;
    },
    receive(filter, n) {
      return new Promise((resolve) => {
        let got = 0;
        onMessage = () => {
          if (++got === n) resolve();
        };
        c.subscribe(filter, { qos: 0 });
      });
    },
    nextMessage() {
      return new Promise<void>((resolve) => (onMessage = () => resolve()));
    },
    async close() {
      await c.endAsync();
    },
  };
}
