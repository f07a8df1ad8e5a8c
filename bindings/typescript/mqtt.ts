// The TypeScript API of the MQTT client. It stays thin: type checks,
// typed events, handler dispatch. Types come from the index.d.ts that
// `napi build` generates; nothing here declares them again.
//
// The addon is imported by a relative path that holds from this source file
// (bindings/typescript/) and from its compiled form (dist/typescript/)
// alike, so the shipped declarations resolve under every moduleResolution
// (node10 included). `import = require` compiles to a plain require() with
// no interop wrapper, so calls into the addon stay direct.
//
// Errors: a wrong argument *type* throws a TypeError naming the argument;
// a bad *value* (port 0, qos 3, a wildcard in a topic name, a full buffer,
// an unknown handle, ...) returns -1 and lastError() says why: the addon
// checks values, once, in Rust. Void functions given a bad value throw a
// RangeError naming it; for an unknown handle they set lastError().
//
// Events: the addon keeps every event of this JavaScript environment in a
// batch (a Buffer, see bindings/node/src/batch.rs for the layout) and says
// when one starts; `pull` takes it and dispatches each record to the
// handler bound with on(conn, event, fn), yielding to the event loop every
// few milliseconds. A handler that throws does not stop the others: the
// exception is thrown again on the next tick (process.nextTick), where it
// reaches process.on('uncaughtException') like an exception thrown from an
// EventEmitter listener.

import { setImmediate as setImmediateReal } from 'node:timers';
import { types } from 'node:util';
import native = require('../../index.js');
import { MessageStream, badFilter, topicMatches } from './message-stream.js';
import { deliveryHold, hold, onRelease } from './delivery-hold.js';
import type {
  MqttBroker as NativeBroker, MqttConnected, MqttDisconnected, MqttDrain, MqttLimits, MqttMessage,
  MqttOpenOptions as NativeOpenOptions, MqttOversized, MqttPublished, MqttSubscribed, MqttTlsOptions as NativeTls,
  MqttUnsubscribed, MqttWill as NativeWill,
} from '../../index.js';

export type {
  NativeBroker as MqttBroker, MqttConnected, MqttDisconnected, MqttDrain, MqttLimits, MqttMessage, MqttOversized,
  MqttPublished, MqttSubscribed, MqttUnsubscribed,
};

/** The last will: published by the broker if the link is lost without a DISCONNECT. */
export interface MqttWill extends Omit<NativeWill, 'payload'> {
  /** A string (sent as UTF-8) or bytes; empty by default. */
  payload?: string | Uint8Array;
}

/** PEM contents: a string or its bytes (not a file name: read the file first). */
export type MqttPem = string | Uint8Array;

/**
 * TLS options (rustls; no OpenSSL). `ca`: the CAs to trust instead of the
 * system's roots (one PEM with one or more certificates, or an array of
 * them); `cert` + `key`: a client certificate for mutual TLS;
 * `servername`: the name the server's certificate must carry (default the
 * host); `rejectUnauthorized: false` turns every certificate check off
 * (anyone on the path can then read and change the traffic: tests only).
 */
export interface MqttTlsOptions extends Omit<NativeTls, 'ca' | 'cert' | 'key'> {
  ca?: MqttPem | MqttPem[];
  cert?: MqttPem | MqttPem[];
  key?: MqttPem;
}

/** Options of open()/openAuth(). */
export interface MqttOpenOptions extends Omit<NativeOpenOptions, 'will' | 'tls'> {
  will?: MqttWill;
  /** true: TLS with the system's roots, checking the host name; an object: see MqttTlsOptions; false: plain TCP. */
  tls?: boolean | MqttTlsOptions;
}

/** The event objects, by event name. */
export interface MqttEvents {
  connected: MqttConnected;
  disconnected: MqttDisconnected;
  subscribed: MqttSubscribed;
  message: MqttMessage;
  /** PUBACK (QoS 1) or PUBCOMP (QoS 2) of a publish (its id is what publishWithId returned). */
  published: MqttPublished;
  unsubscribed: MqttUnsubscribed;
  /** After publish() returned -1 for lack of room: room again, retry. */
  drain: MqttDrain;
  /** A message larger than maxInboundPacket was skipped (and acknowledged). */
  oversized: MqttOversized;
}

export type MqttEventName = keyof MqttEvents;
export type MqttHandler<E extends MqttEventName> = (event: MqttEvents[E]) => void;
export type MqttState = 'connecting' | 'connected' | 'disconnected';
/** A payload: a string (sent as UTF-8) or bytes. */
export type MqttPayload = string | Uint8Array;

// Record kinds of the event batch (bindings/node/src/batch.rs).
const CONNECTED = 1;
const DISCONNECTED = 2;
const SUBSCRIBED = 3;
const MESSAGE = 4;
const PUBLISHED = 5;
const UNSUBSCRIBED = 6;
const DRAIN = 7;
const OVERSIZED = 8;

const EVENT_KINDS: Record<string, number> = {
  connected: CONNECTED,
  disconnected: DISCONNECTED,
  subscribed: SUBSCRIBED,
  message: MESSAGE,
  published: PUBLISHED,
  unsubscribed: UNSUBSCRIBED,
  drain: DRAIN,
  oversized: OVERSIZED,
};
// `cause` of a `disconnected` event, by the byte in the record (batch.rs cause_code).
const CAUSES: MqttDisconnected['cause'][] = [
  'requested', 'connect-failed', 'connect-timeout', 'refused', 'keep-alive', 'closed-by-peer', 'network', 'protocol', 'tls',
];
const EVENT_NAMES = Object.keys(EVENT_KINDS).map((n) => `"${n}"`).join(', ');

type AnyHandler = (event: never) => void;

/** What this layer knows about a handle returned by open(). */
interface Conn {
  /** indexed by record kind */
  handlers: (AnyHandler | undefined)[];
  /** disconnect() was called: only the final `disconnected` is delivered */
  closing: boolean;
  /** messages() iterators, ended with the handle */
  streams?: Set<MessageStream<MqttMessage>>;
}

const conns = new Map<number, Conn>();

// The reason for the last refusal made here; null means "ask the addon".
let localError: string | null = null;

function refuse(reason: string): -1 {
  localError = reason;
  return -1;
}

/** Maps the addon's 0/-1 (or handle) to the result, noting who has the reason. */
function fromNative(r: number): number {
  if (r < 0) localError = null;
  return r;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  // A Proxy (maybe revoked) is named without touching its traps.
  if (types.isProxy(v)) return 'a Proxy';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

/** Real bytes: a Uint8Array (or Buffer), not a Proxy or a look-alike. */
const isBytes = (v: unknown): v is Uint8Array => types.isUint8Array(v);

function typeError(name: string, expected: string, got: unknown): TypeError {
  return new TypeError(`${name} must be ${expected}, got ${describe(got)}`);
}

function checkConn(conn: unknown): asserts conn is number {
  if (typeof conn !== 'number') throw typeError('conn', 'a number (a handle from open)', conn);
}

function unknownHandle(conn: number): -1 {
  return refuse(`unknown or closed connection handle ${conn}`);
}

/**
 * A handle this JavaScript environment opened and has not seen the end of.
 * Handles of other worker threads are not ours to use (their events go to
 * that thread), so they are unknown here.
 */
const isHandle = (conn: number): boolean => conns.has(conn);

function checkString(name: string, v: unknown): asserts v is string {
  if (typeof v !== 'string') throw typeError(name, 'a string', v);
}

/** null when the string may go to the broker, else the reason. */
function badText(name: string, s: string, allowNul = false): string | null {
  if (!s.isWellFormed()) return `${name} is not well-formed UTF-16 (it contains a lone surrogate)`;
  if (!allowNul && s.includes('\0')) return `${name} must not contain U+0000`;
  return null;
}

function checkQos(qos: unknown): asserts qos is number {
  if (typeof qos !== 'number') throw typeError('qos', 'a number (0, 1 or 2)', qos);
}

/** The addon's i64 takes integers only: anything else is passed as a value it refuses. */
const qosArg = (qos: number): number => (Number.isInteger(qos) ? qos : -1);

// ---- events --------------------------------------------------------------

function rethrow(e: unknown): never {
  throw e;
}

function call(handler: AnyHandler, event: unknown): void {
  try {
    (handler as (e: unknown) => void)(event);
  } catch (e) {
    process.nextTick(rethrow, e);
  }
}

// Buffer's own UTF-8 slicer, without `toString`'s argument handling: a
// third of the cost of decoding a short topic. Present in every Node this
// package supports; `toString` stands in should it ever go.
type Utf8Slicer = { utf8Slice?: (start: number, end: number) => string };
const utf8 = (Buffer.prototype as Utf8Slicer).utf8Slice !== undefined
  ? (b: Buffer, start: number, end: number): string => (b as Utf8Slicer).utf8Slice!(start, end)
  : (b: Buffer, start: number, end: number): string => b.toString('utf8', start, end);

// Messages of a flood mostly share their topic: the last one decoded is
// kept with where its bytes are, and reused when the next topic's bytes
// are the same (comparing a few bytes beats making a string).
let lastTopic = '';
let lastTopicBatch: Buffer | null = null;
let lastTopicStart = 0;
let lastTopicLength = -1;

function topicOf(b: Buffer, start: number, end: number): string {
  const n = end - start;
  if (n === lastTopicLength && lastTopicBatch !== null) {
    const prev = lastTopicBatch;
    const from = lastTopicStart;
    let i = 0;
    while (i < n && b[start + i] === prev[from + i]) i++;
    if (i === n) return lastTopic;
  }
  lastTopic = utf8(b, start, end);
  lastTopicBatch = b;
  lastTopicStart = start;
  lastTopicLength = n;
  return lastTopic;
}

const u32 = (b: Buffer, at: number): number => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
const u16 = (b: Buffer, at: number): number => b[at] | (b[at + 1] << 8);

// Batches are pulled, not pushed: the addon's callback only schedules
// `pull`, which takes a batch and dispatches its records in order for at
// most DISPATCH_BUDGET_MS, then yields to the event loop (timers, I/O) and
// goes on in a later turn. So a handler slower than the flood never holds
// the thread for more than a budget plus one call, and since reading waits
// while a batch is not taken, memory stays bounded too.
const DISPATCH_BUDGET_MS = 4;
let current: Buffer | null = null;
let currentAt = 0;
let pullScheduled = false;
// node:timers' setImmediate, not the global: fake timers (sinon, jest) replace
// the global one, and a pull scheduled on a fake clock that is then
// uninstalled never runs, which would stop every connection's events for good.
function schedulePull(): void {
  if (!pullScheduled) {
    pullScheduled = true;
    setImmediateReal(pull);
  }
}

function pull(): void {
  pullScheduled = false;
  const deadline = performance.now() + DISPATCH_BUDGET_MS;
  for (;;) {
    if (hold.count > 0) return; // held (delivery-hold.ts): its release schedules the next pull
    if (current === null || currentAt >= current.length) {
      current = native.takeEvents();
      currentAt = 0;
      if (current.length === 0) {
        current = null;
        lastTopicBatch = null; // a spent batch is not kept alive for its topic
        return;
      }
    }
    currentAt = dispatch(current, currentAt, deadline);
    if (current !== null && currentAt < current.length) {
      if (hold.count === 0) schedulePull();
      return;
    }
  }
}

/**
 * Dispatches the records of `b` from `at` in order until the batch ends or
 * the deadline passes; returns where it stopped.
 */
function dispatch(b: Buffer, at: number, deadline: number): number {
  const n = b.length;
  let count = 0;
  while (at + 5 <= n) {
    if ((++count & 3) === 0 && performance.now() >= deadline) return at;
    if (hold.count > 0) return at;
    const kind = b[at];
    const conn = b[at + 1] | (b[at + 2] << 8) | (b[at + 3] << 16) | (b[at + 4] << 24);
    at += 5;
    const c = conns.get(conn);
    // After disconnect() only the handle's final event is delivered.
    const live = c !== undefined && !c.closing;
    const h = live ? c.handlers[kind] : undefined;
    switch (kind) {
      case CONNECTED: {
        const sessionPresent = b[at] !== 0;
        const broker = b[at + 1];
        const port = u16(b, at + 2);
        const start = at + 8;
        at = start + u32(b, at + 4);
        if (h !== undefined) {
          call(h, { conn, sessionPresent, broker, host: b.toString('utf8', start, at), port } satisfies MqttConnected);
        }
        break;
      }
      case DISCONNECTED: {
        const last = b[at] !== 0;
        const cause = CAUSES[b[at + 1]] ?? 'network';
        const abandoned = u32(b, at + 2);
        const start = at + 10;
        at = start + u32(b, at + 6);
        if (c === undefined || (c.closing && !last)) continue;
        const dh = c.handlers[DISCONNECTED];
        // The final event of a handle: then its handlers go, and its iterators end.
        if (last) {
          conns.delete(conn);
          c.streams?.forEach((s) => s.end());
        }
        if (dh !== undefined) {
          call(dh, { conn, reason: b.toString('utf8', start, at), cause, abandoned } satisfies MqttDisconnected);
        }
        break;
      }
      case SUBSCRIBED: {
        const packetId = u16(b, at);
        const code = b[at + 2];
        const start = at + 7;
        at = start + u32(b, at + 3);
        if (h !== undefined) {
          const ok = code !== 0x80;
          call(h, { conn, topic: b.toString('utf8', start, at), qos: code, ok, packetId } satisfies MqttSubscribed);
        }
        break;
      }
      case MESSAGE: {
        const qos = b[at];
        const flags = b[at + 1];
        const packetId = u16(b, at + 2);
        const topicStart = at + 12;
        const payloadStart = topicStart + u32(b, at + 4);
        at = payloadStart + u32(b, at + 8);
        if (h !== undefined) {
          call(h, {
            conn,
            topic: topicOf(b, topicStart, payloadStart),
            payload: utf8(b, payloadStart, at),
            bytes: b.subarray(payloadStart, at),
            qos,
            retain: (flags & 1) !== 0,
            dup: (flags & 2) !== 0,
            packetId,
          } satisfies MqttMessage);
        }
        break;
      }
      case PUBLISHED: {
        const packetId = u16(b, at);
        const qos = b[at + 2];
        at += 3;
        if (h !== undefined) call(h, { conn, packetId, qos } satisfies MqttPublished);
        break;
      }
      case UNSUBSCRIBED: {
        const packetId = u16(b, at);
        const start = at + 6;
        at = start + u32(b, at + 2);
        if (h !== undefined) call(h, { conn, topic: b.toString('utf8', start, at), packetId } satisfies MqttUnsubscribed);
        break;
      }
      case DRAIN:
        if (h !== undefined) call(h, { conn } satisfies MqttDrain);
        break;
      case OVERSIZED: {
        const qos = b[at];
        const size = u32(b, at + 1);
        const start = at + 9;
        at = start + u32(b, at + 5);
        if (h !== undefined) call(h, { conn, topic: b.toString('utf8', start, at), size, qos } satisfies MqttOversized);
        break;
      }
      default:
        // Not a record this version knows: the rest cannot be framed.
        process.nextTick(rethrow, new Error(`mqtt-rs-client: unknown event record kind ${kind} in the batch`));
        return n;
    }
  }
  return n;
}

native.init(schedulePull);
onRelease(schedulePull);

// ---- open / close --------------------------------------------------------

const OPTION_NAMES = ['keepAlive', 'connectTimeoutMs', 'maxInboundPacket'] as const;
/** Entries of `options.brokers` at most (the addon says so when there are more). */
const MAX_BROKERS = 16;

/** Reads `name` of a caller's object; a revoked Proxy is named as `what`. */
function read(o: object, name: string, bad: () => TypeError): unknown {
  try {
    return (o as Record<string, unknown>)[name];
  } catch (e) {
    // The caller's own getter may throw; a revoked Proxy is ours to name.
    if (types.isProxy(o)) throw bad();
    throw e;
  }
}

function isPlainObject(v: unknown): v is object {
  if (v === null || typeof v !== 'object') return false;
  try {
    return !Array.isArray(v);
  } catch {
    return false;
  }
}

/** Type checks of `options.will`; a bad topic string is refused (-1) by the caller. */
function checkWill(will: unknown): NativeWill {
  const bad = () => typeError('options.will', 'an object { topic, payload?, qos?, retain? }', will);
  if (!isPlainObject(will)) throw bad();
  const topic = read(will, 'topic', bad);
  if (typeof topic !== 'string') throw typeError('options.will.topic', 'a string', topic);
  const out: NativeWill = { topic };
  const payload = read(will, 'payload', bad);
  if (typeof payload === 'string') {
    out.payload = Buffer.from(payload, 'utf8');
  } else if (isBytes(payload)) {
    out.payload = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  } else if (payload !== undefined) {
    throw typeError('options.will.payload', 'a string or a Uint8Array', payload);
  }
  const qos = read(will, 'qos', bad);
  if (qos !== undefined) {
    if (typeof qos !== 'number') throw typeError('options.will.qos', 'a number (0, 1 or 2)', qos);
    out.qos = qos;
  }
  const retain = read(will, 'retain', bad);
  if (retain !== undefined) {
    if (typeof retain !== 'boolean') throw typeError('options.will.retain', 'a boolean', retain);
    out.retain = retain;
  }
  return out;
}

/**
 * Type checks of `options.brokers`. Only the first MAX_BROKERS + 1 entries
 * are looked at: a longer list is refused by the addon, which checks the
 * values (hosts, ports, length) in one place.
 */
function checkBrokers(brokers: unknown): NativeBroker[] {
  const bad = () => typeError('options.brokers', 'an array of { host, port }', brokers);
  let isArray: boolean;
  try {
    isArray = Array.isArray(brokers);
  } catch {
    throw bad();
  }
  if (!isArray) throw bad();
  const list = brokers as unknown[];
  const n = Math.min(read(list, 'length', bad) as number, MAX_BROKERS + 1);
  const out: NativeBroker[] = [];
  for (let i = 0; i < n; i++) {
    const name = `options.brokers[${i}]`;
    const b = read(list, String(i), bad);
    const badEntry = () => typeError(name, 'an object { host, port }', b);
    if (!isPlainObject(b)) throw badEntry();
    const host = read(b, 'host', badEntry);
    if (typeof host !== 'string') throw typeError(`${name}.host`, 'a string', host);
    const port = read(b, 'port', badEntry);
    if (typeof port !== 'number') throw typeError(`${name}.port`, 'a number', port);
    out.push({ host, port });
  }
  return out;
}

/** PEM contents as bytes; `name` names the option in the TypeError. */
function pem(name: string, v: unknown, many: boolean): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (isBytes(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (many && Array.isArray(v) && !types.isProxy(v)) {
    // Several PEM texts are one PEM text: joined by newlines.
    return Buffer.concat(v.flatMap((p, i) => [pem(`${name}[${i}]`, p, false), Buffer.from('\n')]));
  }
  throw typeError(name, `a string or a Uint8Array of PEM${many ? ' (or an array of them)' : ''}`, v);
}

/** Type checks of `options.tls`; its values (PEM, names) are checked by the addon. */
function checkTls(tls: unknown): NativeTls | undefined {
  if (tls === false) return undefined;
  if (tls === true) return {};
  const bad = () => typeError('options.tls', 'a boolean or an object { ca?, cert?, key?, servername?, rejectUnauthorized? }', tls);
  if (!isPlainObject(tls)) throw bad();
  const out: NativeTls = {};
  for (const [name, many] of [['ca', true], ['cert', true], ['key', false]] as const) {
    const v = read(tls, name, bad);
    if (v !== undefined) out[name] = pem(`options.tls.${name}`, v, many);
  }
  const servername = read(tls, 'servername', bad);
  if (servername !== undefined) {
    if (typeof servername !== 'string') throw typeError('options.tls.servername', 'a string', servername);
    out.servername = servername;
  }
  const reject = read(tls, 'rejectUnauthorized', bad);
  if (reject !== undefined) {
    if (typeof reject !== 'boolean') throw typeError('options.tls.rejectUnauthorized', 'a boolean', reject);
    out.rejectUnauthorized = reject;
  }
  return out;
}

/** Why a broker's host may not go to the addon (a lone surrogate would be repaired there), or null. */
function badBrokers(opts: NativeOpenOptions | undefined): string | null {
  for (const [i, b] of (opts?.brokers ?? []).entries()) {
    const bad = badText(`options.brokers[${i}].host`, b.host);
    if (bad !== null) return bad;
  }
  return null;
}

/** Why the will's strings may not go to the broker, or null. */
function badWill(opts: NativeOpenOptions | undefined, raw: unknown): string | null {
  const w = opts?.will;
  if (w === undefined) return null;
  const bad = badText('will topic', w.topic);
  if (bad !== null) return bad;
  const payload = (raw as { will?: { payload?: unknown } }).will?.payload;
  if (typeof payload === 'string' && !payload.isWellFormed()) {
    return 'will payload is not well-formed UTF-16 (it contains a lone surrogate)';
  }
  return null;
}

/** Type checks of the options; their values are checked by the addon. */
function checkOptions(options: unknown): NativeOpenOptions | undefined {
  if (options === undefined) return undefined;
  // A revoked Proxy throws on any look: that is a bad `options`, named so.
  const bad = () => typeError('options', 'an object', options);
  if (options === null || typeof options !== 'object') throw bad();
  let isArray: boolean;
  try {
    isArray = Array.isArray(options);
  } catch {
    throw bad();
  }
  if (isArray) throw bad();
  const o = options as Record<string, unknown>;
  const out: NativeOpenOptions = {};
  for (const name of OPTION_NAMES) {
    let v: unknown;
    try {
      v = o[name];
    } catch (e) {
      // The caller's own getter may throw; a revoked Proxy is ours to name.
      if (types.isProxy(options)) throw bad();
      throw e;
    }
    if (v === undefined) continue;
    if (typeof v !== 'number') throw typeError(`options.${name}`, 'a number', v);
    out[name] = v;
  }
  const clean = read(o, 'cleanSession', bad);
  if (clean !== undefined) {
    if (typeof clean !== 'boolean') throw typeError('options.cleanSession', 'a boolean', clean);
    out.cleanSession = clean;
  }
  const will = read(o, 'will', bad);
  if (will !== undefined) out.will = checkWill(will);
  const brokers = read(o, 'brokers', bad);
  if (brokers !== undefined) out.brokers = checkBrokers(brokers);
  const tls = read(o, 'tls', bad);
  if (tls !== undefined) out.tls = checkTls(tls);
  return out;
}

function openImpl(
  host: unknown, port: unknown, clientId: unknown,
  user: string | undefined, pass: Uint8Array | undefined, options: unknown,
): number {
  checkString('host', host);
  if (typeof port !== 'number') throw typeError('port', 'a number', port);
  checkString('clientId', clientId);
  const opts = checkOptions(options);
  const bad = badText('host', host) ?? badText('clientId', clientId) ?? badWill(opts, options) ?? badBrokers(opts);
  if (bad !== null) return refuse(bad);
  const conn = native.open(host, port, clientId, user, pass, opts);
  if (conn < 0) return fromNative(conn);
  conns.set(conn, { handlers: [], closing: false });
  return conn;
}

/**
 * Starts a connection to `host:port` and returns its handle (>= 0), or -1
 * (see lastError()). Non-blocking: `connected` fires on CONNACK.
 */
export function open(host: string, port: number, clientId: string, options?: MqttOpenOptions): number {
  return openImpl(host, port, clientId, undefined, undefined, options);
}

/** open() with a user name and password (a string, sent as UTF-8, or bytes). */
export function openAuth(
  host: string, port: number, clientId: string, user: string, pass: string | Uint8Array, options?: MqttOpenOptions,
): number {
  checkString('host', host);
  checkString('user', user);
  let bytes: Uint8Array;
  if (typeof pass === 'string') {
    // A password is binary data in MQTT: U+0000 is allowed, lone surrogates are not.
    const bad = badText('pass', pass, true);
    if (bad !== null) return refuse(bad);
    bytes = Buffer.from(pass, 'utf8');
  } else if (isBytes(pass)) {
    bytes = pass;
  } else {
    throw typeError('pass', 'a string or a Uint8Array', pass);
  }
  const bad = badText('user', user);
  if (bad !== null) return refuse(bad);
  return openImpl(host, port, clientId, user, bytes, options);
}

/**
 * Flushes what publish() queued, sends DISCONNECT, closes, and frees the
 * handle; auto-reconnect is off from here on. One final `disconnected`
 * event follows, then nothing more for this handle.
 */
export function disconnect(conn: number): void {
  checkConn(conn);
  if (!isHandle(conn)) {
    unknownHandle(conn);
    return;
  }
  if (fromNative(native.disconnect(conn)) === 0) {
    const c = conns.get(conn);
    if (c !== undefined) c.closing = true;
  }
}

// ---- publish / subscribe -------------------------------------------------

/**
 * Queues a PUBLISH whole: 0, or -1 (nothing queued) on a full outbound
 * buffer (backpressure: retry later, the connection stays open) or invalid
 * input. Never blocks. `retain` is optional (default false).
 */
export function publish(conn: number, topic: string, payload: MqttPayload, qos: number, retain?: boolean): number {
  const r = publishWithId(conn, topic, payload, qos, retain);
  return r < 0 ? -1 : 0;
}

/**
 * publish() that returns the packet id of a QoS 1 or 2 message (1..65535;
 * its PUBACK or PUBCOMP comes as a `published` event with that id), 0 for
 * QoS 0, or -1.
 */
export function publishWithId(conn: number, topic: string, payload: MqttPayload, qos: number, retain?: boolean): number {
  checkConn(conn);
  checkString('topic', topic);
  checkQos(qos);
  if (retain !== undefined && typeof retain !== 'boolean') throw typeError('retain', 'a boolean', retain);
  if (typeof payload !== 'string' && !isBytes(payload)) {
    throw typeError('payload', 'a string or a Uint8Array', payload);
  }
  if (!isHandle(conn)) return unknownHandle(conn);
  if (!topic.isWellFormed()) return refuse('topic is not well-formed UTF-16 (it contains a lone surrogate)');
  if (typeof payload === 'string') {
    if (!payload.isWellFormed()) return refuse('payload is not well-formed UTF-16 (it contains a lone surrogate)');
    return fromNative(native.publishString(conn, topic, payload, qosArg(qos), retain === true));
  }
  return fromNative(native.publish(conn, topic, payload, qosArg(qos), retain === true));
}

/** Queues a SUBSCRIBE: 0 or -1. The SUBACK comes as a `subscribed` event. */
export function subscribe(conn: number, filter: string, qos: number): number {
  checkConn(conn);
  checkString('filter', filter);
  checkQos(qos);
  if (!isHandle(conn)) return unknownHandle(conn);
  const bad = badText('filter', filter);
  if (bad !== null) return refuse(bad);
  return fromNative(native.subscribe(conn, filter, qosArg(qos)));
}

/** Queues an UNSUBSCRIBE: 0 or -1. */
export function unsubscribe(conn: number, filter: string): number {
  checkConn(conn);
  checkString('filter', filter);
  if (!isHandle(conn)) return unknownHandle(conn);
  const bad = badText('filter', filter);
  if (bad !== null) return refuse(bad);
  return fromNative(native.unsubscribe(conn, filter));
}

// ---- events --------------------------------------------------------------

/**
 * Binds `handler` to `event` ("connected", "disconnected", "subscribed",
 * "message") of `conn`, replacing any handler bound before: 0 or -1.
 */
export function on<E extends MqttEventName>(conn: number, event: E, handler: MqttHandler<E>): number {
  checkConn(conn);
  checkString('event', event);
  if (typeof handler !== 'function') throw typeError('handler', 'a function', handler);
  const kind = Object.hasOwn(EVENT_KINDS, event) ? EVENT_KINDS[event] : undefined;
  if (kind === undefined) {
    const shown = (event.length > 40 ? `${event.slice(0, 40)}...` : event).toWellFormed();
    return refuse(`unknown event "${shown}": expected one of ${EVENT_NAMES}`);
  }
  const c = conns.get(conn);
  if (c === undefined || c.closing) return unknownHandle(conn);
  c.handlers[kind] = handler as AnyHandler;
  return 0;
}

/**
 * The messages of `conn` whose topic matches `filter` (default '#'), as an
 * async iterator: `for await (const m of mqtt.messages(conn, 't/#'))`. It
 * becomes the handle's `message` handler (like on(conn, 'message', ...))
 * and does not subscribe. When the loop falls behind by `highWaterMark`
 * messages (default 1000), event delivery of this thread is held
 * until it has caught up to half: the addon then stops
 * reading the sockets, so nothing is dropped and memory stays bounded.
 * Every connection of the thread waits meanwhile. Each message's `bytes`
 * is a copy (not a view of the batch). Ends after the handle's final
 * `disconnected`, or when the loop breaks.
 */
export function messages(conn: number, filter = '#', opts: { highWaterMark?: number } = {}): AsyncIterableIterator<MqttMessage> {
  checkConn(conn);
  checkString('filter', filter);
  const bad = badFilter(filter);
  if (bad !== null) throw new TypeError(`filter: ${bad}`);
  if (!isPlainObject(opts)) throw typeError('opts', 'an object', opts);
  const hwm = opts.highWaterMark ?? 1000;
  if (typeof hwm !== 'number') throw typeError('opts.highWaterMark', 'a number', hwm);
  if (!Number.isInteger(hwm) || hwm < 1) throw new RangeError(`opts.highWaterMark must be an integer >= 1, got ${hwm}`);
  const c = conns.get(conn);
  if (c === undefined || c.closing) throw new RangeError(`conn: unknown or closed connection handle ${conn}`);
  const streams = (c.streams ??= new Set());
  const handler = (m: MqttMessage): void => {
    if (topicMatches(filter, m.topic)) stream.push({ ...m, bytes: Buffer.from(m.bytes) });
  };
  const stream = new MessageStream<MqttMessage>(hwm, deliveryHold, () => {
    streams.delete(stream);
    if (c.handlers[MESSAGE] === handler) c.handlers[MESSAGE] = undefined;
  });
  streams.add(stream);
  c.handlers[MESSAGE] = handler as AnyHandler;
  return stream;
}

// ---- reconnect, status ---------------------------------------------------

/** Reconnect after unexpected disconnects (off by default). */
export function setAutoReconnect(conn: number, enabled: boolean): void {
  checkConn(conn);
  if (typeof enabled !== 'boolean') throw typeError('enabled', 'a boolean', enabled);
  if (!isHandle(conn)) {
    unknownHandle(conn);
    return;
  }
  fromNative(native.setAutoReconnect(conn, enabled));
}

/**
 * The reconnect delays in seconds (fractions allowed): at most 8 entries,
 * the last repeats; the index resets after a successful (CONNACK) connect.
 * 1 second when none are set.
 */
export function setReconnectDelays(conn: number, given: readonly number[]): void {
  checkConn(conn);
  if (types.isProxy(given) || !Array.isArray(given)) throw typeError('delays', 'an array of numbers', given);
  // A bad value throws, as Node's core does for out-of-range arguments.
  if (given.length > 8) throw new RangeError(`delays must have at most 8 entries, got ${given.length}`);
  // Read once: what is checked is what the addon gets.
  const delays = Array.from(given);
  for (let i = 0; i < delays.length; i++) {
    if (typeof delays[i] !== 'number') throw typeError(`delays[${i}]`, 'a number', delays[i]);
  }
  for (let i = 0; i < delays.length; i++) {
    const d = delays[i];
    if (!Number.isFinite(d) || d < 0 || d > 4294967) {
      throw new RangeError(`delays[${i}] must be a finite number of seconds from 0 to 4294967, got ${d}`);
    }
  }
  if (!isHandle(conn)) {
    unknownHandle(conn);
    return;
  }
  fromNative(native.setReconnectDelays(conn, delays));
}

/**
 * "connecting", "connected" or "disconnected". An unknown or closed handle
 * reads as "disconnected" (and lastError() says why).
 */
export function state(conn: number): MqttState {
  checkConn(conn);
  if (!isHandle(conn)) {
    unknownHandle(conn);
    return 'disconnected';
  }
  const s = native.stateCode(conn);
  if (s < 0) {
    localError = null;
    return 'disconnected';
  }
  return STATES[s];
}

/** By `native.stateCode`: a number crosses N-API faster than a string. */
const STATES: readonly MqttState[] = ['connecting', 'connected', 'disconnected'];

/**
 * How many QoS 1/2 messages of `conn` are published and not yet
 * acknowledged (PUBACK, or PUBCOMP), queued ones included; -1 for an
 * unknown handle.
 */
export function inflight(conn: number): number {
  checkConn(conn);
  if (!isHandle(conn)) return unknownHandle(conn);
  return fromNative(native.inflight(conn));
}

/** Sends a PINGREQ now (keep-alive pings are automatic). */
export function ping(conn: number): void {
  checkConn(conn);
  if (!isHandle(conn)) {
    unknownHandle(conn);
    return;
  }
  fromNative(native.ping(conn));
}

/** No-op, kept for compatibility: the socket is never blocking. */
function setTimeoutCompat(conn: number, ms: number): void {
  checkConn(conn);
  if (typeof ms !== 'number') throw typeError('ms', 'a number', ms);
  if (!(ms >= 0)) throw new RangeError(`ms must be a number >= 0, got ${ms}`);
}
export { setTimeoutCompat as setTimeout };

/** The reason for the last -1 (or refused void call). */
export function lastError(): string {
  return localError ?? native.lastError();
}

/** Handles opened and not yet disconnected. */
export function liveConnections(): number {
  return native.liveConnections();
}

/** Connection limit and buffer sizes of this build. */
export function limits(): MqttLimits {
  return native.limits();
}

/** Version of the Rust core compiled into the native addon. */
export function coreVersion(): string {
  return native.coreVersion();
}

// The same functions as one object, so that `import mqtt from '...'` works
// for ESM, for TypeScript's CommonJS output and for bundlers alike.
const mqtt = {
  open,
  openAuth,
  disconnect,
  publish,
  publishWithId,
  subscribe,
  unsubscribe,
  on,
  setAutoReconnect,
  setReconnectDelays,
  state,
  inflight,
  ping,
  setTimeout: setTimeoutCompat,
  lastError,
  liveConnections,
  limits,
  coreVersion,
  messages,
};
export default mqtt;
