// An MQTT.js program under load: 20,000 QoS 1 publishAsync calls at once
// (no await in between), then waits for every PUBACK and every message.
import { connectAsync } from 'mqtt';

const COUNT = 20_000;
const topic = `load/${process.pid}`;

async function main(): Promise<void> {
  const url = process.env.BROKER_URL!;
  const sub = await connectAsync(url, { clientId: `load-sub-${process.pid}` });
  let received = 0;
  let inOrder = true;
  const all = new Promise<void>((resolve) => {
    sub.on('message', (_t, payload) => {
      if (Number(payload.toString()) !== received) inOrder = false;
      if (++received === COUNT) resolve();
    });
  });
  await sub.subscribeAsync(topic, { qos: 1 });

  const pub = await connectAsync(url, { clientId: `load-pub-${process.pid}` });
  const acks = await Promise.all(Array.from({ length: COUNT }, (_, i) => pub.publishAsync(topic, String(i), { qos: 1 })));
  console.log('acknowledged', acks.length);
  await all;
  console.log('received', received, 'in order', inOrder);
  await pub.endAsync();
  await sub.endAsync();
}

main().catch((e) => {
  console.log('failed', e);
  process.exit(1);
});
