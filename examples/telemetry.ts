// Pattern: sensor telemetry. Connect, publish 10 JSON readings at QoS 0 from
// the connected handler, then disconnect; the process then exits on its own.
//
//   MQTT_URL=mqtt://127.0.0.1:1883 node --import=tsx examples/telemetry.ts

import mqtt from 'mqtt-rs-client';
import { brokerAddress } from './broker';

const TOPIC = 'sensors/living-room/temp';
const { host, port } = brokerAddress();

const conn = mqtt.open(host, port, 'temp-sensor');
if (conn < 0) {
  console.error(`mqtt open failed: ${mqtt.lastError()}`);
  process.exit(1);
}

mqtt.on(conn, 'connected', (e) => {
  console.log(`connected to ${host}:${port}`);
  for (let i = 0; i < 10; i++) {
    const payload = JSON.stringify({ temp: 22.5 + i / 10, ts: Date.now() });
    // 0 = queued whole; -1 = not queued (see lastError(): backpressure or bad input).
    if (mqtt.publish(e.conn, TOPIC, payload, 0) === 0) {
      console.log(`published ${TOPIC} ${payload}`);
    } else {
      console.error(`publish refused: ${mqtt.lastError()}`);
    }
  }
  // Flushes the ten readings, then sends DISCONNECT and closes.
  mqtt.disconnect(e.conn);
});

mqtt.on(conn, 'disconnected', (e) => {
  console.log(`disconnected: ${e.reason}`);
  if (e.cause !== 'requested') {
    // The broker was not reachable (no auto-reconnect here): give up.
    process.exitCode = 1;
    mqtt.disconnect(e.conn);
  }
});
