// The `mqtt-rs` command line (dist/cli/mqtt-rs.js, as the package ships it:
// `npm test` builds first) against mosquitto and Debian's reference clients,
// mosquitto_pub and mosquitto_sub. Every round trip compares bytes. Without
// mosquitto or its clients the tests pass as skipped, unless
// MQTT_REQUIRE_MOSQUITTO=1 (CI), which makes that an error.

import anyTest, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto';
import { ROOT } from './helpers/run';
import { waitFor } from './helpers/wait';

// Serial: child processes and a broker share two cores.
const test = anyTest.serial;

const CLI = path.join(ROOT, 'dist', 'cli', 'mqtt-rs.js');
const SEARCH_DIRS = ['/usr/bin', '/usr/local/bin'];

function findClient(name: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), ...SEARCH_DIRS]) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

let broker: Mosquitto | null = null;
let mosquittoPub: string | null = null;
let mosquittoSub: string | null = null;
let tmp = '';

anyTest.before(async () => {
  mosquittoPub = findClient('mosquitto_pub');
  mosquittoSub = findClient('mosquitto_sub');
  if (!mosquittoPub || !mosquittoSub) {
    if (process.env.MQTT_REQUIRE_MOSQUITTO === '1') {
      throw new Error('mosquitto_pub/mosquitto_sub (Debian: mosquitto-clients) are not installed but MQTT_REQUIRE_MOSQUITTO=1');
    }
    console.log('cli.spec: mosquitto-clients not installed: the round trips are skipped');
  }
  // `log_type subscribe` lets a test see when a subscriber is in place;
  // no queue limit, so 100 000 QoS 1 messages to one subscriber are all kept.
  broker = await startMosquitto({ extraConfig: ['log_type subscribe', 'max_queued_messages 0'] });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-rs-cli-'));
});

anyTest.after.always(async () => {
  await broker?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const SKIP = 'mosquitto or mosquitto-clients not installed: skipped';

interface Result {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

interface Proc {
  /** stderr so far */
  stderr(): string;
  exit: Promise<Result>;
}

/** Starts a command with `stdin` (bytes, or a file to pipe in) and collects stdout as bytes. */
function start(command: string, args: string[], o: { stdin?: Buffer; stdinFile?: string; timeoutMs?: number } = {}): Proc {
  const child = spawn(command, args, { cwd: ROOT, stdio: [o.stdinFile ? fs.openSync(o.stdinFile, 'r') : 'pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  if (child.stdin) {
    child.stdin.on('error', () => {});
    child.stdin.end(o.stdin ?? Buffer.alloc(0));
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30_000);
  const exit = new Promise<Result>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
  });
  return { stderr: () => err, exit };
}

const cli = (args: string[], o?: Parameters<typeof start>[2]) => start(process.execPath, [CLI, ...args], o);

let seq = 0;
const unique = (name: string) => `cli-${name}-${process.pid}-${++seq}`;

/** Resolves once the broker logged the subscription of `clientId` to `filter`. */
async function subscribedAt(clientId: string, filter: string): Promise<void> {
  const logged = `${clientId} 0 ${filter}`;
  const logged1 = `${clientId} 1 ${filter}`;
  await waitFor(`${clientId} subscribed to ${filter}`, () => {
    const log = broker!.log();
    return log.includes(logged) || log.includes(logged1);
  }, { timeoutMs: 10_000, intervalMs: 20 });
}

/** Bytes with every value, NUL and newlines included, and not valid UTF-8. */
function binary(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 131 + 7) & 0xff;
  b[0] = 0xff;
  return b;
}

function ready(t: ExecutionContext): boolean {
  if (!broker || !mosquittoPub || !mosquittoSub) {
    t.pass(SKIP);
    return false;
  }
  return true;
}

// ---- usage -------------------------------------------------------------------

test('--help on each command: exit 0, the usage text on stdout', async (t) => {
  for (const [cmd, flags] of [
    ['pub', ['-t, --topic', '-m, --message', '-f, --file', '-l, --stdin-line', '-n, --null-message', '-q, --qos', '-r, --retain', '-L, --url', '--repeat', '--repeat-delay', '-d, --debug']],
    ['sub', ['-t, --topic', '-C, --count', '-W, --timeout', '-v, --verbose', '-N', '-F, --format', '--json', '%t', '%p', '%q', '%r', '%l', '%%']],
    ['bench', ['-c, --count', '-s, --size', '-q, --qos']],
  ] as const) {
    const r = await cli([cmd, '--help']).exit;
    t.is(r.code, 0, r.stderr);
    const text = r.stdout.toString();
    t.true(text.startsWith(`Usage: mqtt-rs ${cmd} `), text);
    for (const f of flags) t.true(text.includes(f), `${cmd} --help names ${f}`);
  }
  const top = await cli(['--help']).exit;
  t.is(top.code, 0);
  t.regex(top.stdout.toString(), /^Usage: mqtt-rs <command>[\s\S]*pub[\s\S]*sub[\s\S]*bench/);
});

test('bad arguments: exit 1 with a clear message and a pointer to --help', async (t) => {
  const cases: [string[], RegExp][] = [
    [['pub', '-t', 'a', '-m', 'x', '-q', '3'], /^mqtt-rs pub: -q must be 0, 1 or 2, got '3'\n/],
    [['sub', '-t', 'a', '-q', '3'], /^mqtt-rs sub: -q must be 0, 1 or 2, got '3'\n/],
    [['pub', '-m', 'x'], /^mqtt-rs pub: a topic is needed: -t topic/],
    [['sub'], /^mqtt-rs sub: a topic filter is needed: -t filter/],
    [['pub', '-t', 'a'], /a message is needed: one of -m, -f, -l, -s, -n/],
    [['pub', '-t', 'a', '-m', 'x', '-n'], /give only one of -m, -f, -l, -s, -n/],
    [['pub', '-t', 'a', '-m', 'x', '--bogus'], /^mqtt-rs pub: unknown option '--bogus'/],
    [['sub', '-t', 'a', '-Z'], /^mqtt-rs sub: unknown option '-Z'/],
    [['sub', '-t'], /option -t needs a value/],
    [['sub', '-t', 'a', '-W', 'soon'], /-W must be a number of seconds/],
    [['sub', '-t', 'a', '-F', '%x'], /-F: unknown field '%x'/],
    [['pub', '-t', 'a', '-m', 'x', '-p', '70000'], /-p must be an integer from 1 to 65535/],
    [['pub', '-L', 'ws://h/t', '-m', 'x'], /ws:\/\/ is not supported/],
    [['pub', '-t', 'a', '-m', 'x', '-P', 'pw'], /-P needs -u/],
    [['bench', '-c', '0'], /-c must be an integer/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(args).exit;
    t.is(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re, args.join(' '));
    t.is(r.stdout.length, 0);
  }
  const r = await cli(['pub', '-q', '3', '-t', 'a', '-m', 'x']).exit;
  t.regex(r.stderr, /Run 'mqtt-rs pub --help' for the options\.\n$/);
  const none = await cli([]).exit;
  t.is(none.code, 1);
  t.regex(none.stderr, /^Usage: mqtt-rs <command>/);
  const unknown = await cli(['publish']).exit;
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /^mqtt-rs: unknown command 'publish'/);
});

test('sub -W: exit code 27 when the time is up; pub to a closed port: exit 2', async (t) => {
  if (!ready(t)) return;
  const began = Date.now();
  const r = await cli(['sub', '-p', String(broker!.port), '-t', unique('quiet'), '-W', '1']).exit;
  t.is(r.code, 27, r.stderr);
  t.regex(r.stderr, /timed out after 1 s/);
  t.true(Date.now() - began >= 1000);
  const closed = await cli(['pub', '-p', '1', '-t', 'a', '-m', 'x']).exit;
  t.is(closed.code, 2);
  t.regex(closed.stderr, /connection failed: TCP connect failed/);
});

// ---- round trips against the reference clients ------------------------------

/** mosquitto_sub -C n -N on `topic`, started and subscribed. */
async function referenceSub(topic: string, n: number, extra: string[] = []): Promise<Proc> {
  const id = unique('msub');
  const p = start(mosquittoSub!, ['-p', String(broker!.port), '-i', id, '-t', topic, '-C', String(n), '-N', ...extra]);
  await subscribedAt(id, topic);
  return p;
}

test('mqtt-rs pub -m, -f (binary), -n, --repeat, -l -> mosquitto -> mosquitto_sub: byte for byte', async (t) => {
  if (!ready(t)) return;
  const port = String(broker!.port);
  const bin = binary(70_000);
  const file = path.join(tmp, 'payload.bin');
  fs.writeFileSync(file, bin);

  for (const qos of ['0', '1']) {
    const topic = unique('pub-f');
    const s = await referenceSub(topic, 1);
    const p = await cli(['pub', '-p', port, '-t', topic, '-f', file, '-q', qos]).exit;
    t.is(p.code, 0, p.stderr);
    const r = await s.exit;
    t.is(r.code, 0, r.stderr);
    t.true(r.stdout.equals(bin), `-f at QoS ${qos}: ${r.stdout.length} bytes received`);
  }

  const text = 'héllo wörld ✓ 🚀';
  let topic = unique('pub-m');
  let s = await referenceSub(topic, 1);
  let p = await cli(['pub', '-p', port, '-t', topic, '-m', text]).exit;
  t.is(p.code, 0, p.stderr);
  t.true((await s.exit).stdout.equals(Buffer.from(text)));

  // -n and --repeat: three zero-length messages.
  topic = unique('pub-n');
  s = await referenceSub(topic, 3, ['-F', '%t:%l|']);
  p = await cli(['pub', '-p', port, '-t', topic, '-n', '--repeat', '3', '--repeat-delay', '0.05']).exit;
  t.is(p.code, 0, p.stderr);
  t.is((await s.exit).stdout.toString(), `${topic}:0|`.repeat(3));

  // -l: one message per line, without its newline; a last line without one too.
  topic = unique('pub-l');
  s = await referenceSub(topic, 4, ['-F', '%p|']);
  p = await cli(['pub', '-p', port, '-t', topic, '-l', '-q', '1'], { stdin: Buffer.from('one\n\nthree \xff\nlast', 'latin1') }).exit;
  t.is(p.code, 0, p.stderr);
  t.true((await s.exit).stdout.equals(Buffer.from('one||three \xff|last|', 'latin1')));

  // -L names broker and topic; -r retains: a later subscriber gets it.
  topic = unique('pub-L');
  p = await cli(['pub', '-L', `mqtt://127.0.0.1:${port}/${topic}`, '-m', 'kept', '-r']).exit;
  t.is(p.code, 0, p.stderr);
  const late = await start(mosquittoSub!, ['-p', port, '-t', topic, '-C', '1', '-v']).exit;
  t.is(late.stdout.toString(), `${topic} kept\n`);
});

test('mosquitto_pub -> mosquitto -> mqtt-rs sub -C: byte for byte, with -v, -F and --json', async (t) => {
  if (!ready(t)) return;
  const port = String(broker!.port);
  const bin = binary(100_000);
  const file = path.join(tmp, 'ref.bin');
  fs.writeFileSync(file, bin);

  /** mqtt-rs sub on `topic` (and any more -t in args), once subscribed to `waitAlso` too. */
  const sub = async (topic: string, args: string[], waitAlso: string[] = []) => {
    const id = unique('sub');
    const s = cli(['sub', '-p', port, '-i', id, '-t', topic, ...args]);
    for (const f of [topic, ...waitAlso]) await subscribedAt(id, f);
    return s;
  };
  const pubRef = (args: string[]) => start(mosquittoPub!, ['-p', port, ...args]).exit;

  for (const qos of ['0', '1']) {
    const topic = unique('ref-f');
    const s = await sub(topic, ['-C', '1', '-N', '-q', qos]);
    t.is((await pubRef(['-t', topic, '-f', file, '-q', qos])).code, 0);
    const r = await s.exit;
    t.is(r.code, 0, r.stderr);
    t.true(r.stdout.equals(bin), `QoS ${qos}: ${r.stdout.length} bytes`);
  }

  // -v with two filters; a newline after each message.
  const base = unique('ref-v');
  let s = await sub(`${base}/a`, ['-t', `${base}/b/#`, '-C', '2', '-v'], [`${base}/b/#`]);
  await pubRef(['-t', `${base}/a`, '-m', 'first']);
  await pubRef(['-t', `${base}/b/c`, '-m', 'second']);
  let r = await s.exit;
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.toString(), `${base}/a first\n${base}/b/c second\n`);

  // -F: every field.
  let topic = unique('ref-F');
  s = await sub(topic, ['-C', '1', '-q', '1', '-F', '%t\\t%q %r %l %% [%p]']);
  await pubRef(['-t', topic, '-m', 'ab✓', '-q', '1']);
  r = await s.exit;
  t.is(r.stdout.toString(), `${topic}\t1 0 5 % [ab✓]\n`);

  // --json: UTF-8 as text, anything else in base64.
  topic = unique('ref-json');
  s = await sub(topic, ['-C', '2', '--json']);
  await pubRef(['-t', topic, '-m', 'plain ✓']);
  await pubRef(['-t', topic, '-f', file]);
  r = await s.exit;
  const lines = r.stdout.toString().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(lines[0], { topic, payload: 'plain ✓', encoding: 'utf8', qos: 0, retain: false });
  t.is(lines[1].encoding, 'base64');
  t.true(Buffer.from(lines[1].payload as string, 'base64').equals(bin));
});

test('mqtt-rs pub -l: 100 000 lines at QoS 1 -> mqtt-rs sub -C 100000: each once, in order', async (t) => {
  if (!ready(t)) return;
  const port = String(broker!.port);
  const N = 100_000;
  const lines: string[] = [];
  for (let i = 0; i < N; i++) lines.push(`line ${i} ${'x'.repeat(i % 50)}`);
  const input = Buffer.from(lines.join('\n') + '\n');
  const file = path.join(tmp, 'lines.txt');
  fs.writeFileSync(file, input);
  const topic = unique('lines');
  const id = unique('lsub');

  const began = Date.now();
  const s = cli(['sub', '-p', port, '-i', id, '-t', topic, '-q', '1', '-C', String(N)], { timeoutMs: 60_000 });
  await subscribedAt(id, topic);
  const p = await cli(['pub', '-p', port, '-t', topic, '-q', '1', '-l'], { stdinFile: file, timeoutMs: 60_000 }).exit;
  t.is(p.code, 0, p.stderr);
  const r = await s.exit;
  t.is(r.code, 0, r.stderr);
  t.true(r.stdout.equals(input), `received ${r.stdout.length} of ${input.length} bytes`);
  t.log(`100 000 lines at QoS 1 through mosquitto: ${Date.now() - began} ms`);
});

test('mqtt-rs sub reconnects after a broker restart and subscribes again', async (t) => {
  if (!ready(t)) return;
  const port = String(broker!.port);
  const topic = unique('again');
  const id = unique('rsub');
  const s = cli(['sub', '-p', port, '-i', id, '-t', topic, '-C', '2', '-q', '1'], { timeoutMs: 30_000 });
  await subscribedAt(id, topic);
  t.is((await start(mosquittoPub!, ['-p', port, '-t', topic, '-m', 'before', '-q', '1']).exit).code, 0);
  // mosquitto appends to its log across the restart: the subscription is logged once more.
  const subscriptions = () => broker!.log().split(`${id} 1 ${topic}`).length - 1;
  t.is(subscriptions(), 1);
  await broker!.restart();
  await waitFor('the subscription after the restart', () => subscriptions() >= 2, { timeoutMs: 15_000, intervalMs: 50 });
  t.regex(s.stderr(), /link lost .*; reconnecting/);
  t.is((await start(mosquittoPub!, ['-p', port, '-t', topic, '-m', 'after', '-q', '1']).exit).code, 0);
  const r = await s.exit;
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.toString(), 'before\nafter\n');
});

test('mqtt-rs bench: rates and a summary, one plain line a second when not a terminal', async (t) => {
  if (!ready(t)) return;
  const r = await cli(['bench', '-p', String(broker!.port), '-c', '20000', '-s', '32', '-q', '1']).exit;
  t.is(r.code, 0, r.stderr);
  const out = r.stdout.toString();
  t.false(out.includes('\r'), 'no carriage returns when stdout is a pipe');
  t.regex(out, /^bench: 20000 messages of 32 bytes at QoS 1/);
  t.regex(out, /sent 20,000\/20,000 \([\d,]+ msg\/s\) {2}received 20,000 \([\d,]+ msg\/s\) {2}acked 20,000\n/);
  t.regex(out, /publish: 20000 messages of 32 bytes, QoS 1, in [\d.]+ s: [\d,]+ msg\/s/);
  t.regex(out, /receive: 20000 messages in [\d.]+ s: [\d,]+ msg\/s/);
});
