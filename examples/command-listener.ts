// Pattern: event-driven command listener. Subscribe at QoS 1 from the
// connected handler (it runs on every connect), act on each command.
//
//   MQTT_URL=mqtt://127.0.0.1:1883 node --import=tsx examples/command-listener.ts
//
// For demos and tests it can stop by itself:
//   MAX_COMMANDS=3     disconnect after 3 commands
//   LISTEN_SECONDS=10  disconnect after 10 seconds

import mqtt from 'mqtt-rs-client';
import { brokerAddress } from './broker';

const CLIENT_ID = 'actuator-01';
const TOPIC = `commands/${CLIENT_ID}`;
const maxCommands = Number(process.env.MAX_COMMANDS ?? Infinity);
const listenSeconds = Number(process.env.LISTEN_SECONDS ?? Infinity);
const { host, port } = brokerAddress();

const conn = mqtt.open(host, port, CLIENT_ID);
if (conn < 0) {
  console.error(`mqtt open failed: ${mqtt.lastError()}`);
  process.exit(1);
}

let handled = 0;

mqtt.on(conn, 'connected', (e) => {
  console.log(`connected to ${host}:${port}`);
  if (mqtt.subscribe(e.conn, TOPIC, 1) !== 0) console.error(`subscribe refused: ${mqtt.lastError()}`);
});

mqtt.on(conn, 'subscribed', (e) => {
  if (e.ok) console.log(`subscribed to ${e.topic} (QoS ${e.qos})`);
  else console.error(`the broker refused the subscription to ${e.topic}`);
});

mqtt.on(conn, 'message', (e) => {
  let action: unknown;
  try {
    action = (JSON.parse(e.payload) as { action?: unknown }).action;
  } catch {
    console.error(`not a JSON command: ${e.payload}`);
    return;
  }
  console.log(`command: ${String(action)}`);
  handled += 1;
  if (handled >= maxCommands) mqtt.disconnect(e.conn);
});

mqtt.on(conn, 'disconnected', (e) => {
  console.log(`disconnected: ${e.reason}`);
  if (e.cause !== 'requested') {
    process.exitCode = 1;
    mqtt.disconnect(e.conn);
  }
});

if (Number.isFinite(listenSeconds)) {
  // unref(): the timer alone does not keep the process alive; the connection does.
  setTimeout(() => {
    console.log(`listened for ${listenSeconds} s: stopping`);
    mqtt.disconnect(conn);
  }, listenSeconds * 1000).unref();
}
