// The package as a stranger gets it: the two tarballs of scripts/pack.sh
// (the main package and the linux-x64-gnu platform package).
//
// - The main tarball ships only what runs: the TypeScript API (dist/), the
//   generated loader and its declarations, package.json and README.md; no
//   tests, Rust sources, benches, nor the addon itself (it comes from the
//   platform package, an optionalDependency).
// - No toolchain: with cargo and rustc taken out of PATH, `npm install
//   --offline` of the two tarballs into a temporary project, then a CommonJS
//   script, an ESM script and a TypeScript consumer (tsc --noEmit --strict
//   against the shipped declarations, then compiled and run) each connect to
//   mosquitto, subscribe, publish, and receive their message.
// - The installed size and the time of require() are logged (t.log).
//
// When the CLI lands (bin "mqtt-rs", cli/), its compiled files join
// EXPECTED_MAIN below.

import test, { type ExecutionContext } from 'ava';
import { accessSync, constants, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto';
import { CLEAN_ENV, packAndInstall, type Packed } from './helpers/pack';
import { ROOT, run } from './helpers/run';

const EXPECTED_MAIN = [
  'LICENSE',
  'README.md',
  'compat/package.json',
  'dist/cli/mqtt-rs.js',
  'dist/typescript/compat.d.ts',
  'dist/typescript/compat.js',
  'dist/typescript/delivery-hold.d.ts',
  'dist/typescript/delivery-hold.js',
  'dist/typescript/message-stream.d.ts',
  'dist/typescript/message-stream.js',
  'dist/typescript/mqtt.d.ts',
  'dist/typescript/mqtt.js',
  'index.d.ts',
  'index.js',
  'package.json',
];
const EXPECTED_PLATFORM = ['README.md', 'mqtt-rs-client.linux-x64-gnu.node', 'package.json'];

/** PATH without any directory that holds cargo or rustc (~/.cargo/bin, /usr/bin when Debian's rustc is there...). */
function pathWithoutRust(): string {
  const has = (dir: string, name: string): boolean => {
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => dir && !has(dir, 'cargo') && !has(dir, 'rustc') && !dir.includes('.cargo'))
    .join(path.delimiter);
}

const NO_RUST_ENV: NodeJS.ProcessEnv = { ...CLEAN_ENV, PATH: pathWithoutRust() };
delete NO_RUST_ENV.CARGO_HOME;
delete NO_RUST_ENV.RUSTUP_HOME;
delete NO_RUST_ENV.CARGO_TARGET_DIR;

function tarList(tarball: string): Promise<string[]> {
  return run('tar', ['tzf', tarball], { baseEnv: CLEAN_ENV }).exit.then((r) => {
    if (r.code !== 0) throw new Error(`tar tzf ${tarball}: ${r.stderr}`);
    return r.stdout
      .split('\n')
      .filter((l) => l && !l.endsWith('/'))
      .map((l) => l.replace(/^package\//, ''))
      .sort();
  });
}

function duKiB(dir: string): number {
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    bytes += entry.isDirectory() ? duKiB(file) * 1024 : statSync(file).size;
  }
  return bytes / 1024;
}

let packed: Packed | undefined;
let broker: Mosquitto | null = null;

test.before(async () => {
  // Packing is a build step (the toolchain may be there); installing is not.
  packed = await packAndInstall('mqtt-rs-client-package-', NO_RUST_ENV);
  broker = await startMosquitto();
});

test.after.always(async () => {
  await broker?.stop();
  if (packed) rmSync(packed.dir, { recursive: true, force: true });
});

test('the main tarball ships only the runtime files', async (t) => {
  const files = await tarList(packed!.tarballs[0]);
  t.deepEqual(files, EXPECTED_MAIN);
  for (const f of files) {
    t.false(/^(crates|bindings|__test__|bench|fuzz|firmware-esp32|examples|scripts|docs|npm|target)\//.test(f), f);
    t.false(/\.(rs|node|map|ts)$/.test(f) && !f.endsWith('.d.ts'), f);
    t.false(/(^|\/)Cargo\.(toml|lock)$/.test(f), f);
  }
});

test('the installed main package names the platform package as an optionalDependency, same version', (t) => {
  const file = path.join(packed!.dir, 'node_modules', 'mqtt-rs-client', 'package.json');
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { version: string; optionalDependencies?: Record<string, string> };
  t.is(pkg.optionalDependencies?.['mqtt-rs-client-linux-x64-gnu'], pkg.version);
});

test('the platform tarball holds the addon, for linux x64 glibc', async (t) => {
  t.deepEqual(await tarList(packed!.tarballs[1]), EXPECTED_PLATFORM);
  const file = path.join(packed!.dir, 'node_modules', 'mqtt-rs-client-linux-x64-gnu', 'package.json');
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { os: string[]; cpu: string[]; libc: string[]; main: string };
  t.deepEqual([pkg.os, pkg.cpu, pkg.libc], [['linux'], ['x64'], ['glibc']]);
  t.is(pkg.main, 'mqtt-rs-client.linux-x64-gnu.node');
});

const CJS = `
const mqtt = require('mqtt-rs-client');
const port = Number(process.env.MQTT_PORT);
const topic = 'package/cjs';
const timer = setTimeout(() => { console.error('timed out'); process.exit(1); }, 10000);
const conn = mqtt.open('127.0.0.1', port, 'package-cjs');
mqtt.on(conn, 'connected', () => mqtt.subscribe(conn, topic, 1));
mqtt.on(conn, 'subscribed', () => mqtt.publish(conn, topic, 'hello from cjs', 1));
mqtt.on(conn, 'message', (m) => {
  console.log(m.topic + ' ' + m.payload);
  clearTimeout(timer);
  mqtt.disconnect(conn);
});
`;

const ESM = `
import mqtt, { open, on, subscribe, publish } from 'mqtt-rs-client';
const port = Number(process.env.MQTT_PORT);
const topic = 'package/esm';
const timer = setTimeout(() => { console.error('timed out'); process.exit(1); }, 10000);
const conn = open('127.0.0.1', port, 'package-esm');
on(conn, 'connected', () => subscribe(conn, topic, 1));
on(conn, 'subscribed', () => publish(conn, topic, 'hello from esm', 1));
on(conn, 'message', (m) => {
  console.log(m.topic + ' ' + m.payload);
  clearTimeout(timer);
  mqtt.disconnect(conn);
});
`;

const TS = `
import mqtt, { type MqttMessage } from 'mqtt-rs-client';
const port: number = Number(process.env.MQTT_PORT);
const topic = 'package/ts';
const timer = setTimeout(() => { console.error('timed out'); process.exit(1); }, 10000);
const conn: number = mqtt.open('127.0.0.1', port, 'package-ts', { keepAlive: 30 });
mqtt.on(conn, 'connected', () => mqtt.subscribe(conn, topic, 1));
mqtt.on(conn, 'subscribed', () => mqtt.publish(conn, topic, new TextEncoder().encode('hello from ts'), 1));
mqtt.on(conn, 'message', (m: MqttMessage) => {
  console.log(m.topic + ' ' + m.payload);
  clearTimeout(timer);
  mqtt.disconnect(conn);
});
`;

/** Runs `file` (written from `source` unless that is empty) in the consumer project. */
async function consumer(t: ExecutionContext, file: string, source: string, expected: string): Promise<void> {
  if (!broker) return void t.pass('mosquitto not installed');
  const dir = packed!.dir;
  if (source) writeFileSync(path.join(dir, file), source);
  const r = await run(process.execPath, [file], { cwd: dir, baseEnv: NO_RUST_ENV, env: { MQTT_PORT: String(broker.port) }, timeoutMs: 20_000 }).exit;
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), expected);
}

test('cargo and rustc are not on the PATH of the consumers', async (t) => {
  for (const tool of ['cargo', 'rustc']) {
    const r = await run('sh', ['-c', `command -v ${tool}`], { baseEnv: NO_RUST_ENV }).exit;
    t.not(r.code, 0, `${tool} found: ${r.stdout}`);
  }
});

test('no toolchain: a CommonJS script publishes and receives', (t) => consumer(t, 'consumer.cjs', CJS, 'package/cjs hello from cjs'));

test('no toolchain: an ESM script publishes and receives', (t) => consumer(t, 'consumer.mjs', ESM, 'package/esm hello from esm'));

test('no toolchain: a TypeScript consumer type-checks strictly against the shipped declarations, then runs', async (t) => {
  const dir = path.join(packed!.dir, 'ts');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'consumer.ts'), TS);
  // A Node project has @types/node (index.d.ts names Buffer); this one's.
  mkdirSync(path.join(packed!.dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(packed!.dir, 'node_modules', '@types', 'node'), 'dir');
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const common = ['--strict', '--skipLibCheck', 'false', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', 'consumer.ts'];
  const check = await run(process.execPath, [tsc, '--noEmit', ...common], { cwd: dir, baseEnv: NO_RUST_ENV, timeoutMs: 60_000 }).exit;
  t.is(check.stdout + check.stderr, '', 'tsc --noEmit --strict');
  t.is(check.code, 0);
  const emit = await run(process.execPath, [tsc, '--outDir', 'out', ...common], { cwd: dir, baseEnv: NO_RUST_ENV, timeoutMs: 60_000 }).exit;
  t.is(emit.code, 0, emit.stdout + emit.stderr);
  await consumer(t, path.join('ts', 'out', 'consumer.js'), '', 'package/ts hello from ts');
});

test('no toolchain: the installed mqtt-rs command runs (npm links the bin) and round-trips a message through mosquitto', async (t) => {
  if (!broker) return void t.pass('mosquitto not installed');
  const bin = path.join(packed!.dir, 'node_modules', '.bin', 'mqtt-rs');
  const help = await run(bin, ['pub', '--help'], { cwd: packed!.dir, baseEnv: NO_RUST_ENV, timeoutMs: 20_000 }).exit;
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /-t/);
  const port = String(broker.port);
  // Retained, so the subscriber gets it whenever its subscription lands.
  const pub = await run(bin, ['pub', '-p', port, '-t', 'package/cli', '-m', 'hello from the bin', '-q', '1', '-r'], { cwd: packed!.dir, baseEnv: NO_RUST_ENV, timeoutMs: 20_000 }).exit;
  t.is(pub.code, 0, pub.stderr);
  const got = await run(bin, ['sub', '-p', port, '-t', 'package/cli', '-C', '1'], { cwd: packed!.dir, baseEnv: NO_RUST_ENV, timeoutMs: 20_000 }).exit;
  t.is(got.code, 0, got.stderr);
  t.is(got.stdout.trim(), 'hello from the bin');
});

test('installed size and require() time', async (t) => {
  const modules = path.join(packed!.dir, 'node_modules');
  const main = duKiB(path.join(modules, 'mqtt-rs-client'));
  const platform = duKiB(path.join(modules, 'mqtt-rs-client-linux-x64-gnu'));
  t.log(`installed: mqtt-rs-client ${main.toFixed(0)} KiB + mqtt-rs-client-linux-x64-gnu ${platform.toFixed(0)} KiB`);
  const script = [
    "const { performance } = require('node:perf_hooks');",
    'const t0 = performance.now();',
    "const m = require('mqtt-rs-client');",
    'const ms = performance.now() - t0;',
    "const where = require.resolve('mqtt-rs-client-linux-x64-gnu');",
    'console.log(JSON.stringify({ ms, version: m.coreVersion(), where }));',
  ].join('\n');
  const r = await run(process.execPath, ['-e', script], { cwd: packed!.dir, baseEnv: NO_RUST_ENV }).exit;
  t.is(r.code, 0, r.stderr);
  const { ms, version, where } = JSON.parse(r.stdout) as { ms: number; version: string; where: string };
  t.log(`require('mqtt-rs-client'): ${ms.toFixed(1)} ms (cold process, addon from ${path.relative(packed!.dir, where)})`);
  t.regex(version, /^\d+\.\d+\.\d+/);
  t.true(main + platform < 4096, 'installed size under 4 MiB');
});
