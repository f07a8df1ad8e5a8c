#!/usr/bin/env node
// mqtt-rs: the package's command line. Subcommands `pub`, `sub` and `bench`;
// the flags of `pub` and `sub` follow mosquitto_pub and mosquitto_sub so that
// habits and scripts carry over. Built on the package's own API (imported by
// a relative path that holds from bindings/cli/ and from dist/cli/ alike).
//
// Exit codes: 0 it worked; 1 usage error (message and a usage hint on
// stderr); 2 it failed (connect refused, link lost, publish refused, ...);
// 27 `sub -W` timed out (as mosquitto_sub).

import fs from 'node:fs';
import * as mqtt from '../typescript/mqtt.js';

const EXIT_OK = 0;
const EXIT_USAGE = 1;
const EXIT_FAILED = 2;
const EXIT_TIMEOUT = 27;

// ---- argument parsing ------------------------------------------------------

class UsageError extends Error {}

interface OptSpec {
  /** short form with its dash (`-t`), if any */
  short?: string;
  /** long form with its dashes (`--topic`) */
  long: string;
  /** takes a value */
  value: boolean;
  /** may be given more than once */
  repeat?: boolean;
}

type Parsed = Map<string, string[]>;

/**
 * Parses `args` against `specs`: `-t value`, `--topic value`, `--topic=value`;
 * flags without a value stand alone. Result keys are the long names.
 */
function parseArgs(args: string[], specs: OptSpec[], command: string): Parsed {
  const out: Parsed = new Map();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    let name = arg;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      if (eq > 0) {
        name = arg.slice(0, eq);
        inline = arg.slice(eq + 1);
      }
    }
    const spec = specs.find((s) => s.short === name || s.long === name);
    if (spec === undefined) {
      if (arg.startsWith('-')) throw new UsageError(`unknown option '${arg}' for 'mqtt-rs ${command}'`);
      throw new UsageError(`unexpected argument '${arg}' for 'mqtt-rs ${command}'`);
    }
    let value = '';
    if (spec.value) {
      if (inline !== undefined) value = inline;
      else if (i + 1 < args.length) value = args[++i];
      else throw new UsageError(`option ${arg} needs a value`);
    } else if (inline !== undefined) {
      throw new UsageError(`option ${name} takes no value`);
    }
    const seen = out.get(spec.long);
    if (seen !== undefined && !spec.repeat) throw new UsageError(`option ${spec.short ?? spec.long} given more than once`);
    out.set(spec.long, [...(seen ?? []), value]);
  }
  return out;
}

const one = (p: Parsed, long: string): string | undefined => p.get(long)?.[0];
const has = (p: Parsed, long: string): boolean => p.has(long);

function intArg(p: Parsed, long: string, flag: string, min: number, max: number): number | undefined {
  const s = one(p, long);
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got '${s}'`);
  }
  return Number(s);
}

function secondsArg(p: Parsed, long: string, flag: string): number | undefined {
  const s = one(p, long);
  if (s === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(s)) throw new UsageError(`${flag} must be a number of seconds, got '${s}'`);
  return Number(s);
}

function qosArg(p: Parsed): number {
  const s = one(p, '--qos');
  if (s === undefined) return 0;
  if (s !== '0' && s !== '1' && s !== '2') throw new UsageError(`-q must be 0, 1 or 2, got '${s}'`);
  return Number(s);
}

interface Url {
  host?: string;
  port?: number;
  user?: string;
  pass?: string;
  topic?: string;
  /** mqtts:// */
  tls?: boolean;
}

/**
 * `mqtt[s]://[user[:pass]@]host[:port]/topic`; the topic is taken as it is
 * (`#` and `+` included). mqtts:// is MQTT over TLS.
 */
function parseUrl(url: string): Url {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(url);
  if (m === null) throw new UsageError(`-L: not a URL: '${url}' (expected mqtt[s]://[user[:pass]@]host[:port]/topic)`);
  const scheme = m[1].toLowerCase();
  if (scheme === 'wss' || scheme === 'ws') {
    throw new UsageError(`-L: ${scheme}:// is not supported (no WebSocket): use mqtt:// or mqtts://`);
  }
  if (scheme !== 'mqtt' && scheme !== 'mqtts') {
    throw new UsageError(`-L: unknown scheme '${scheme}://' (expected mqtt:// or mqtts://)`);
  }
  const rest = m[2];
  const slash = rest.indexOf('/');
  let authority = slash < 0 ? rest : rest.slice(0, slash);
  const out: Url = {};
  if (scheme === 'mqtts') out.tls = true;
  if (slash >= 0 && slash + 1 < rest.length) out.topic = rest.slice(slash + 1);
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    authority = authority.slice(at + 1);
    const colon = userinfo.indexOf(':');
    out.user = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon));
    if (colon >= 0) out.pass = decodeURIComponent(userinfo.slice(colon + 1));
  }
  const hp = /^(\[[^\]]+\]|[^:]*)(?::(\d*))?$/.exec(authority);
  if (hp === null || hp[1] === '') throw new UsageError(`-L: no host in '${url}'`);
  out.host = hp[1];
  if (hp[2] !== undefined && hp[2] !== '') {
    const port = Number(hp[2]);
    if (port < 1 || port > 65535) throw new UsageError(`-L: port out of range in '${url}'`);
    out.port = port;
  }
  return out;
}

// The options pub and sub share (mosquitto's letters).
const CONNECT_OPTS: OptSpec[] = [
  { short: '-h', long: '--host', value: true },
  { short: '-p', long: '--port', value: true },
  { short: '-i', long: '--id', value: true },
  { short: '-u', long: '--username', value: true },
  { short: '-P', long: '--pw', value: true },
  { short: '-k', long: '--keepalive', value: true },
  { short: '-L', long: '--url', value: true },
  { short: '-q', long: '--qos', value: true },
  { short: '-d', long: '--debug', value: false },
  { long: '--cafile', value: true },
  { long: '--cert', value: true },
  { long: '--key', value: true },
  { long: '--insecure', value: false },
  { long: '--tls-use-os-certs', value: false },
  { long: '--help', value: false },
];

// The TLS flags of mosquitto_pub/mosquitto_sub, for every command's help.
const TLS_HELP = `      --cafile file      trust the CA certificate(s) in this PEM file (turns TLS on)
      --cert file        client certificate (PEM) for mutual TLS, with --key
      --key file         private key (PEM) of --cert
      --tls-use-os-certs TLS, trusting the system's CA certificates
      --insecure         no certificate checks at all (mosquitto's still checks the
                         chain, this one does not): for tests only`;

const TLS_FLAGS = ['--cafile', '--cert', '--key', '--insecure', '--tls-use-os-certs'] as const;

interface Connect {
  host: string;
  port: number;
  clientId: string;
  user?: string;
  pass?: string;
  keepAlive: number;
  /** the topic from -L, if any */
  urlTopic?: string;
  debug: boolean;
  tls?: mqtt.MqttTlsOptions;
}

/** A PEM file's contents for a TLS flag. */
function pemFile(p: Parsed, flag: string): Buffer | undefined {
  const file = one(p, flag);
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new UsageError(`${flag}: cannot read '${file}': ${(e as Error).message}`);
  }
}

/** TLS from mqtts:// or any TLS flag (as mosquitto_pub: --cafile turns it on). */
function tlsArgs(p: Parsed, url: Url): mqtt.MqttTlsOptions | undefined {
  if (url.tls !== true && !TLS_FLAGS.some((f) => has(p, f))) return undefined;
  const tls: mqtt.MqttTlsOptions = {};
  const ca = pemFile(p, '--cafile');
  const cert = pemFile(p, '--cert');
  const key = pemFile(p, '--key');
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--cert and --key go together');
  if (ca !== undefined) tls.ca = ca;
  if (cert !== undefined) tls.cert = cert;
  if (key !== undefined) tls.key = key;
  if (has(p, '--insecure')) tls.rejectUnauthorized = false;
  return tls;
}

function connectArgs(p: Parsed, kind: string): Connect {
  let url: Url = {};
  const u = one(p, '--url');
  if (u !== undefined) {
    url = parseUrl(u);
    for (const [long, flag] of [['--host', '-h'], ['--port', '-p']] as const) {
      if (has(p, long)) throw new UsageError(`${flag} cannot be combined with -L (the URL names the broker)`);
    }
  }
  const user = one(p, '--username') ?? url.user;
  const pass = one(p, '--pw') ?? url.pass;
  if (pass !== undefined && user === undefined) throw new UsageError('-P needs -u (a password goes with a user name)');
  const id = one(p, '--id') ?? `mqtt-rs-${kind}-${process.pid}`;
  if (id === '') throw new UsageError('-i: the client id must not be empty');
  const tls = tlsArgs(p, url);
  return {
    host: url.host ?? one(p, '--host') ?? 'localhost',
    // mosquitto's defaults: 8883 for MQTT over TLS.
    port: url.port ?? intArg(p, '--port', '-p', 1, 65535) ?? (tls ? 8883 : 1883),
    clientId: id,
    user,
    pass,
    keepAlive: intArg(p, '--keepalive', '-k', 0, 65535) ?? 60,
    urlTopic: url.topic,
    debug: has(p, '--debug'),
    tls,
  };
}

function openConn(c: Connect): number {
  const options: mqtt.MqttOpenOptions = { keepAlive: c.keepAlive };
  if (c.tls !== undefined) options.tls = c.tls;
  const conn = c.user !== undefined
    ? mqtt.openAuth(c.host, c.port, c.clientId, c.user, c.pass ?? '', options)
    : mqtt.open(c.host, c.port, c.clientId, options);
  if (conn < 0) fail(`cannot connect to ${c.host}:${c.port}: ${mqtt.lastError()}`);
  return conn;
}

function fail(message: string): never {
  process.stderr.write(`mqtt-rs: ${message}\n`);
  process.exit(EXIT_FAILED);
}

// Refusals that end by themselves: wait (for `drain` or a PUBACK) and retry.
const isBackpressure = (reason: string): boolean => /try again later|identifiers are in use/.test(reason);

// ---- pub -------------------------------------------------------------------

const PUB_HELP = `Usage: mqtt-rs pub [options] -t topic (-m message | -f file | -l | -s | -n)

Publishes to an MQTT 3.1.1 broker; the flags follow mosquitto_pub.

  -h, --host host        broker host (default localhost)
  -p, --port port        broker port (default 1883, 8883 with TLS)
  -L, --url url          mqtt[s]://[user[:pass]@]host[:port]/topic instead of -h, -p, -t (and -u, -P)
  -t, --topic topic      topic to publish to
  -m, --message text     send this message
  -f, --file file        send the contents of this file (bytes as they are)
  -l, --stdin-line       send each line of stdin as a message (without its newline)
  -s, --stdin-file       send all of stdin as one message
  -n, --null-message     send a zero-length message
  -q, --qos 0|1|2        quality of service (default 0)
  -r, --retain           set the retain flag
  -i, --id id            client id (default mqtt-rs-pub-<pid>)
  -u, --username user    user name
  -P, --pw password      password (needs -u)
  -k, --keepalive secs   keep-alive interval (default 60, 0 turns it off)
      --repeat N         send the message N times (not with -l)
      --repeat-delay s   seconds to wait between repeats (fractions allowed)
  -d, --debug            print what happens on stderr
${TLS_HELP}
      --help             this text

The exit code is 0 once every message was handed to the socket and, at
QoS 1, acknowledged by the broker; 1 for a usage error; 2 when it failed.
`;

const PUB_OPTS: OptSpec[] = [
  ...CONNECT_OPTS,
  { short: '-t', long: '--topic', value: true },
  { short: '-m', long: '--message', value: true },
  { short: '-f', long: '--file', value: true },
  { short: '-l', long: '--stdin-line', value: false },
  { short: '-s', long: '--stdin-file', value: false },
  { short: '-n', long: '--null-message', value: false },
  { short: '-r', long: '--retain', value: false },
  { long: '--repeat', value: true },
  { long: '--repeat-delay', value: true },
];

/** Yields stdin line by line, as bytes, without the '\n'; a last line without one is yielded too. */
async function* stdinLines(): AsyncGenerator<Buffer> {
  let rest: Buffer | null = null;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    let buf: Buffer = rest === null ? chunk : Buffer.concat([rest, chunk]);
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      yield buf.subarray(start, nl);
      start = nl + 1;
    }
    rest = start < buf.length ? Buffer.from(buf.subarray(start)) : null;
    buf = Buffer.alloc(0);
  }
  if (rest !== null && rest.length > 0) yield rest;
}

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

async function pub(args: string[]): Promise<void> {
  const p = parseArgs(args, PUB_OPTS, 'pub');
  if (has(p, '--help')) {
    process.stdout.write(PUB_HELP);
    return;
  }
  const c = connectArgs(p, 'pub');
  const qos = qosArg(p);
  const retain = has(p, '--retain');
  const topic = one(p, '--topic') ?? c.urlTopic;
  if (topic === undefined) throw new UsageError('a topic is needed: -t topic (or -L mqtt://host/topic)');
  if (has(p, '--topic') && c.urlTopic !== undefined) throw new UsageError('give the topic with -t or in the -L URL, not both');
  const sources = ['--message', '--file', '--stdin-line', '--stdin-file', '--null-message'].filter((s) => has(p, s));
  if (sources.length === 0) throw new UsageError('a message is needed: one of -m, -f, -l, -s, -n');
  if (sources.length > 1) throw new UsageError('give only one of -m, -f, -l, -s, -n');
  const repeat = intArg(p, '--repeat', '--repeat', 1, Number.MAX_SAFE_INTEGER) ?? 1;
  const repeatDelay = secondsArg(p, '--repeat-delay', '--repeat-delay') ?? 0;
  if (has(p, '--stdin-line') && (has(p, '--repeat') || has(p, '--repeat-delay'))) {
    throw new UsageError('--repeat and --repeat-delay do not go with -l');
  }

  // The messages, as an async sequence of payloads.
  let messages: AsyncIterable<Buffer | string> | Iterable<Buffer | string>;
  if (has(p, '--stdin-line')) {
    messages = stdinLines();
  } else {
    let payload: Buffer | string;
    if (has(p, '--message')) payload = one(p, '--message')!;
    else if (has(p, '--null-message')) payload = Buffer.alloc(0);
    else if (has(p, '--stdin-file')) payload = await readStdin();
    else {
      const file = one(p, '--file')!;
      try {
        payload = fs.readFileSync(file);
      } catch (e) {
        fail(`cannot read ${file}: ${(e as Error).message}`);
      }
    }
    messages = (async function* () {
      for (let n = 0; n < repeat; n++) {
        if (n > 0 && repeatDelay > 0) await new Promise((r) => setTimeout(r, repeatDelay * 1000));
        yield payload;
      }
    })();
  }

  const debug = (s: string) => { if (c.debug) process.stderr.write(`mqtt-rs pub: ${s}\n`); };
  const conn = openConn(c);
  debug(`connecting to ${c.host}:${c.port} as ${c.clientId}`);

  let sent = 0;
  let unacked = 0;
  let closing = false;
  let connected = false;
  let wake: (() => void) | null = null;
  const signal = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const until = () => new Promise<void>((r) => { wake = r; });
  let done: (code: number) => void = () => {};
  const finished = new Promise<number>((r) => { done = r; });

  mqtt.on(conn, 'connected', () => {
    connected = true;
    debug('connected');
    signal();
  });
  mqtt.on(conn, 'drain', () => {
    debug('drain: room again');
    signal();
  });
  mqtt.on(conn, 'published', (e) => {
    unacked--;
    if (c.debug && unacked === 0) debug(`PUBACK ${e.packetId}: all acknowledged so far`);
    signal();
  });
  mqtt.on(conn, 'disconnected', (e) => {
    if (closing && e.cause === 'requested') {
      debug('disconnected: everything handed over');
      done(EXIT_OK);
      return;
    }
    process.stderr.write(`mqtt-rs pub: ${connected ? 'link lost' : 'connection failed'}: ${e.reason}\n`);
    if (!closing) {
      closing = true;
      mqtt.disconnect(conn);
    }
    done(EXIT_FAILED);
  });

  const failure = finished.then((code) => {
    process.exitCode = code;
    signal();
    return code;
  });

  // Wait for CONNACK first: a refused or failed connect is reported before
  // anything is read from stdin.
  while (!connected && !closing) await until();

  const publishOne = async (payload: Buffer | string): Promise<boolean> => {
    for (;;) {
      if (closing) return false;
      const r = mqtt.publishWithId(conn, topic, payload, qos, retain);
      if (r >= 0) {
        if (qos > 0) unacked++;
        sent++;
        return true;
      }
      const why = mqtt.lastError();
      if (!isBackpressure(why)) {
        process.stderr.write(`mqtt-rs pub: publish refused: ${why}\n`);
        closing = true;
        mqtt.disconnect(conn);
        done(EXIT_FAILED);
        return false;
      }
      debug(`backpressure (${why}): waiting for drain`);
      await until();
    }
  };

  for await (const payload of messages) {
    if (!(await publishOne(payload))) break;
  }
  if (!closing) {
    // QoS 1/2: every PUBACK/PUBCOMP first; disconnect() then flushes and closes.
    while (unacked > 0 && !closing) await until();
    if (!closing) {
      debug(`${sent} message(s) published${qos > 0 ? ' and acknowledged' : ''}; disconnecting`);
      closing = true;
      mqtt.disconnect(conn);
    }
  }
  await failure;
}

// ---- sub -------------------------------------------------------------------

const SUB_HELP = `Usage: mqtt-rs sub [options] -t filter [-t filter ...]

Subscribes and prints the messages received; the flags follow mosquitto_sub.

  -h, --host host        broker host (default localhost)
  -p, --port port        broker port (default 1883, 8883 with TLS)
  -L, --url url          mqtt[s]://[user[:pass]@]host[:port]/filter instead of -h, -p, -t (and -u, -P)
  -t, --topic filter     topic filter to subscribe to (repeatable; + and # allowed)
  -q, --qos 0|1|2        subscription QoS (default 0)
  -i, --id id            client id (default mqtt-rs-sub-<pid>)
  -u, --username user    user name
  -P, --pw password      password (needs -u)
  -k, --keepalive secs   keep-alive interval (default 60, 0 turns it off)
  -C, --count N          exit after N messages
  -W, --timeout secs     exit with code 27 if still running after secs seconds
  -v, --verbose          print "topic payload"
  -N                     no newline after each message
  -F, --format fmt       print each message per fmt:
                           %t topic   %p payload   %q qos   %r retain (0 or 1)
                           %l payload length in bytes   %% a percent sign
                           \\n newline  \\t tab  \\\\ backslash
      --json             one JSON object per line: {"topic","payload","encoding","qos","retain"};
                         "encoding" is "utf8", or "base64" when the payload is not valid UTF-8
  -d, --debug            print what happens on stderr (connects, subscriptions)
${TLS_HELP}
      --help             this text

Payloads are written as the bytes received. The client reconnects on its own
when the link drops and subscribes again. Exit codes: 0 done (-C reached, or
interrupted), 1 usage error, 2 failed (first connect failed or refused),
27 the -W timeout.
`;

const SUB_OPTS: OptSpec[] = [
  ...CONNECT_OPTS,
  { short: '-t', long: '--topic', value: true, repeat: true },
  { short: '-C', long: '--count', value: true },
  { short: '-W', long: '--timeout', value: true },
  { short: '-v', long: '--verbose', value: false },
  { short: '-N', long: '--no-newline', value: false },
  { short: '-F', long: '--format', value: true },
  { long: '--json', value: false },
];

type Formatter = (m: mqtt.MqttMessage) => (Buffer | string)[];

/** Compiles a -F format into a function; unknown % or \ sequences are usage errors. */
function compileFormat(fmt: string): Formatter {
  const parts: ((m: mqtt.MqttMessage) => Buffer | string)[] = [];
  let lit = '';
  const flush = () => {
    if (lit !== '') {
      const s = lit;
      parts.push(() => s);
      lit = '';
    }
  };
  for (let i = 0; i < fmt.length; i++) {
    const ch = fmt[i];
    if (ch !== '%' && ch !== '\\') {
      lit += ch;
      continue;
    }
    const next = fmt[++i];
    if (next === undefined) throw new UsageError(`-F: '${ch}' at the end of the format`);
    if (ch === '\\') {
      const esc: Record<string, string> = { n: '\n', t: '\t', '\\': '\\', r: '\r', '0': '\0' };
      if (!(next in esc)) throw new UsageError(`-F: unknown escape '\\${next}' (known: \\n \\t \\r \\0 \\\\)`);
      lit += esc[next];
      continue;
    }
    switch (next) {
      case '%': lit += '%'; break;
      case 't': flush(); parts.push((m) => m.topic); break;
      case 'p': flush(); parts.push((m) => m.bytes); break;
      case 'q': flush(); parts.push((m) => String(m.qos)); break;
      case 'r': flush(); parts.push((m) => (m.retain ? '1' : '0')); break;
      case 'l': flush(); parts.push((m) => String(m.bytes.length)); break;
      default: throw new UsageError(`-F: unknown field '%${next}' (known: %t %p %q %r %l %%)`);
    }
  }
  flush();
  return (m) => parts.map((f) => f(m));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function jsonLine(m: mqtt.MqttMessage): string {
  let payload: string;
  let encoding: 'utf8' | 'base64';
  try {
    payload = utf8.decode(m.bytes);
    encoding = 'utf8';
  } catch {
    payload = Buffer.from(m.bytes).toString('base64');
    encoding = 'base64';
  }
  return JSON.stringify({ topic: m.topic, payload, encoding, qos: m.qos, retain: m.retain }) + '\n';
}

/** Buffered stdout: one write per event-loop turn (or per 64 KiB), so a flood costs few system calls. */
class Out {
  private parts: (Buffer | string)[] = [];
  private size = 0;
  private scheduled = false;

  push(s: Buffer | string): void {
    // Message bytes are views into the event batch: copy them.
    this.parts.push(typeof s === 'string' ? s : Buffer.from(s));
    this.size += s.length;
    if (this.size >= 65536) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.parts.length === 0) return;
    const chunk = Buffer.concat(this.parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
    this.parts = [];
    this.size = 0;
    process.stdout.write(chunk);
  }
}

async function sub(args: string[]): Promise<void> {
  const p = parseArgs(args, SUB_OPTS, 'sub');
  if (has(p, '--help')) {
    process.stdout.write(SUB_HELP);
    return;
  }
  const c = connectArgs(p, 'sub');
  const qos = qosArg(p);
  const filters = [...(p.get('--topic') ?? [])];
  if (c.urlTopic !== undefined) filters.push(c.urlTopic);
  if (filters.length === 0) throw new UsageError('a topic filter is needed: -t filter (or -L mqtt://host/filter)');
  if (filters.some((f) => f === '')) throw new UsageError('-t: the topic filter must not be empty');
  const count = intArg(p, '--count', '-C', 1, Number.MAX_SAFE_INTEGER);
  const timeout = secondsArg(p, '--timeout', '-W');
  if (timeout !== undefined && timeout <= 0) throw new UsageError('-W must be more than 0 seconds');
  const format = one(p, '--format');
  if (format !== undefined && has(p, '--json')) throw new UsageError('give -F or --json, not both');
  const newline = has(p, '--no-newline') ? '' : '\n';
  let formatter: Formatter;
  if (has(p, '--json')) formatter = (m) => [jsonLine(m)];
  else if (format !== undefined) {
    const f = compileFormat(format);
    formatter = (m) => [...f(m), newline];
  } else if (has(p, '--verbose')) formatter = (m) => [m.topic, ' ', m.bytes, newline];
  else formatter = (m) => [m.bytes, newline];

  const debug = (s: string) => { if (c.debug) process.stderr.write(`mqtt-rs sub: ${s}\n`); };
  const out = new Out();
  const conn = openConn(c);
  mqtt.setAutoReconnect(conn, true);
  mqtt.setReconnectDelays(conn, [0.5, 1, 2, 5, 10]);
  debug(`connecting to ${c.host}:${c.port} as ${c.clientId}`);

  let received = 0;
  let everConnected = false;
  let closing = false;
  let timer: NodeJS.Timeout | undefined;

  const finish = (code: number) => {
    if (closing) return;
    closing = true;
    if (timer !== undefined) clearTimeout(timer);
    out.flush();
    process.exitCode = code;
    mqtt.disconnect(conn);
  };

  mqtt.on(conn, 'connected', () => {
    everConnected = true;
    debug('connected');
    // The library does not replay subscriptions: subscribe on every (re)connect.
    for (const f of filters) {
      if (mqtt.subscribe(conn, f, qos) < 0) {
        process.stderr.write(`mqtt-rs sub: cannot subscribe to '${f}': ${mqtt.lastError()}\n`);
        finish(EXIT_FAILED);
        return;
      }
    }
  });
  mqtt.on(conn, 'subscribed', (e) => {
    if (!e.ok) process.stderr.write(`mqtt-rs sub: the broker refused the subscription to '${e.topic}'\n`);
    else debug(`subscribed to ${e.topic} (qos ${e.qos})`);
  });
  mqtt.on(conn, 'message', (m) => {
    if (closing) return;
    for (const part of formatter(m)) out.push(part);
    received++;
    if (count !== undefined && received >= count) finish(EXIT_OK);
  });
  mqtt.on(conn, 'disconnected', (e) => {
    if (e.cause === 'requested') return;
    if (!everConnected) {
      process.stderr.write(`mqtt-rs sub: connection failed: ${e.reason}\n`);
      finish(EXIT_FAILED);
      return;
    }
    process.stderr.write(`mqtt-rs sub: link lost (${e.reason}); reconnecting\n`);
  });
  if (timeout !== undefined) {
    timer = setTimeout(() => {
      process.stderr.write(`mqtt-rs sub: timed out after ${timeout} s\n`);
      finish(EXIT_TIMEOUT);
    }, timeout * 1000);
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => finish(EXIT_OK));
}

// ---- bench -----------------------------------------------------------------

const BENCH_HELP = `Usage: mqtt-rs bench [options]

Publishes as fast as backpressure allows on one connection and receives on
another, through the broker; shows the publish and receive rates live (in
place on a terminal, one line a second otherwise), then a summary.

  -h, --host host        broker host (default localhost)
  -p, --port port        broker port (default 1883, 8883 with TLS)
  -L, --url url          mqtt[s]://[user[:pass]@]host[:port][/topic]
  -t, --topic topic      topic (default mqtt-rs/bench/<pid>)
  -c, --count N          messages to publish (default 100000)
  -s, --size bytes       payload size (default 64)
  -q, --qos 0|1|2        QoS of publish and subscription (default 0)
  -u, --username user    user name
  -P, --pw password      password (needs -u)
  -k, --keepalive secs   keep-alive interval (default 60)
  -i, --id id            client id prefix (default mqtt-rs-bench-<pid>)
      --timeout secs     give up waiting for the last messages after secs (default 30)
  -d, --debug            print what happens on stderr
${TLS_HELP}
      --help             this text

Exit code 0 when every message came back, 1 usage error, 2 failed (also when
messages were missing at the end: at QoS 0 a broker may drop some, and
mosquitto drops QoS 1 messages beyond max_queued_messages, 1000 by default,
for a subscriber that falls behind).
`;

const BENCH_OPTS: OptSpec[] = [
  ...CONNECT_OPTS,
  { short: '-t', long: '--topic', value: true },
  { short: '-c', long: '--count', value: true },
  { short: '-s', long: '--size', value: true },
  { long: '--timeout', value: true },
];

const rate = (n: number, ms: number): string => (ms > 0 ? Math.round((n * 1000) / ms).toLocaleString('en-US') : '-');

async function bench(args: string[]): Promise<void> {
  const p = parseArgs(args, BENCH_OPTS, 'bench');
  if (has(p, '--help')) {
    process.stdout.write(BENCH_HELP);
    return;
  }
  const c = connectArgs(p, 'bench');
  const qos = qosArg(p);
  const topic = one(p, '--topic') ?? c.urlTopic ?? `mqtt-rs/bench/${process.pid}`;
  const total = intArg(p, '--count', '-c', 1, Number.MAX_SAFE_INTEGER) ?? 100_000;
  const size = intArg(p, '--size', '-s', 0, 1_000_000) ?? 64;
  const waitSecs = secondsArg(p, '--timeout', '--timeout') ?? 30;
  const payload = Buffer.alloc(size, 0x61);
  const debug = (s: string) => { if (c.debug) process.stderr.write(`mqtt-rs bench: ${s}\n`); };

  const subConn = openConn({ ...c, clientId: `${c.clientId}-s` });
  const pubConn = openConn({ ...c, clientId: `${c.clientId}-p` });
  const tty = process.stdout.isTTY === true;

  let sent = 0;
  let acked = 0;
  let received = 0;
  let start = 0;
  let pubEnd = 0;
  let recvEnd = 0;
  let finished = false;
  let pubConnected = false;
  let subscribed = false;

  const status = () => {
    const now = performance.now();
    const pubMs = (pubEnd || now) - start;
    const recvMs = (recvEnd || now) - start;
    return `sent ${sent.toLocaleString('en-US')}/${total.toLocaleString('en-US')} (${rate(sent, pubMs)} msg/s)`
      + `  received ${received.toLocaleString('en-US')} (${rate(received, recvMs)} msg/s)`
      + (qos === 1 ? `  acked ${acked.toLocaleString('en-US')}` : '');
  };
  let ticker: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;

  const end = (code: number, why?: string) => {
    if (finished) return;
    finished = true;
    if (ticker !== undefined) clearInterval(ticker);
    if (deadline !== undefined) clearTimeout(deadline);
    if (tty) process.stdout.write('\r\x1b[K');
    process.stdout.write(`${status()}\n`);
    const mb = (n: number, ms: number) => (ms > 0 ? ((n * size) / 1048576 / (ms / 1000)).toFixed(1) : '-');
    if (start > 0) {
      const pubMs = (pubEnd || performance.now()) - start;
      const recvMs = (recvEnd || performance.now()) - start;
      process.stdout.write(`publish: ${sent} messages of ${size} bytes, QoS ${qos}, in ${(pubMs / 1000).toFixed(2)} s: ${rate(sent, pubMs)} msg/s, ${mb(sent, pubMs)} MiB/s\n`);
      process.stdout.write(`receive: ${received} messages in ${(recvMs / 1000).toFixed(2)} s: ${rate(received, recvMs)} msg/s, ${mb(received, recvMs)} MiB/s\n`);
    }
    if (why !== undefined) process.stderr.write(`mqtt-rs bench: ${why}\n`);
    process.exitCode = code;
    mqtt.disconnect(pubConn);
    mqtt.disconnect(subConn);
  };

  const pump = () => {
    while (sent < total) {
      if (mqtt.publish(pubConn, topic, payload, qos) < 0) {
        const why = mqtt.lastError();
        if (!isBackpressure(why)) end(EXIT_FAILED, `publish refused: ${why}`);
        return; // `drain` calls again
      }
      sent++;
      // Yield now and then so that the receiver and the progress line run.
      if ((sent & 4095) === 0) {
        setImmediate(pump);
        return;
      }
    }
    if (pubEnd === 0) {
      pubEnd = performance.now();
      debug('everything published');
      deadline = setTimeout(() => end(EXIT_FAILED, `only ${received} of ${total} messages came back within ${waitSecs} s`), waitSecs * 1000);
    }
  };
  const begin = () => {
    if (!pubConnected || !subscribed || start > 0) return;
    start = performance.now();
    process.stdout.write(`bench: ${total} messages of ${size} bytes at QoS ${qos} on '${topic}' via ${c.host}:${c.port}\n`);
    ticker = setInterval(() => {
      if (tty) process.stdout.write(`\r\x1b[K${status()}`);
      else process.stdout.write(`${status()}\n`);
    }, tty ? 200 : 1000);
    pump();
  };

  for (const [conn, name] of [[pubConn, 'publisher'], [subConn, 'subscriber']] as const) {
    mqtt.on(conn, 'disconnected', (e) => {
      if (e.cause !== 'requested') end(EXIT_FAILED, `${name}: ${e.reason}`);
    });
  }
  mqtt.on(subConn, 'connected', () => {
    debug('subscriber connected');
    if (mqtt.subscribe(subConn, topic, qos) < 0) end(EXIT_FAILED, `subscribe: ${mqtt.lastError()}`);
  });
  mqtt.on(subConn, 'subscribed', (e) => {
    if (!e.ok) return end(EXIT_FAILED, `the broker refused the subscription to '${topic}'`);
    subscribed = true;
    begin();
  });
  mqtt.on(subConn, 'message', () => {
    received++;
    if (received >= total) {
      recvEnd = performance.now();
      if (qos === 0 || acked >= total) end(EXIT_OK);
    }
  });
  mqtt.on(pubConn, 'connected', () => {
    debug('publisher connected');
    pubConnected = true;
    begin();
  });
  mqtt.on(pubConn, 'published', () => {
    acked++;
    if (acked >= total && received >= total) end(EXIT_OK);
  });
  mqtt.on(pubConn, 'drain', pump);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => end(EXIT_FAILED, 'interrupted'));
}

// ---- main ------------------------------------------------------------------

const MAIN_HELP = `Usage: mqtt-rs <command> [options]

MQTT 3.1.1 command line of mqtt-rs-client.

Commands:
  pub      publish messages (flags as mosquitto_pub)
  sub      subscribe and print messages (flags as mosquitto_sub)
  bench    publish and receive rates against a broker

'mqtt-rs <command> --help' describes each.
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  const commands: Record<string, (a: string[]) => Promise<void>> = { pub, sub, bench };
  if (command === undefined || command === '--help' || command === 'help') {
    if (command === undefined) {
      process.stderr.write(MAIN_HELP);
      process.exitCode = EXIT_USAGE;
    } else process.stdout.write(MAIN_HELP);
    return;
  }
  const run = commands[command];
  if (run === undefined) {
    process.stderr.write(`mqtt-rs: unknown command '${command}'\n${MAIN_HELP}`);
    process.exitCode = EXIT_USAGE;
    return;
  }
  try {
    await run(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`mqtt-rs ${command}: ${e.message}\nRun 'mqtt-rs ${command} --help' for the options.\n`);
    process.exitCode = EXIT_USAGE;
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`mqtt-rs: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(EXIT_FAILED);
});
