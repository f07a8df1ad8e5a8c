// A worker thread of __test__/bad-calls.spec.ts. It loads the package
// itself (its own handles and events) and, by workerData.mode:
//
// - 'table': runs the bad-call table (helpers/bad-calls-table.ts) and posts
//   the report to the parent;
// - 'foreign': opens two connections, posts their handles, and after the
//   parent has tried them from its own thread ('check'), posts what this
//   thread saw of them.
//
// The worker ends on its own once its connections are closed; the parent
// asserts exit code 0.

import { parentPort, workerData } from 'node:worker_threads';
import mqtt from 'mqtt-rs-client';
import { runTable, type TableOptions } from './bad-calls-table';

const port = parentPort!;
const data = workerData as TableOptions & { mode: 'table' | 'foreign' };

function fail(e: unknown): void {
  port.postMessage({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exitCode = 1;
  port.close();
}

function once(conn: number, type: 'connected' | 'subscribed' | 'disconnected'): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`conn ${conn}: no ${type}`)), 10_000);
    mqtt.on(conn, type, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function foreign(): Promise<void> {
  const topic = `${data.prefix}/foreign`;
  const a = mqtt.open('127.0.0.1', data.brokerPort, `${data.prefix}-a`);
  const b = mqtt.open('127.0.0.1', data.brokerPort, `${data.prefix}-b`);
  if (a < 0 || b < 0) throw new Error(`open failed: ${mqtt.lastError()}`);
  await Promise.all([once(a, 'connected'), once(b, 'connected')]);
  const subscribed = once(a, 'subscribed');
  mqtt.subscribe(a, topic, 0);
  await subscribed;
  const seen = { messagesOnA: [] as string[], disconnectedB: [] as string[] };
  mqtt.on(a, 'message', (m) => seen.messagesOnA.push(m.payload));
  mqtt.on(b, 'disconnected', (e) => seen.disconnectedB.push(e.reason));
  port.postMessage({ handles: { a, b, topic } });
  port.once('message', () => {
    // Give whatever the parent did time to arrive.
    setTimeout(() => {
      port.postMessage({ seen: { ...seen, stateA: mqtt.state(a), stateB: mqtt.state(b) } });
      mqtt.disconnect(a);
      mqtt.disconnect(b);
      port.close();
    }, 500);
  });
}

if (data.mode === 'foreign') {
  foreign().catch(fail);
} else {
  runTable(data).then((report) => {
    port.postMessage({ report });
    port.close();
  }, fail);
}
