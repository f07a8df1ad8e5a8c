// The shipped declarations, as a user installs them, type-check in consumer
// projects under every module resolution TypeScript has for Node and
// bundlers (node10, node16, nodenext, bundler), with the pinned TypeScript
// and with TypeScript 5.x (the "typescript-5" devDependency), skipLibCheck
// off.
//
// The package is packed once (scripts/pack.sh: npm pack of the main package,
// so only its "files" go in, and of the linux-x64-gnu platform package) and
// installed offline from the two tarballs into a temporary directory; each
// consumer project lives below it. The consumer code proves that the types
// are real and not `any` (nor the error type of an unresolved import): with
// either, the @ts-expect-error lines would be unused (TS2578).

import test from 'ava';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLEAN_ENV, packAndInstall } from './helpers/pack';
import { run as runProcess } from './helpers/run';

const ROOT = path.join(__dirname, '..');

interface Exit {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(file: string, args: string[], cwd: string): Promise<Exit> {
  const r = await runProcess(file, args, { cwd, baseEnv: CLEAN_ENV, timeoutMs: 0 }).exit;
  return { code: r.code !== null && r.code >= 0 ? r.code : -1, stdout: r.stdout, stderr: r.stderr };
}

interface Compiler {
  version: string;
  tsc: string;
}

function compiler(pkg: string): Compiler {
  const dir = path.join(ROOT, 'node_modules', pkg);
  const { version } = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string };
  return { version, tsc: path.join(dir, 'bin', 'tsc') };
}

/** The pinned compiler ("typescript") and TypeScript 5.x ("typescript-5"). */
const COMPILERS = [compiler('typescript'), compiler('typescript-5')];

// What every consumer checks, whatever its module format.
const IMPORTS = `import mqtt, {
  type MqttConnected, type MqttDisconnected, type MqttDrain, type MqttEvents, type MqttLimits,
  type MqttMessage, type MqttOpenOptions, type MqttOversized, type MqttPublished,
  type MqttSubscribed, type MqttUnsubscribed,
} from 'mqtt-rs-client';
import * as ns from 'mqtt-rs-client';
import compat, { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt-rs-client/compat';
`;

const CHECKS = `
// Every exported type is real: neither any nor unresolved (TypeScript gives
// an unresolved import an error type that accepts anything), so a wrong value
// is refused.
// @ts-expect-error not an MqttConnected
const t1: MqttConnected = 1;
// @ts-expect-error not an MqttDisconnected
const t2: MqttDisconnected = 1;
// @ts-expect-error not an MqttSubscribed
const t3: MqttSubscribed = 1;
// @ts-expect-error not an MqttMessage
const t4: MqttMessage = 1;
// @ts-expect-error not an MqttOpenOptions
const t5: MqttOpenOptions = 1;
// @ts-expect-error not an MqttLimits
const t6: MqttLimits = 1;
// @ts-expect-error not an MqttEvents
const t7: MqttEvents = 1;
// @ts-expect-error not an MqttPublished
const t8: MqttPublished = 1;
// @ts-expect-error not an MqttUnsubscribed
const t9: MqttUnsubscribed = 1;
// @ts-expect-error not an MqttDrain
const t10: MqttDrain = 1;
// @ts-expect-error not an MqttOversized
const t11: MqttOversized = 1;
// @ts-expect-error no such function on the default export
mqtt.nothing();
// @ts-expect-error no such export
ns.nothing();

const options: MqttOpenOptions = { keepAlive: 30, connectTimeoutMs: 5000 };
// @ts-expect-error keepAlive is a number
const badOptions: MqttOpenOptions = { keepAlive: '30' };

const conn: number = mqtt.open('127.0.0.1', 1883, 'types', options);
mqtt.on(conn, 'connected', (e) => {
  const c: number = e.conn;
  const s: boolean = e.sessionPresent;
});
mqtt.on(conn, 'disconnected', (e) => {
  const r: string = e.reason;
  // @ts-expect-error reason is a string, not a number
  const n: number = e.reason;
});
mqtt.on(conn, 'subscribed', (e) => {
  const ok: boolean = e.ok;
  const qos: number = e.qos;
});
mqtt.on(conn, 'message', (m) => {
  const msg: MqttMessage = m;
  const bytes: Uint8Array = msg.bytes;
  // @ts-expect-error payload is a string
  const p: number = msg.payload;
});
mqtt.on(conn, 'published', (e) => {
  const id: number = e.packetId;
  // @ts-expect-error packetId is a number
  const s: string = e.packetId;
});
mqtt.on(conn, 'oversized', (e) => {
  const size: number = e.size;
});
// @ts-expect-error qos is a number, not a string
mqtt.publish(conn, 't', 'p', 'x');
const id: number = mqtt.publishWithId(conn, 't', 'p', 1);
// @ts-expect-error there is no such event
mqtt.on(conn, 'nothing', () => {});

ns.publish(conn, 'sensors/temp', new Uint8Array([1, 2]), 1, true);
ns.subscribe(conn, 'commands/#', 1);
const state: 'connecting' | 'connected' | 'disconnected' = ns.state(conn);
const maxConnections: number = ns.limits().maxConnections;

// The compat entry ('mqtt-rs-client/compat'): MQTT.js's shape, real types.
const copts: IClientOptions = { clientId: 'types', keepalive: 30, reconnectPeriod: 0 };
// @ts-expect-error keepalive is a number
const badCopts: IClientOptions = { keepalive: '30' };
const client: MqttClient = connect('mqtt://127.0.0.1:1883', copts);
compat.connect({ host: '127.0.0.1', port: 1883 });
client.on('message', (topic, payload, packet) => {
  const t: string = topic;
  const b: Buffer = payload;
  const p: IPublishPacket = packet;
  // @ts-expect-error qos is a number
  const q: string = packet.qos;
});
client.on('connect', (connack) => {
  const present: boolean = connack.sessionPresent;
});
client.publish('t', 'p', { qos: 1 }, (err) => {});
// @ts-expect-error qos is 0, 1 or 2
client.publish('t', 'p', { qos: 3 });
const granted: Promise<{ topic: string; qos: number }[]> = client.subscribeAsync({ 'a/#': { qos: 1 } });
async function iterate(): Promise<void> {
  for await (const m of client.messages('a/#')) {
    const mt: string = m.topic;
    const mp: Buffer = m.payload;
  }
}
// @ts-expect-error no such method
client.nothing();
`;

// Only where the file is CommonJS (import = require is not ESM syntax).
const REQUIRE_CHECKS = `
import required = require('mqtt-rs-client');
required.setAutoReconnect(conn, true);
required.default.setReconnectDelays(conn, [1, 2, 5]);
// @ts-expect-error delays are numbers
required.setReconnectDelays(conn, ['1']);
`;

const commonjsSource = IMPORTS + CHECKS + REQUIRE_CHECKS;
const esmSource = IMPORTS + CHECKS;

interface Setup {
  id: string;
  name: string;
  options: Record<string, string>;
  /** file name -> source; .cts is CommonJS and .mts is ESM under node16/nodenext */
  files: Record<string, string>;
}

const SETUPS: Setup[] = [
  {
    id: 'node10',
    name: 'module commonjs + moduleResolution node10',
    options: { module: 'commonjs', moduleResolution: 'node10' },
    files: { 'consumer.ts': commonjsSource },
  },
  {
    id: 'node16',
    name: 'module node16 + moduleResolution node16',
    options: { module: 'node16', moduleResolution: 'node16' },
    files: { 'consumer.cts': commonjsSource, 'consumer.mts': esmSource },
  },
  {
    id: 'nodenext',
    name: 'module nodenext + moduleResolution nodenext',
    options: { module: 'nodenext', moduleResolution: 'nodenext' },
    files: { 'consumer.cts': commonjsSource, 'consumer.mts': esmSource },
  },
  {
    id: 'bundler-esnext',
    name: 'module esnext + moduleResolution bundler',
    options: { module: 'esnext', moduleResolution: 'bundler' },
    files: { 'consumer.ts': esmSource },
  },
  {
    id: 'bundler-preserve',
    name: 'module preserve + moduleResolution bundler',
    options: { module: 'preserve', moduleResolution: 'bundler' },
    files: { 'consumer.ts': commonjsSource },
  },
];

/** The temporary directory holding node_modules/mqtt-rs-client and the consumer projects. */
let consumers = '';

test.before(async () => {
  consumers = (await packAndInstall('mqtt-rs-client-types-')).dir;
  // A Node project has @types/node (index.d.ts names Buffer); this one's.
  mkdirSync(path.join(consumers, 'node_modules', '@types'), { recursive: true });
  symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(consumers, 'node_modules', '@types', 'node'), 'dir');
});

test.after.always(() => {
  if (consumers) rmSync(consumers, { recursive: true, force: true });
});

// One compiler run at a time: each takes a core for a few seconds, and run
// together they would all near the timeout at once on a busy machine.
for (const ts of COMPILERS) {
  for (const setup of SETUPS) {
    test.serial(`TypeScript ${ts.version}, ${setup.name}: the installed declarations resolve, with real types`, async (t) => {
      const dir = path.join(consumers, `ts-${ts.version}-${setup.id}`);
      mkdirSync(dir);
      for (const [name, source] of Object.entries(setup.files)) writeFileSync(path.join(dir, name), source);
      const compilerOptions: Record<string, unknown> = {
        target: 'es2022',
        lib: ['es2022'],
        strict: true,
        esModuleInterop: true,
        skipLibCheck: false,
        noEmit: true,
        types: ['node'],
        ...setup.options,
      };
      // TypeScript 6 deprecates node10 (removed in 7) and asks for this to accept it.
      if (setup.options.moduleResolution === 'node10' && Number(ts.version.split('.')[0]) >= 6) {
        compilerOptions.ignoreDeprecations = '6.0';
      }
      const tsconfig = { compilerOptions, files: Object.keys(setup.files) };
      writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
      const r = await run(process.execPath, [ts.tsc, '-p', dir], dir);
      t.is(r.stdout + r.stderr, '', `tsc ${ts.version} -p ${dir}`);
      t.is(r.code, 0);
    });
  }
}

test('the installed package loads with require() and import', async (t) => {
  const script = [
    "const cjs = require('mqtt-rs-client');",
    "const compat = require('mqtt-rs-client/compat');",
    "Promise.all([import('mqtt-rs-client'), import('mqtt-rs-client/compat')]).then(([esm, esmCompat]) => console.log(JSON.stringify([",
    '  typeof cjs.open, typeof cjs.default.on, typeof esm.default.open, typeof esm.publish, cjs.coreVersion() === esm.coreVersion(),',
    '  typeof compat.connect, typeof esmCompat.connect, typeof esmCompat.default.connect, compat.MqttClient === esmCompat.MqttClient,',
    '])));',
  ].join('\n');
  const r = await run(process.execPath, ['-e', script], consumers);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout), ['function', 'function', 'function', 'function', true, 'function', 'function', 'function', true]);
});
