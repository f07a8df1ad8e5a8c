// Smoke test of the toolchain and the test harness: the addon loads through
// the TypeScript API, the package root works from require() and import, and
// the three test servers (mosquitto, aedes, the scripted peer) answer.

import test from 'ava';
import mqttjs from 'mqtt';
import mqtt, { coreVersion } from 'mqtt-rs-client';
import { startAedes } from './helpers/aedes';
import { startMosquitto } from './helpers/mosquitto';
import { PacketType, decodeConnect, decodePublish, packetId, packets, startPeer } from './helpers/peer';
import { run } from './helpers/run';

/** Connects MQTT.js, subscribes, publishes one message to itself, returns its payload. */
async function roundTrip(port: number, opts: mqttjs.IClientOptions = {}): Promise<string> {
  const client = await mqttjs.connectAsync({ host: '127.0.0.1', port, reconnectPeriod: 0, ...opts });
  try {
    const got = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())));
    await client.subscribeAsync('smoke/t', { qos: 1 });
    await client.publishAsync('smoke/t', 'hello', { qos: 1 });
    return await got;
  } finally {
    await client.endAsync();
  }
}

test('the addon answers through the TypeScript API', (t) => {
  t.regex(coreVersion(), /^\d+\.\d+\.\d+/);
  t.is(mqtt.coreVersion(), coreVersion());
});

test('the package root works with require(), default import and namespace import', async (t) => {
  const script = [
    "import { createRequire } from 'node:module';",
    "import mqtt from 'mqtt-rs-client';",
    "import * as ns from 'mqtt-rs-client';",
    "const cjs = createRequire(import.meta.url)('mqtt-rs-client');",
    'console.log(JSON.stringify([typeof mqtt.coreVersion, typeof ns.coreVersion, typeof cjs.coreVersion, typeof cjs.default.coreVersion]));',
  ].join('\n');
  const r = await run(process.execPath, ['--input-type=module', '-e', script]).exit;
  t.is(r.code, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout), ['function', 'function', 'function', 'function']);
});

test('mosquitto: MQTT.js round trip, restart on the same port, password file', async (t) => {
  const broker = await startMosquitto({ passwords: { alice: 'secret' } });
  if (!broker) {
    t.log('mosquitto is not installed: skipped');
    t.pass();
    return;
  }
  try {
    t.is(await roundTrip(broker.port), 'hello');
    const port = broker.port;
    await broker.restart();
    t.is(broker.port, port);
    t.is(await roundTrip(broker.port, { username: 'alice', password: 'secret' }), 'hello');
    await t.throwsAsync(roundTrip(broker.port, { username: 'alice', password: 'wrong' }));
  } finally {
    await broker.stop();
  }
});

test('aedes: MQTT.js round trip', async (t) => {
  const broker = await startAedes();
  try {
    t.is(await roundTrip(broker.port), 'hello');
  } finally {
    await broker.close();
  }
});

test('peer: scripted CONNACK, SUBACK, PUBLISH, then the link is dropped', async (t) => {
  const peer = await startPeer();
  const client = mqttjs.connect({ host: '127.0.0.1', port: peer.port, clientId: 'smoke-1', reconnectPeriod: 0 });
  try {
    const conn = await peer.nextConnection();
    const connect = decodeConnect(await conn.nextPacket(PacketType.CONNECT));
    t.is(connect.protocolName, 'MQTT');
    t.is(connect.protocolLevel, 4);
    t.is(connect.clientId, 'smoke-1');

    const connected = new Promise((resolve) => client.once('connect', resolve));
    conn.write(packets.connack(0));
    await connected;

    const subscribed = client.subscribeAsync('peer/#', { qos: 1 });
    const sub = await conn.nextPacket(PacketType.SUBSCRIBE);
    t.is(sub.flags, 0b0010);
    conn.write(packets.suback(packetId(sub), 1));
    t.is((await subscribed)[0].qos, 1);

    const message = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())));
    conn.write(packets.publish('peer/x', 'from peer', { qos: 1, id: 7 }));
    t.is(await message, 'from peer');
    const ack = await conn.nextPacket(PacketType.PUBACK);
    t.is(packetId(ack), 7);

    const pub = client.publishAsync('peer/out', Buffer.from([0, 1, 2]), { qos: 0 });
    const out = decodePublish(await conn.nextPacket(PacketType.PUBLISH));
    await pub;
    t.is(out.topic, 'peer/out');
    t.deepEqual([...out.payload], [0, 1, 2]);

    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    conn.destroy();
    await closed;
    await conn.waitClosed();
    t.is(peer.connectionCount, 1);
    t.is(peer.connectionTimes.length, 1);
  } finally {
    client.end(true);
    await peer.close();
  }
});
