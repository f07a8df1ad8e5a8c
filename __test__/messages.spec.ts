// The handle API's async iterator, mqtt.messages(conn, filter): a slow
// loop gets every message in order (delivery is held while it is behind),
// and the loop ends after disconnect(). A real mosquitto; the messages come
// from MQTT.js, whose socket the hold does not stop.

import test from 'ava';
import { connect as mqttjsConnect } from 'mqtt';
import mqtt from '../bindings/typescript/mqtt';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto';
import { sleep, waitFor } from './helpers/wait';

let broker: Mosquitto | null = null;

test.before(async () => {
  broker = await startMosquitto({ extraConfig: ['max_queued_messages 0'] });
});

test.after.always(async () => {
  await broker?.stop();
});

async function opened(clientId: string): Promise<number> {
  const conn = mqtt.open('127.0.0.1', broker!.port, clientId);
  if (conn < 0) throw new Error(mqtt.lastError());
  await waitFor('connected', () => mqtt.state(conn) === 'connected');
  return conn;
}

test.serial('a slow loop over messages(conn, filter) gets every message in order, then ends after disconnect', async (t) => {
  if (!broker) return t.pass('mosquitto not installed');
  const COUNT = 5000;
  const topic = `handle-iter/${process.pid}`;
  const conn = await opened(`handle-iter-${process.pid}`);
  let subscribed = false;
  mqtt.on(conn, 'subscribed', () => { subscribed = true; });
  t.is(mqtt.subscribe(conn, `${topic}/#`, 1), 0);
  await waitFor('SUBACK', () => subscribed);
  const it = mqtt.messages(conn, `${topic}/in`, { highWaterMark: 50 });

  const publisher = mqttjsConnect(`mqtt://127.0.0.1:${broker.port}`);
  t.teardown(() => publisher.end(true));
  await new Promise((resolve) => publisher.once('connect', resolve));
  await publisher.publishAsync(`${topic}/out`, 'not matched', { qos: 1 });
  const sent = Promise.all(Array.from({ length: COUNT }, (_, i) => publisher.publishAsync(`${topic}/in`, String(i), { qos: 1 })));

  const got: number[] = [];
  const loop = (async () => {
    for await (const m of it) {
      got.push(Number(m.payload));
      t.is(m.bytes.toString(), m.payload);
      if (got.length % 50 === 0) await sleep(1);
    }
  })();
  await sent;
  await waitFor('every message', () => got.length >= COUNT, { timeoutMs: 60_000, detail: () => `got ${got.length}` });
  mqtt.disconnect(conn);
  await loop; // ends with the handle's final event
  t.deepEqual(got, Array.from({ length: COUNT }, (_, i) => i));
});

test.serial('messages(): bad arguments throw, naming them', async (t) => {
  t.throws(() => mqtt.messages('1' as unknown as number), { instanceOf: TypeError, message: /^conn/ });
  t.throws(() => mqtt.messages(987654), { instanceOf: RangeError, message: /^conn: unknown/ });
  if (!broker) return;
  const conn = await opened(`handle-iter-bad-${process.pid}`);
  t.teardown(() => mqtt.disconnect(conn));
  t.throws(() => mqtt.messages(conn, 'a/#/b'), { instanceOf: TypeError, message: /^filter/ });
  t.throws(() => mqtt.messages(conn, '#', { highWaterMark: 0 }), { instanceOf: RangeError, message: /highWaterMark/ });
  // break ends the iterator and unbinds its handler
  const it = mqtt.messages(conn);
  await it.return!();
  t.deepEqual(await it.next(), { value: undefined, done: true });
});
