// An MQTT.js program: subscribe, publish a few messages at each QoS, print
// what arrives, end. compat.spec.ts runs it as written and with its import
// changed to 'mqtt-rs-client/compat'; the outputs must be the same.
import { connect } from 'mqtt';

const base = `compat/${process.pid}`;
const client = connect(process.env.BROKER_URL!, { clientId: `pubsub-${process.pid}`, keepalive: 30 });
const received: string[] = [];
const acks: string[] = [];

client.on('connect', (connack) => {
  console.log('connect', connack.cmd, connack.returnCode, connack.sessionPresent);
  client.subscribe({ [`${base}/a`]: { qos: 1 }, [`${base}/b/+`]: { qos: 2 } }, (err, granted) => {
    if (err) throw err;
    console.log('granted', JSON.stringify(granted!.map((g) => [g.topic.slice(base.length), g.qos])));
    client.publish(`${base}/a`, 'hello', { qos: 0 });
    client.publish(`${base}/a`, Buffer.from([0, 1, 2, 255]), { qos: 1 }, (e) => step(acks, `puback ${e ?? 'ok'}`));
    client.publish(`${base}/b/c`, 'qos2', { qos: 2, retain: false }, (e) => step(acks, `pubcomp ${e ?? 'ok'}`));
    client.publish(`${base}/ignored`, 'not subscribed');
    client.publish(`${base}/b/d`, 'last');
  });
});

client.on('message', (topic, payload, packet) => {
  step(received, `${topic.slice(base.length)} ${payload.toString('hex')} qos=${packet.qos} retain=${packet.retain} cmd=${packet.cmd}`);
});

// Acknowledgements and messages interleave as the network has it: print
// them sorted once all are in.
function step(list: string[], line: string): void {
  list.push(line);
  if (received.length === 4 && acks.length === 2) {
    for (const l of [...acks.sort(), ...received.sort()]) console.log(l);
    client.unsubscribe([`${base}/a`, `${base}/b/+`], (err) => {
      console.log('unsubscribed', err ?? 'ok');
      client.end(() => console.log('end callback'));
    });
  }
}

client.on('close', () => console.log('close'));
client.on('end', () => console.log('end event', client.connected));
client.on('error', (e) => console.log('error', e.message));
