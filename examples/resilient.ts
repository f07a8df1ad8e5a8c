// Pattern: a resilient connection. Auto-reconnect with the delays
// [1, 2, 5, 10, 30] seconds (the last repeats), and re-subscribe from the
// connected handler, which fires on every (re)connect: after a broker
// restart or a network glitch the subscription comes back by itself.
//
//   MQTT_URL=mqtt://127.0.0.1:1883 node --import=tsx examples/resilient.ts
//
// Runs until stopped; MAX_MESSAGES=n disconnects after n messages (for tests).

import mqtt from 'mqtt-rs-client';
import { brokerAddress } from './broker';

const maxMessages = Number(process.env.MAX_MESSAGES ?? Infinity);
const { host, port } = brokerAddress();

const conn = mqtt.open(host, port, 'sensor-01');
if (conn < 0) {
  console.error(`mqtt open failed: ${mqtt.lastError()}`);
  process.exit(1);
}
mqtt.setAutoReconnect(conn, true);
mqtt.setReconnectDelays(conn, [1, 2, 5, 10, 30]);

let received = 0;

mqtt.on(conn, 'connected', (e) => {
  console.log('connected');
  mqtt.subscribe(e.conn, 'sensors/#', 0);
});

mqtt.on(conn, 'subscribed', (e) => console.log(`subscribed to ${e.topic}`));

mqtt.on(conn, 'disconnected', (e) => {
  if (e.cause === 'requested') console.log('disconnected');
  else console.log(`disconnected (${e.reason}): will reconnect`);
});

mqtt.on(conn, 'message', (e) => {
  console.log(`${e.topic}: ${e.payload}`);
  received += 1;
  if (received >= maxMessages) mqtt.disconnect(e.conn);
});
