// Bad input from JavaScript: wrong types throw a TypeError that names the
// argument; bad values return -1 (or, for the functions the contract
// declares void, leave the reason in lastError()); nothing crashes, and the
// connection keeps working afterwards. Runs against aedes, in this process.

import anyTest from 'ava';
import mqtt from 'mqtt-rs-client';
import { startAedes, type AedesBroker } from './helpers/aedes';
import { Recorder, sleep, uid } from './helpers/client';
import { waitFor } from './helpers/wait';

const test = anyTest.serial;

let broker: AedesBroker;
let rec: Recorder;
let conn: number;
const topic = `t/${uid('input')}`;

anyTest.before(async () => {
  broker = await startAedes();
  conn = mqtt.open('127.0.0.1', broker.port, uid('input'));
  if (conn < 0) throw new Error(mqtt.lastError());
  rec = new Recorder(conn);
  await rec.next('connected');
  if (mqtt.subscribe(conn, topic, 1) !== 0) throw new Error(mqtt.lastError());
  await rec.next('subscribed');
});

anyTest.after.always(async () => {
  mqtt.disconnect(conn);
  await broker.close();
});

/** Calls through `any`: the point is what happens when a caller ignores the types. */
const loose = mqtt as unknown as Record<string, (...args: unknown[]) => unknown>;
const noop = () => {};

test('wrong argument types throw a TypeError naming the argument', (t) => {
  const cases: [string, unknown[], RegExp][] = [
    ['open', [123, 1883, 'id'], /^host must be a string/],
    ['open', ['127.0.0.1', '1883', 'id'], /^port must be a number/],
    ['open', ['127.0.0.1', 1883, null], /^clientId must be a string/],
    ['open', ['127.0.0.1', 1883, 'id', 'fast'], /^options must be an object/],
    ['open', ['127.0.0.1', 1883, 'id', { keepAlive: '5' }], /^options\.keepAlive must be a number/],
    ['open', ['127.0.0.1', 1883, 'id', { connectTimeoutMs: true }], /^options\.connectTimeoutMs must be a number/],
    ['open', ['127.0.0.1', 1883, 'id', { brokers: 'b:1883' }], /^options\.brokers must be an array of \{ host, port \}/],
    ['open', ['127.0.0.1', 1883, 'id', { brokers: [{ host: 'b', port: 1 }, 'c'] }], /^options\.brokers\[1\] must be an object/],
    ['open', ['127.0.0.1', 1883, 'id', { brokers: [{ host: 'b', port: '1' }] }], /^options\.brokers\[0\]\.port must be a number/],
    ['open', ['127.0.0.1', 1883, 'id', { brokers: [{ host: 7, port: 1 }] }], /^options\.brokers\[0\]\.host must be a string/],
    ['openAuth', ['127.0.0.1', 1883, 'id', 42, 'pw'], /^user must be a string/],
    ['openAuth', ['127.0.0.1', 1883, 'id', 'u', 42], /^pass must be a string or a Uint8Array/],
    ['publish', ['0', topic, 'x', 0], /^conn must be a number/],
    ['publish', [conn, 5, 'x', 0], /^topic must be a string/],
    ['publish', [conn, topic, 5, 0], /^payload must be a string or a Uint8Array/],
    ['publish', [conn, topic, { a: 1 }, 0], /^payload must be/],
    ['publish', [conn, topic, null, 0], /^payload must be/],
    ['publish', [conn, topic, [1, 2], 0], /^payload must be/],
    ['publish', [conn, topic, 'x', '1'], /^qos must be a number/],
    ['publish', [conn, topic, 'x', 0, 'yes'], /^retain must be a boolean/],
    ['publish', [BigInt(0), topic, 'x', 0], /^conn must be a number/],
    ['publish', [conn, Symbol('t'), 'x', 0], /^topic must be a string/],
    ['subscribe', [conn, undefined, 0], /^filter must be a string/],
    ['subscribe', [conn, 'a', null], /^qos must be a number/],
    ['on', [conn, 5, noop], /^event must be a string/],
    ['on', [conn, 'message', 'handler'], /^handler must be a function/],
    ['on', [undefined, 'message', noop], /^conn must be a number/],
    ['setAutoReconnect', [conn, 'yes'], /^enabled must be a boolean/],
    ['setReconnectDelays', [conn, '1,2'], /^delays must be an array/],
    ['setReconnectDelays', [conn, [1, '2']], /^delays\[1\] must be a number/],
    ['state', ['0'], /^conn must be a number/],
    ['ping', [null], /^conn must be a number/],
    ['disconnect', [{}], /^conn must be a number/],
    ['setTimeout', [conn, '100'], /^ms must be a number/],
    ['unsubscribe', [conn, 7], /^filter must be a string/],
  ];
  for (const [fn, args, message] of cases) {
    t.throws(() => loose[fn](...args), { instanceOf: TypeError, message }, `${fn}(${args.map(String).join(', ')})`);
  }
});

test('unknown, closed and malformed handles: -1 or lastError(), never a crash', async (t) => {
  const closed = mqtt.open('127.0.0.1', broker.port, uid('closed'));
  const closedRec = new Recorder(closed);
  await closedRec.next('connected');
  mqtt.disconnect(closed);
  await closedRec.next('disconnected');

  for (const h of [9999, -1, closed, 1.5, NaN, Infinity, 2 ** 40]) {
    t.is(mqtt.publish(h, topic, 'x', 0), -1, `publish on ${h}`);
    t.regex(mqtt.lastError(), /unknown or closed connection handle/);
    t.is(mqtt.subscribe(h, topic, 0), -1);
    t.is(mqtt.unsubscribe(h, topic), -1);
    t.is(mqtt.on(h, 'message', noop), -1);
    t.regex(mqtt.lastError(), /unknown or closed connection handle/);
    t.is(mqtt.state(h), 'disconnected');
    for (const call of [
      () => mqtt.ping(h),
      () => mqtt.disconnect(h),
      () => mqtt.setAutoReconnect(h, true),
      () => mqtt.setReconnectDelays(h, [1]),
    ]) {
      mqtt.publish(conn, '', 'reset lastError', 0);
      t.is(call(), undefined);
      t.regex(mqtt.lastError(), /unknown or closed connection handle/);
    }
    mqtt.setTimeout(h, 100); // a no-op, whatever the handle
  }
  t.deepEqual(closedRec.types, ['connected', 'disconnected'], 'nothing more for a closed handle');
});

test('QoS outside 0-2 is refused', (t) => {
  for (const q of [3, -1, 0.5, NaN, Infinity]) {
    t.is(mqtt.publish(conn, topic, 'x', q), -1, `publish qos ${q}`);
    t.regex(mqtt.lastError(), /qos must be 0, 1 or 2/);
    t.is(mqtt.subscribe(conn, topic, q), -1, `subscribe qos ${q}`);
    t.regex(mqtt.lastError(), /qos must be 0, 1 or 2/);
  }
  // Accepted (on topics that match no subscription of this file's connection).
  t.true(mqtt.publishWithId(conn, `${topic}-q2pub`, 'x', 2) > 0, 'QoS 2 is accepted');
  t.is(mqtt.subscribe(conn, `${topic}-q2sub`, 2), 0);
});

test('topic names and filters are checked: wildcards in a name, bad filters, empty, U+0000, too long [MQTT-4.7.1-1] [MQTT-4.7.3-1] [MQTT-4.7.3-2] [MQTT-4.7.3-3]', (t) => {
  for (const name of ['a/+/b', 'a/#', '#', '+']) {
    t.is(mqtt.publish(conn, name, 'x', 0), -1, name);
    t.regex(mqtt.lastError(), /invalid topic name|may not contain \+ or #/);
  }
  for (const filter of ['a/#/b', 'a/b#', 'a+/b', 'a/+b', '#/']) {
    t.is(mqtt.subscribe(conn, filter, 0), -1, filter);
    t.regex(mqtt.lastError(), /invalid topic filter|must be the last level|must occupy a whole level/);
  }
  t.is(mqtt.publish(conn, '', 'x', 0), -1);
  t.regex(mqtt.lastError(), /empty/);
  t.is(mqtt.subscribe(conn, '', 0), -1);
  t.regex(mqtt.lastError(), /empty|invalid topic filter/);
  t.is(mqtt.publish(conn, 'a\u0000b', 'x', 0), -1);
  t.regex(mqtt.lastError(), /U\+0000/);
  t.is(mqtt.subscribe(conn, 'a/\u0000', 0), -1);
  t.regex(mqtt.lastError(), /U\+0000/);
  t.is(mqtt.publish(conn, 'a'.repeat(65536), 'x', 0), -1);
  t.regex(mqtt.lastError(), /65535/);
  // 32768 two-byte characters: 65536 bytes of UTF-8.
  t.is(mqtt.publish(conn, 'é'.repeat(32768), 'x', 0), -1);
  t.regex(mqtt.lastError(), /65535/);
  t.is(mqtt.subscribe(conn, 'f'.repeat(70000), 0), -1);
  t.regex(mqtt.lastError(), /65535/);
});

test('strings are checked, not repaired: a lone surrogate is refused everywhere', (t) => {
  for (const s of ['\uD800', 'a/\uDC00', 'x\uD83D']) {
    t.is(mqtt.publish(conn, s, 'x', 0), -1);
    t.regex(mqtt.lastError(), /topic is not well-formed UTF-16/);
    t.is(mqtt.publish(conn, topic, s, 0), -1);
    t.regex(mqtt.lastError(), /payload is not well-formed UTF-16/);
    t.is(mqtt.subscribe(conn, s, 0), -1);
    t.regex(mqtt.lastError(), /filter is not well-formed UTF-16/);
    t.is(mqtt.open('127.0.0.1', broker.port, s), -1);
    t.regex(mqtt.lastError(), /clientId is not well-formed UTF-16/);
    t.is(mqtt.openAuth('127.0.0.1', broker.port, 'id', s, 'pw'), -1);
    t.regex(mqtt.lastError(), /user is not well-formed UTF-16/);
    t.is(mqtt.openAuth('127.0.0.1', broker.port, 'id', 'u', s), -1);
    t.regex(mqtt.lastError(), /pass is not well-formed UTF-16/);
  }
  // A well-formed surrogate pair is fine.
  t.is(mqtt.publish(conn, `${topic}/🌡`, '🌡', 0), 0);
  t.is(mqtt.open('127.0.0.1', broker.port, 'a\u0000b'), -1);
  t.regex(mqtt.lastError(), /U\+0000/);
});

test('shared subscriptions: $share/<group>/<filter> is accepted; a bad group or filter is refused with a reason', async (t) => {
  const bad: [string, RegExp][] = [
    ['$share//t', /^filter: shared subscription group must not be empty/],
    ['$share/g+/t', /^filter: shared subscription group must not contain '\/', '\+' or '#'/],
    ['$share/a#b/t', /^filter: shared subscription group must not contain '\/', '\+' or '#'/],
    ['$share/g', /^filter: shared subscription needs a filter after the group/],
    ['$share/g/', /^filter: shared subscription needs a filter after the group/],
    ['$share/g/a+', /^filter: \+ must occupy a whole level/],
  ];
  for (const [filter, reason] of bad) {
    t.is(mqtt.subscribe(conn, filter, 1), -1, filter);
    t.regex(mqtt.lastError(), reason, filter);
  }
  // Other `$` filters are plain 3.1.1 filters; `$share` alone too.
  const other = uid('share');
  const good = [`$share/g/${other}/#`, `$SYS/${other}`, '$share', `$shared/g/${other}`];
  let unsubscribed = 0;
  mqtt.on(conn, 'unsubscribed', () => unsubscribed++);
  for (const filter of good) {
    t.is(mqtt.subscribe(conn, filter, 1), 0, `${filter}: ${mqtt.lastError()}`);
    t.is(mqtt.unsubscribe(conn, filter), 0, `${filter}: ${mqtt.lastError()}`);
  }
  await rec.count('subscribed', 1 + good.length);
  await waitFor('the UNSUBACKs', () => unsubscribed === good.length);
});

test('bad ports, hosts and options are refused by open()', (t) => {
  for (const port of [0, -1, 65536, 1.5, NaN, Infinity]) {
    t.is(mqtt.open('127.0.0.1', port, 'id'), -1, `port ${port}`);
    t.regex(mqtt.lastError(), /port must be an integer from 1 to 65535/);
  }
  t.is(mqtt.open('', 1883, 'id'), -1);
  t.regex(mqtt.lastError(), /host/);
  t.is(mqtt.open('127.0.0.1', 1883, 'id', { keepAlive: 70000 }), -1);
  t.regex(mqtt.lastError(), /keepAlive/);
  t.is(mqtt.open('127.0.0.1', 1883, 'id', { keepAlive: -1 }), -1);
  t.is(mqtt.open('127.0.0.1', 1883, 'id', { connectTimeoutMs: 0 }), -1);
  t.regex(mqtt.lastError(), /connectTimeoutMs/);
  t.is(mqtt.liveConnections(), 1, 'no refused open left a connection behind');
});

test('reconnect delays: at most 8, finite, not negative; a bad value throws a RangeError naming it (issue 12, defect 15)', (t) => {
  t.throws(() => mqtt.setReconnectDelays(conn, [1, 2, 3, 4, 5, 6, 7, 8, 9]), { instanceOf: RangeError, message: /delays must have at most 8 entries, got 9/ });
  for (const bad of [[-1], [NaN], [Infinity], [1, -0.5]]) {
    t.throws(() => mqtt.setReconnectDelays(conn, bad), { instanceOf: RangeError, message: /delays\[\d\] must be a finite number of seconds/ });
  }
  mqtt.publish(conn, '', 'reset lastError', 0);
  mqtt.setReconnectDelays(conn, [0.5, 1, 2, 3, 4, 5, 6, 30]);
  t.regex(mqtt.lastError(), /empty/, 'eight delays are accepted (lastError untouched)');
  mqtt.setReconnectDelays(conn, []);
  t.regex(mqtt.lastError(), /empty/, 'no delays: the 1 s default');
  t.throws(() => mqtt.setTimeout(conn, -1), { instanceOf: RangeError, message: /ms must be/ });
});

test('unknown event names are refused with a reason', (t) => {
  for (const name of ['messages', 'close', '', 'Connected', '__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    t.is(mqtt.on(conn, name as 'message', noop), -1, name);
    t.regex(mqtt.lastError(), /unknown event/);
  }
});

test('a payload larger than the buffers is refused whole, the connection stays', (t) => {
  const limits = mqtt.limits();
  t.is(mqtt.publish(conn, topic, Buffer.alloc(limits.outboundBuffer + 1), 0), -1);
  t.regex(mqtt.lastError(), /larger than|too large/);
  t.is(mqtt.state(conn), 'connected');
});

test('after all of that the connection still works', async (t) => {
  await sleep(100);
  t.is(mqtt.state(conn), 'connected');
  t.is(mqtt.publish(conn, topic, 'still here', 1), 0);
  t.is(mqtt.publish(conn, topic, Buffer.from('and bytes'), 0), 0);
  const msgs = await rec.count('message', 2);
  // (A broker may reorder across QoS levels.)
  t.deepEqual(msgs.map((m) => m.payload).sort(), ['and bytes', 'still here']);
  t.deepEqual(rec.seen.disconnected, [], 'bad input never cost the link');
});
