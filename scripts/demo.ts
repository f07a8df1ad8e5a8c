// npm run demo: the command-listener and telemetry patterns end to end.
//
// Starts aedes in this process on a free loopback port (or uses the broker
// of MQTT_URL=mqtt://host:port), then, with this package's client:
//   1. command listener: "actuator-01" subscribes to commands/actuator-01 at
//      QoS 1 from its connected handler; a controller publishes three JSON
//      commands; the listener acts on each.
//   2. telemetry: a dashboard subscribes to sensors/living-room/temp; the
//      sensor publishes 10 JSON readings at QoS 0 and disconnects; the
//      dashboard prints what arrives.
// Prints what flows and exits 0 (1 if something did not arrive in time).

import mqtt from 'mqtt-rs-client';
import { parseMqttUrl } from '../examples/broker';
import { startAedes } from './aedes-broker';

const COMMANDS = [{ action: 'open' }, { action: 'close' }, { action: 'calibrate', offset: 0.5 }];
const READINGS = 10;

function log(who: string, text: string): void {
  console.log(`${`[${who}]`.padEnd(13)}${text}`);
}

async function startBroker(): Promise<{ host: string; port: number; close(): Promise<void> }> {
  const given = parseMqttUrl(process.env.MQTT_URL);
  if (given) return { ...given, close: async () => {} };
  const broker = await startAedes();
  log('broker', `aedes listening on 127.0.0.1:${broker.port}`);
  return { host: '127.0.0.1', port: broker.port, close: () => broker.close() };
}

/** open() that resolves on `connected` and rejects on a failed first connect. */
function connect(host: string, port: number, clientId: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const conn = mqtt.open(host, port, clientId);
    if (conn < 0) return reject(new Error(`open failed: ${mqtt.lastError()}`));
    mqtt.on(conn, 'connected', () => resolve(conn));
    mqtt.on(conn, 'disconnected', (e) => reject(new Error(`${clientId}: ${e.reason}`)));
  });
}

/** disconnect(), resolved when its final `disconnected` event has arrived. */
function close(who: string, conn: number): Promise<void> {
  return new Promise((resolve) => {
    mqtt.on(conn, 'disconnected', (e) => {
      log(who, `disconnected: ${e.reason}`);
      resolve();
    });
    mqtt.disconnect(conn);
  });
}

async function commandListener(host: string, port: number): Promise<void> {
  const topic = 'commands/actuator-01';
  let done!: () => void;
  const allHandled = new Promise<void>((resolve) => { done = resolve; });
  let subscribed!: () => void;
  const ready = new Promise<void>((resolve) => { subscribed = resolve; });

  // The listener, as in examples/command-listener.ts.
  const listener = mqtt.open(host, port, 'actuator-01');
  if (listener < 0) throw new Error(`open failed: ${mqtt.lastError()}`);
  let handled = 0;
  mqtt.on(listener, 'connected', (e) => {
    log('listener', 'connected; subscribing to commands/actuator-01 at QoS 1');
    mqtt.subscribe(e.conn, topic, 1);
  });
  mqtt.on(listener, 'subscribed', (e) => {
    log('listener', `subscribed to ${e.topic} (granted QoS ${e.qos})`);
    subscribed();
  });
  mqtt.on(listener, 'message', (e) => {
    const cmd = JSON.parse(e.payload) as { action: string };
    log('listener', `<- ${e.topic} (QoS ${e.qos}) command: ${cmd.action}`);
    if (++handled === COMMANDS.length) done();
  });
  await ready;

  const controller = await connect(host, port, 'controller');
  log('controller', 'connected');
  for (const cmd of COMMANDS) {
    const payload = JSON.stringify(cmd);
    if (mqtt.publish(controller, topic, payload, 1) !== 0) throw new Error(`publish: ${mqtt.lastError()}`);
    log('controller', `-> ${topic} ${payload}`);
  }
  await allHandled;
  await close('controller', controller);
  await close('listener', listener);
}

async function telemetry(host: string, port: number): Promise<void> {
  const topic = 'sensors/living-room/temp';
  let done!: () => void;
  const allReceived = new Promise<void>((resolve) => { done = resolve; });

  const dashboard = await connect(host, port, 'dashboard');
  let received = 0;
  mqtt.on(dashboard, 'message', (e) => {
    log('dashboard', `<- ${e.topic} ${e.payload}`);
    if (++received === READINGS) done();
  });
  await new Promise<void>((resolve) => {
    mqtt.on(dashboard, 'subscribed', () => resolve());
    mqtt.subscribe(dashboard, topic, 0);
  });
  log('dashboard', `subscribed to ${topic}`);

  // The sensor, as in examples/telemetry.ts.
  const sensor = mqtt.open(host, port, 'temp-sensor');
  if (sensor < 0) throw new Error(`open failed: ${mqtt.lastError()}`);
  const sensorGone = new Promise<void>((resolve) => {
    mqtt.on(sensor, 'disconnected', (e) => {
      log('sensor', `disconnected: ${e.reason}`);
      resolve();
    });
  });
  mqtt.on(sensor, 'connected', (e) => {
    log('sensor', 'connected');
    for (let i = 0; i < READINGS; i++) {
      const payload = JSON.stringify({ temp: 22.5 + i / 10, ts: Date.now() });
      mqtt.publish(e.conn, topic, payload, 0);
      log('sensor', `-> ${topic} ${payload}`);
    }
    mqtt.disconnect(e.conn);
  });
  await allReceived;
  await sensorGone;
  await close('dashboard', dashboard);
}

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    console.error('demo: timed out');
    process.exit(1);
  }, 20_000);
  watchdog.unref();
  const broker = await startBroker();
  try {
    console.log('--- command listener ---');
    await commandListener(broker.host, broker.port);
    console.log('--- telemetry ---');
    await telemetry(broker.host, broker.port);
  } finally {
    await broker.close();
  }
  console.log('--- done ---');
}

main().catch((e: unknown) => {
  console.error(`demo failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
