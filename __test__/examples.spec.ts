// The examples/ programs and the demo script, run as child processes
// (node --import=tsx ...) against aedes started by this file (and mosquitto
// for the demo's MQTT_URL path, when installed).

import anyTest from 'ava';
import mqttjs from 'mqtt';
import { startAedes, type AedesBroker } from './helpers/aedes';
import { startMosquitto } from './helpers/mosquitto';
import { runTs } from './helpers/run';
import { waitFor } from './helpers/wait';

const test = anyTest.serial;

/** A program of this repository in a child `node --import=tsx`, killed after 30 s. */
const run = (script: string, env: Record<string, string>) => runTs([script], { env });

let broker: AedesBroker;
let url: string;

anyTest.before(async () => {
  broker = await startAedes();
  url = `mqtt://127.0.0.1:${broker.port}`;
});

anyTest.after.always(async () => {
  await broker.close();
});

test('examples/telemetry.ts publishes 10 JSON readings at QoS 0, disconnects and exits 0', async (t) => {
  const js = await mqttjs.connectAsync(url, { reconnectPeriod: 0 });
  t.teardown(() => js.end(true));
  const readings: { temp: number; ts: number }[] = [];
  js.on('message', (_topic, p, packet) => {
    t.is(packet.qos, 0);
    readings.push(JSON.parse(p.toString()));
  });
  await js.subscribeAsync('sensors/living-room/temp', { qos: 1 });

  const r = await run('examples/telemetry.ts', { MQTT_URL: url }).exit;
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.match(/^published /gm)?.length, 10);
  t.regex(r.stdout, /disconnected: disconnect requested/);
  await waitFor('10 readings at MQTT.js', () => readings.length >= 10, { detail: () => `have ${readings.length}` });
  t.is(readings.length, 10);
  t.true(readings.every((x) => typeof x.temp === 'number' && typeof x.ts === 'number'));
});

test('examples/command-listener.ts subscribes at QoS 1 from the connected handler and acts on commands', async (t) => {
  const listener = run('examples/command-listener.ts', { MQTT_URL: url, MAX_COMMANDS: '2', LISTEN_SECONDS: '20' });
  t.teardown(() => listener.kill());
  t.regex(await listener.waitLine(/^subscribed to/), /commands\/actuator-01 \(QoS 1\)/);

  const js = await mqttjs.connectAsync(url, { reconnectPeriod: 0 });
  t.teardown(() => js.end(true));
  await js.publishAsync('commands/actuator-01', JSON.stringify({ action: 'open' }), { qos: 1 });
  await js.publishAsync('commands/actuator-01', 'not json', { qos: 1 });
  await js.publishAsync('commands/actuator-01', JSON.stringify({ action: 'close' }), { qos: 1 });
  const r = await listener.exit;
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.match(/^command: .*$/gm), ['command: open', 'command: close']);
  t.regex(r.stderr, /not a JSON command: not json/);
});

test('examples/command-listener.ts stops after LISTEN_SECONDS', async (t) => {
  const r = await run('examples/command-listener.ts', { MQTT_URL: url, LISTEN_SECONDS: '0.5' }).exit;
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /listened for 0\.5 s: stopping/);
  t.regex(r.stdout, /disconnected: disconnect requested/);
});

test('examples/resilient.ts reconnects after a broker restart and re-subscribes from the connected handler', async (t) => {
  let own = await startAedes();
  const port = own.port;
  t.teardown(() => own.close());
  const ownUrl = `mqtt://127.0.0.1:${port}`;
  const app = run('examples/resilient.ts', { MQTT_URL: ownUrl, MAX_MESSAGES: '2' });
  t.teardown(() => app.kill());
  await app.waitLine(/^subscribed to sensors\/#/);

  const publish = async (topic: string, payload: string) => {
    const js = await mqttjs.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    await js.publishAsync(topic, payload, { qos: 0 });
    await js.endAsync();
  };
  await publish('sensors/kitchen', 'before restart');
  await app.waitLine(/^sensors\/kitchen: before restart$/);

  await own.close();
  await app.waitLine(/will reconnect/);
  own = await startAedes(port);
  // connected and subscribed a second time (the first delay is 1 s).
  await app.waitLine(/^connected$/);
  await app.waitOutput('the re-subscription', (out) => (out.match(/^subscribed to sensors\/#/gm) ?? []).length >= 2);
  await publish('sensors/garage', 'after restart');
  const r = await app.exit;
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.match(/^connected$/gm)?.length, 2);
  t.regex(r.stdout, /^sensors\/garage: after restart$/m);
});

test('npm run demo (scripts/demo.ts) runs both patterns against embedded aedes and exits 0', async (t) => {
  // An empty MQTT_URL counts as unset.
  const r = await run('scripts/demo.ts', { MQTT_URL: '' }).exit;
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /aedes listening on 127\.0\.0\.1:\d+/);
  t.deepEqual(r.stdout.match(/command: \w+/g), ['command: open', 'command: close', 'command: calibrate']);
  t.is(r.stdout.match(/\[dashboard\] +<- sensors\/living-room\/temp /g)?.length, 10);
  t.regex(r.stdout, /--- done ---/);
});

test('the demo uses the broker of MQTT_URL when set (mosquitto)', async (t) => {
  const mosq = await startMosquitto();
  if (!mosq) return t.pass('mosquitto not installed: skipped');
  t.teardown(() => mosq.stop());
  const r = await run('scripts/demo.ts', { MQTT_URL: `mqtt://127.0.0.1:${mosq.port}` }).exit;
  t.is(r.code, 0, r.stderr);
  t.notRegex(r.stdout, /aedes listening/);
  t.is(r.stdout.match(/\[dashboard\] +<- /g)?.length, 10);
  t.regex(mosq.log(), /as actuator-01/);
});
