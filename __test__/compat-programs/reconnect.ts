// An MQTT.js program that lives through a broker restart: it subscribes on
// every `connect` and, once reconnected, sends itself a message. The test
// restarts the broker when it prints "ready".
import { connect } from 'mqtt';

const topic = `reconnect/${process.pid}`;
const client = connect(process.env.BROKER_URL!, { reconnectPeriod: 200, connectTimeout: 5000 });
const seen: string[] = [];
const note = (what: string) => {
  // Attempts while the broker is down repeat reconnect/close: note each kind once.
  if (!seen.includes(what)) seen.push(what);
};
let connects = 0;

client.on('connect', () => {
  connects++;
  if (connects > 1) note('connect');
  client.subscribe(topic, { qos: 1 }, (err) => {
    if (err) return;
    if (connects === 1) console.log('ready', client.connected, client.reconnecting);
    else client.publish(topic, 'after restart', { qos: 1 });
  });
});
client.on('close', () => note('close'));
client.on('offline', () => note('offline'));
client.on('reconnect', () => note('reconnect'));
client.on('error', () => {}); // connection refused while the broker is down
client.on('message', (t, payload) => {
  console.log('events', seen.join(' '));
  console.log('message', payload.toString(), client.connected, client.reconnecting, connects);
  client.end();
});
