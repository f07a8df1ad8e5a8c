// The TLS row of `npm run bench`: QoS 0 publish over TLS to mosquitto (a
// TLS listener with a test CA that openssl makes for the run), this client
// against MQTT.js with mqtts, Nagle off for both. The clock stops at the
// PUBACK of one QoS 1 message sent after the N QoS 0 ones: mosquitto reads
// a connection in order, so by then it has read all of them.

import { setImmediate as nextTurn } from 'node:timers/promises';
import mqtt from 'mqtt-rs-client';
import * as mqttjs from 'mqtt';
import { PAYLOAD } from './lib';

const TOPIC = 'bench/tls';
const FENCE = 'bench/tls-fence';

/** Messages per second, this client. */
export async function oursOverTls(port: number, ca: string, n: number): Promise<number> {
  const conn = mqtt.open('127.0.0.1', port, `bench-tls-${Math.random().toString(36).slice(2)}`, { tls: { ca } });
  if (conn < 0) throw new Error(mqtt.lastError());
  await new Promise<void>((resolve, reject) => {
    mqtt.on(conn, 'connected', () => resolve());
    mqtt.on(conn, 'disconnected', (e) => reject(new Error(e.reason)));
  });
  let fenceId = -1;
  let fenced: () => void = () => {};
  mqtt.on(conn, 'published', (e) => {
    if (e.packetId === fenceId) fenced();
  });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n;) {
    if (mqtt.publish(conn, TOPIC, PAYLOAD, 0) === 0) i++;
    else await nextTurn(); // backpressure: let the I/O thread drain
  }
  const done = new Promise<void>((resolve) => (fenced = resolve));
  while ((fenceId = mqtt.publishWithId(conn, FENCE, PAYLOAD, 1)) < 0) await nextTurn();
  await done;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const closed = new Promise<void>((resolve) => mqtt.on(conn, 'disconnected', () => resolve()));
  mqtt.disconnect(conn);
  await closed;
  return n / secs;
}

/** Messages per second, MQTT.js at its best (mqtts, Nagle off). */
export async function mqttJsOverTls(port: number, ca: string, n: number): Promise<number> {
  const c = mqttjs.connect({
    protocol: 'mqtts', host: '127.0.0.1', port, ca, reconnectPeriod: 0,
    clientId: `bench-tls-js-${Math.random().toString(36).slice(2)}`,
  });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  (c.stream as import('node:net').Socket).setNoDelay(true);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) c.publish(TOPIC, PAYLOAD, { qos: 0 });
  await new Promise<void>((resolve, reject) => c.publish(FENCE, PAYLOAD, { qos: 1 }, (e) => (e ? reject(e) : resolve())));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await c.endAsync();
  return n / secs;
}
