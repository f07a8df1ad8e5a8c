// Shared subscriptions (issue 11, item 3): `$share/<group>/<filter>` is
// accepted and checked by the client; the broker (mosquitto 2, which
// serves it to MQTT 3.1.1 clients too) hands each message to one member of
// the group. Non-shared `$` filters keep their MQTT 3.1.1 meaning.

import anyTest from 'ava';

// Serial: the connection limit (16) is per process.
const test = anyTest.serial;
import mqtt from 'mqtt-rs-client';
import { connectAndSubscribe, openRecorded, uid } from './helpers/client';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto';
import { waitFor } from './helpers/wait';

let broker: Mosquitto | null = null;

anyTest.before(async () => {
  broker = await startMosquitto();
});

anyTest.after.always(async () => {
  await broker?.stop();
});

const SKIP = 'mosquitto not installed: skipped';

/** Publishes `n` QoS 1 messages (payload: the index), waiting for `drain` when the buffers are full. */
async function publishQos1(conn: number, topic: string, n: number): Promise<void> {
  let room: (() => void) | null = null;
  mqtt.on(conn, 'drain', () => room?.());
  for (let i = 0; i < n; ) {
    if (mqtt.publish(conn, topic, String(i), 1) >= 0) {
      i++;
    } else {
      await new Promise<void>((resolve) => {
        room = resolve;
        // The drain may already have come between the -1 and here.
        if (mqtt.publish(conn, topic, String(i), 1) >= 0) {
          i++;
          resolve();
        }
      });
      room = null;
    }
  }
}

test('two clients share $share/g/<topic>/#: each receives a part, together every QoS 1 message exactly once', async (t) => {
  if (!broker) return t.pass(SKIP);
  const base = uid('shared');
  const filter = `$share/g/${base}/#`;
  const a = await connectAndSubscribe(t, broker.port, uid('member-a'), [[filter, 1]]);
  const b = await connectAndSubscribe(t, broker.port, uid('member-b'), [[filter, 1]]);
  t.like(a.seen.subscribed[0], { topic: filter, qos: 1, ok: true });
  t.like(b.seen.subscribed[0], { topic: filter, qos: 1, ok: true });

  const pub = openRecorded(t, '127.0.0.1', broker.port, uid('publisher'));
  await pub.next('connected');
  const acked: number[] = [];
  mqtt.on(pub.conn, 'published', (e) => acked.push(e.packetId));
  const n = 1000;
  await publishQos1(pub.conn, `${base}/n`, n);
  await waitFor(`${n} PUBACKs`, () => acked.length >= n, { timeoutMs: 30_000, detail: () => `have ${acked.length}` });
  const received = () => a.seen.message.length + b.seen.message.length;
  await waitFor(`${n} messages between the two members`, () => received() >= n, {
    timeoutMs: 30_000, detail: () => `a ${a.seen.message.length}, b ${b.seen.message.length}`,
  });

  const payloads = [...a.seen.message, ...b.seen.message].map((m) => {
    t.is(m.qos, 1);
    t.is(m.topic, `${base}/n`);
    return Number(m.payload);
  });
  t.true(a.seen.message.length > 0, `member a received ${a.seen.message.length}`);
  t.true(b.seen.message.length > 0, `member b received ${b.seen.message.length}`);
  t.is(payloads.length, n, 'no message twice');
  t.deepEqual([...new Set(payloads)].sort((x, y) => x - y), Array.from({ length: n }, (_, i) => i), 'every message');
});

test('a plain subscriber beside the group still gets every message; $share filters are refused with a reason when malformed', async (t) => {
  if (!broker) return t.pass(SKIP);
  const base = uid('beside');
  const member = await connectAndSubscribe(t, broker.port, uid('member'), [[`$share/grp/${base}/+`, 1]]);
  const plain = await connectAndSubscribe(t, broker.port, uid('plain'), [[`${base}/+`, 1]]);
  t.true(mqtt.publish(plain.conn, `${base}/x`, 'one', 1) >= 0);
  t.is((await member.next('message')).payload, 'one');
  t.is((await plain.next('message')).payload, 'one');

  const bad: [string, RegExp][] = [
    ['$share//t', /shared subscription group must not be empty/],
    ['$share/g+/t', /shared subscription group must not contain '\/', '\+' or '#'/],
    ['$share/#/t', /shared subscription group must not contain/],
    ['$share/g', /shared subscription needs a filter after the group/],
    ['$share/g/', /shared subscription needs a filter after the group/],
    ['$share/g/a/#/b', /# must be the last level/],
  ];
  for (const [filter, reason] of bad) {
    t.is(mqtt.subscribe(plain.conn, filter, 1), -1, filter);
    t.regex(mqtt.lastError(), reason, filter);
    t.is(mqtt.unsubscribe(plain.conn, filter), -1, filter);
    t.regex(mqtt.lastError(), reason, filter);
  }
  // The client stays connected and unsubscribes the shared filter whole.
  t.is(mqtt.unsubscribe(member.conn, `$share/grp/${base}/+`), 0, mqtt.lastError());
  t.is(mqtt.state(plain.conn), 'connected');
});
