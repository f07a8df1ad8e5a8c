// Runs a selection of MQTT.js's own client tests against mqtt-rs-client/compat.
//
// MQTT.js's tests are not in the npm tarball and GitHub may be out of reach,
// so they come from Debian's source pool (MQTT.js 4.3.7, the version Debian
// packages, with its test/ directory). At test time this script:
//   1. downloads the tarball into a cache outside git (os.tmpdir()/mqttjs-4.3.7/),
//      reusing it when present, and checks its pinned sha256;
//   2. extracts only test/ and lib/store.js (MQTT.js's in-memory Store, which
//      test/abstract_client.js requires for its store options) into a fresh
//      directory for this run (removed after it), so that two checkouts never
//      share a shim;
//   3. writes a shim: MQTT.js-4.3.7/index.js, which `require('..')` and
//      `require('../')` in test/ resolve to, and lib/connect/index.js, both
//      re-exporting this repository's dist/typescript/compat.js;
//   4. runs the selected files with mocha (programmatically, in a child
//      process, NODE_PATH pointing at this repository's node_modules for
//      chai, sinon, mqtt-connection, ...) and collects the results as JSON.
//
// Nothing of MQTT.js is committed. `npm run build` must have built dist/.
// MQTT.js's tests listen on fixed ports (test/helpers/port_list.js, 9876 and
// up): one run at a time per machine.
//
//   node --import=tsx scripts/mqttjs-tests.ts [--timeout ms] [--grep re] [--list]

import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

export const MQTTJS_VERSION = '4.3.7';
export const TARBALL_URL = 'http://deb.debian.org/debian/pool/main/n/node-mqtt/node-mqtt_4.3.7.orig.tar.gz';
export const TARBALL_SHA256 = '8ed202ed374f7e468b81bf07e9f506c95ec90586fe5526ea760215461a3b7ad3';
const TOP = `MQTT.js-${MQTTJS_VERSION}`;

/**
 * The selection. test/client.js runs test/abstract_client.js against MQTT.js's
 * fake TCP server (test/server.js on mqtt-connection), plus its own TCP cases.
 * Left out: client_mqtt5.js (MQTT 5; this client is 3.1.1 only),
 * websocket_client.js and browser/ (WebSocket is refused by compat),
 * secure_client.js (TLS via the same abstract tests; its fake server's
 * certificates are for 'localhost' and compat's TLS is covered by
 * __test__/compat.spec.ts against mosquitto), store.js/mqtt_store.js/
 * abstract_store.js and message-id-provider.js/unique_message_id_provider_client.js
 * (MQTT.js's own Store and message-id classes, which compat does not have),
 * mqtt.js (MQTT.js's URL parsing through client.options), server.js (a helper).
 */
export const SELECTION = ['test/client.js'];

const REPO = path.resolve(__dirname, '..');

export interface MochaTest {
  title: string;
  err?: string;
}

export interface SuiteResult {
  passes: MochaTest[];
  failures: MochaTest[];
  pending: MochaTest[];
  /** tests mocha saw begin */
  total: number;
  /** ECONNRESETs the fake server's sockets saw (counted, not thrown) */
  resets: number;
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function download(url: string, dest: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${url}: HTTP ${String(res.statusCode)}`));
        return;
      }
      const tmp = `${dest}.part-${process.pid}`;
      const out = fs.createWriteStream(tmp);
      res.pipe(out);
      out.on('finish', () => {
        fs.renameSync(tmp, dest);
        resolve();
      });
      out.on('error', reject);
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error(`GET ${url}: timed out`)));
  });
}

/** The cache directory (created if needed). MQTTJS_CACHE overrides it. */
export function cacheDir(): string {
  const dir = process.env.MQTTJS_CACHE ?? path.join(os.tmpdir(), `mqttjs-${MQTTJS_VERSION}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// The shim: what MQTT.js's tests get when they require the package. It
// records the clients connect() makes, for the runner's cleanup below.
const SHIM = (compat: string) => `'use strict'
// Written by mqtt-rs-client's scripts/mqttjs-tests.ts: MQTT.js's tests get
// mqtt-rs-client/compat where they require MQTT.js.
const compat = require(${JSON.stringify(compat)})
const live = global.__mqttRsLiveClients || (global.__mqttRsLiveClients = new Set())
function connect (...args) {
  const client = compat.connect(...args)
  live.add(client)
  client.once('end', () => live.delete(client))
  return client
}
module.exports = Object.assign({}, compat, { connect })
`;

// The runner: mocha programmatically, results written as JSON to a file so
// that whatever the tests print on stdout cannot garble them. Two changes to
// mocha's behaviour, both about errors that arrive after a test has finished
// (an event compat emits where MQTT.js does not, a leaked client):
//  - mocha aborts the whole run when a test that has passed fails later
//    ("we cannot recover gracefully"); here the run goes on, and that test
//    counts as failed;
//  - after each test, the clients it left open are ended (end(true), with the
//    test's listeners removed first and late errors ignored). MQTT.js's tests leave many clients connected or
//    reconnecting and rely on mocha --exit; this client allows 16 live
//    connections per process (README, "limits"), so without the cleanup
//    every test after the 16th leak fails with "too many connections";
//  - the fake server's sockets (test/server.js) and their mqtt-connection
//    streams get an error listener that
//    counts ECONNRESET instead of letting it be an uncaught exception blamed
//    on whichever test runs then: this client's close can reach the server
//    as a reset (see docs/mqttjs-tests.md). Other socket errors still throw;
//  - a test is counted once, failed if it failed at all (several failures of
//    one test, e.g. "done() called multiple times", are one failure).
const RUNNER = `'use strict'
const Mocha = require('mocha')
const fs = require('fs')
const [out, timeout, grep, ...files] = process.argv.slice(2)
Mocha.Runner.prototype.abort = function () { return this }
const live = global.__mqttRsLiveClients || (global.__mqttRsLiveClients = new Set())
let resets = 0
const net = require('net')
const serverEmit = net.Server.prototype.emit
net.Server.prototype.emit = function (event, socket, ...rest) {
  // the socket, and the mqtt-connection stream around it, which repeats its errors
  if ((event === 'connection' || event === 'client') && socket && typeof socket.on === 'function') {
    socket.on('error', (err) => { if (err.code === 'ECONNRESET') resets++; else throw err })
  }
  return serverEmit.call(this, event, socket, ...rest)
}
// Not a mocha hook: a late error blamed on a failed root hook would skip every test after it.
function cleanUp () {
  for (const c of live) {
    // The test is over: its listeners must not see the harness's end (a 'close' some treat as a failure).
    c.removeAllListeners()
    c.on('error', () => {})
    c.end(true)
  }
  live.clear()
}
const mocha = new Mocha({ timeout: Number(timeout), reporter: 'dot' })
if (grep) mocha.grep(new RegExp(grep))
for (const f of files) mocha.addFile(f)
const tests = []
const save = () => {
  const res = { passes: [], failures: [], pending: [], total: tests.length, resets }
  for (const t of tests) {
    const e = { title: t.title }
    if (t.errors.length > 0) res.failures.push(Object.assign(e, { err: t.errors.join(' | ') }))
    else if (t.state === 'pending') res.pending.push(e)
    else if (t.state === 'passed') res.passes.push(e)
    else res.failures.push(Object.assign(e, { err: 'did not finish' }))
  }
  fs.writeFileSync(out, JSON.stringify(res))
}
const entry = (t) => {
  if (t.__entry === undefined) {
    t.__entry = { title: t.fullTitle(), state: undefined, errors: [] }
    tests.push(t.__entry)
  }
  return t.__entry
}
const runner = mocha.run(() => { save(); process.exit(0) })
runner.on('test', (t) => { entry(t) })
runner.on('test end', cleanUp)
runner.on('pass', (t) => { entry(t).state = 'passed' })
runner.on('pending', (t) => { entry(t).state = 'pending' })
runner.on('fail', (t, err) => {
  entry(t).errors.push(String((err && err.message) || err).split('\\n')[0].slice(0, 200))
})
process.on('exit', save)
`;

/** Downloads (or reuses) and checks the tarball; returns its path. */
export async function fetchTarball(): Promise<string> {
  const dir = cacheDir();
  const tarball = path.join(dir, `node-mqtt_${MQTTJS_VERSION}.orig.tar.gz`);
  if (!fs.existsSync(tarball) || sha256(tarball) !== TARBALL_SHA256) {
    fs.rmSync(tarball, { force: true });
    await download(TARBALL_URL, tarball);
    const got = sha256(tarball);
    if (got !== TARBALL_SHA256) {
      fs.rmSync(tarball, { force: true });
      throw new Error(`${TARBALL_URL}: sha256 ${got}, expected ${TARBALL_SHA256}`);
    }
  }
  return tarball;
}

/**
 * Extracts test/ (and lib/store.js) into a fresh directory and writes the
 * shim and the runner there; returns that directory (the caller removes it).
 */
export async function prepare(): Promise<string> {
  const tarball = await fetchTarball();
  const compat = path.join(REPO, 'dist', 'typescript', 'compat.js');
  if (!fs.existsSync(compat)) throw new Error(`${compat} is missing: run npm run build first`);
  const work = fs.mkdtempSync(path.join(cacheDir(), 'run-'));
  execFileSync('tar', ['-xzf', tarball, '-C', work, `${TOP}/test`, `${TOP}/lib/store.js`]);
  const top = path.join(work, TOP);
  fs.writeFileSync(path.join(top, 'index.js'), SHIM(compat));
  fs.mkdirSync(path.join(top, 'lib', 'connect'), { recursive: true });
  fs.writeFileSync(path.join(top, 'lib', 'connect', 'index.js'), SHIM(compat));
  fs.writeFileSync(path.join(work, 'run-mocha.js'), RUNNER);
  return work;
}

export interface RunOptions {
  /** per-test mocha timeout, ms (MQTT.js uses 10 000; a test that waits for an event compat never emits fails at it) */
  timeoutMs?: number;
  grep?: string;
  files?: string[];
  /** where mocha's dot reporter and the tests' own output go; default: discarded */
  output?: 'inherit' | 'ignore';
}

/** Runs the selection against the compat layer and returns mocha's results. */
export async function runMqttjsTests(opts: RunOptions = {}): Promise<SuiteResult> {
  const work = await prepare();
  try {
    const top = path.join(work, TOP);
    const out = path.join(work, 'result.json');
    const files = (opts.files ?? SELECTION).map((f) => path.join(top, f));
    const nodeModules = path.join(REPO, 'node_modules');
    const child = spawn(
      process.execPath,
      [path.join(work, 'run-mocha.js'), out, String(opts.timeoutMs ?? 2000), opts.grep ?? '', ...files],
      {
        cwd: top,
        env: { ...process.env, NODE_PATH: nodeModules, NODE_OPTIONS: '' },
        stdio: ['ignore', opts.output ?? 'ignore', opts.output ?? 'ignore'],
      },
    );
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', () => resolve());
    });
    if (!fs.existsSync(out)) throw new Error('mocha wrote no results');
    return JSON.parse(fs.readFileSync(out, 'utf8')) as SuiteResult;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const timeout = opt('--timeout');
  const res = await runMqttjsTests({
    timeoutMs: timeout !== undefined ? Number(timeout) : undefined,
    grep: opt('--grep'),
    output: args.includes('--quiet') ? 'ignore' : 'inherit',
  });
  console.log(`\nMQTT.js ${MQTTJS_VERSION} ${SELECTION.join(' ')} against mqtt-rs-client/compat:`);
  console.log(`passing ${res.passes.length}, failing ${res.failures.length}, pending ${res.pending.length} (fake server saw ${res.resets} resets)`);
  if (args.includes('--list')) {
    for (const t of res.passes) console.log(`  pass  ${t.title}`);
    for (const t of res.pending) console.log(`  skip  ${t.title}`);
    for (const t of res.failures) console.log(`  FAIL  ${t.title}\n        ${t.err ?? ''}`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
