// An MQTT.js program with the Promise API: a responder answers requests on
// a reply topic; the requester sends ten and prints the answers.
import { connectAsync } from 'mqtt';

const base = `rr/${process.pid}`;

async function main(): Promise<void> {
  const url = process.env.BROKER_URL!;
  const responder = await connectAsync(url, { clientId: `responder-${process.pid}` });
  responder.on('message', (topic, payload) => {
    const id = topic.split('/').pop();
    responder.publish(`${base}/response/${id}`, `${payload.toString().toUpperCase()}!`, { qos: 1 });
  });
  await responder.subscribeAsync(`${base}/request/+`, { qos: 1 });

  const requester = await connectAsync(url, { clientId: `requester-${process.pid}` });
  const waiting = new Map<string, (answer: string) => void>();
  requester.on('message', (topic, payload) => waiting.get(topic.split('/').pop()!)?.(payload.toString()));
  const granted = await requester.subscribeAsync(`${base}/response/#`, { qos: 1 });
  console.log('granted', granted.length, granted[0].qos);

  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) => new Promise<string>((resolve) => {
      waiting.set(String(i), resolve);
      void requester.publishAsync(`${base}/request/${i}`, `question ${i}`, { qos: 1 });
    })),
  );
  for (const a of answers) console.log(a);
  await requester.unsubscribeAsync(`${base}/response/#`);
  await requester.endAsync();
  await responder.endAsync();
  console.log('done', requester.connected, responder.connected);
}

main().catch((e) => {
  console.log('failed', e);
  process.exit(1);
});
