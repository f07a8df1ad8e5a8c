// The bad-call table: every function the package exports, called with a
// generated table of bad arguments, each call checked against the API
// contract (DESIGN.md "The API contract", README "Bad input"):
//
// - it returns normally with the refusal value (-1, undefined for a void
//   function, 'disconnected' for state) and lastError() gives a readable
//   reason for *this* call; or
// - it throws a TypeError or RangeError whose message names the argument;
// - an exception thrown by the caller's own code (a getter, a Proxy trap,
//   toString) may come back unchanged (it is the caller's);
// - anything else is a violation: another exception, a TypeError that does
//   not name the argument, garbage accepted as if it were valid, a refusal
//   without a reason, a call that does not return.
//
// The table is built afresh in every thread that runs it (values cannot
// cross threads, and each thread loads the package itself): the main
// thread of __test__/bad-calls.spec.ts and the workers of
// helpers/bad-calls-worker.ts. Nothing here uses ava, so a worker can run it.

import mqtt, * as api from 'mqtt-rs-client';

/** Thrown by the caller's own code (getters, Proxy traps, toString): may propagate unchanged. */
export class CallerError extends Error {
  constructor(what: string) {
    super(`caller code threw (${what})`);
    this.name = 'CallerError';
  }
}

export interface TableOptions {
  /** a broker on 127.0.0.1 (mosquitto or aedes) for this thread's live connection */
  brokerPort: number;
  /** a port where nothing listens, for the open() calls that are accepted */
  closedPort: number;
  /** 'main', 'worker 1', ... (goes into every violation) */
  thread: string;
  /** a topic prefix no other thread or test uses */
  prefix: string;
}

export interface TableReport {
  thread: string;
  /** calls made */
  rows: number;
  /** calls made, by kind of row */
  groups: Record<string, number>;
  /** calls made, by function */
  perFunction: Record<string, number>;
  /** contract violations, one line each: "<fn> <arg>=<value>: <what happened>" */
  violations: string[];
  /** not violations, but worth reading (e.g. a refusal whose reason does not say which argument) */
  notes: string[];
  /** rows where the caller's own exception came back unchanged */
  callerExceptions: number;
  /** what the calls did: 'TypeError', 'RangeError', '-1', 'refused (lastError)', 'accepted', ... */
  outcomes: Record<string, number>;
  /** the slowest single call */
  slowest: { ms: number; row: string };
  /** the live connection of this thread kept working through the table */
  liveAfter: { ok: boolean; detail: string };
  /** the functions the package exports that the table does not cover (must be empty) */
  uncovered: string[];
  /** wall time of the table in this thread, ms */
  ms: number;
}

// ---- values ---------------------------------------------------------------

/**
 * What a value looks like to a type check. The `-proxy` and `-fake` tags
 * are values that pass `Array.isArray` / `instanceof Uint8Array` without
 * being what the addon can read.
 */
type Tag =
  | 'undefined' | 'null' | 'boolean' | 'number' | 'bigint' | 'symbol' | 'string' | 'function'
  | 'object' | 'array' | 'array-proxy' | 'u8' | 'u8-proxy' | 'u8-fake' | 'revoked';

interface Val {
  label: string;
  v: unknown;
  tag: Tag;
  /** touching it runs caller code that throws CallerError */
  caller?: boolean;
}

const MiB = 1 << 20;

function throwingTraps(what: string): ProxyHandler<object> {
  const t = (trap: string) => () => {
    throw new CallerError(`${what}: ${trap} trap`);
  };
  return {
    get: t('get'), set: t('set'), has: t('has'), ownKeys: t('ownKeys'), getPrototypeOf: t('getPrototypeOf'),
    getOwnPropertyDescriptor: t('getOwnPropertyDescriptor'), defineProperty: t('defineProperty'),
    deleteProperty: t('deleteProperty'), apply: t('apply'), construct: t('construct'),
    isExtensible: t('isExtensible'), preventExtensions: t('preventExtensions'), setPrototypeOf: t('setPrototypeOf'),
  };
}

function revoked<T extends object>(target: T): T {
  const r = Proxy.revocable(target, {});
  r.revoke();
  return r.proxy;
}

/** An object whose every conversion and every property the API could read throws. */
function throwingObject(): object {
  const o: Record<string | symbol, unknown> = {};
  const thrower = (name: string) => () => {
    throw new CallerError(`getter ${name}`);
  };
  for (const name of ['keepAlive', 'connectTimeoutMs', 'maxInboundPacket', 'length', '0', 'then', 'buffer', 'byteLength']) {
    Object.defineProperty(o, name, { get: thrower(name), enumerable: true });
  }
  o.toString = () => { throw new CallerError('toString'); };
  o.valueOf = () => { throw new CallerError('valueOf'); };
  o[Symbol.toPrimitive] = () => { throw new CallerError('Symbol.toPrimitive'); };
  o.toJSON = () => { throw new CallerError('toJSON'); };
  return o;
}

/** Values of every JavaScript type; each row uses the ones of a type its argument does not take. */
function genericValues(): Val[] {
  const v = (label: string, value: unknown, tag: Tag, caller = false): Val => ({ label, v: value, tag, caller });
  return [
    v('undefined', undefined, 'undefined'),
    v('null', null, 'null'),
    v('true', true, 'boolean'),
    v('false', false, 'boolean'),
    v('0', 0, 'number'),
    v('-0', -0, 'number'),
    v('1', 1, 'number'),
    v('-1', -1, 'number'),
    v('1.5', 1.5, 'number'),
    v('NaN', NaN, 'number'),
    v('Infinity', Infinity, 'number'),
    v('-Infinity', -Infinity, 'number'),
    v('2**31', 2 ** 31, 'number'),
    v('2**53', 2 ** 53, 'number'),
    v('Number.MAX_VALUE', Number.MAX_VALUE, 'number'),
    v('0n', 0n, 'bigint'),
    v('1n', 1n, 'bigint'),
    v('2n**64n', 2n ** 64n, 'bigint'),
    v("Symbol('x')", Symbol('x'), 'symbol'),
    v('Symbol.iterator', Symbol.iterator, 'symbol'),
    v("''", '', 'string'),
    v("'0'", '0', 'string'),
    v("'1'", '1', 'string'),
    v("'1883'", '1883', 'string'),
    v("'true'", 'true', 'string'),
    v("'message'", 'message', 'string'),
    v('{}', {}, 'object'),
    v('Object.create(null)', Object.create(null), 'object'),
    v('{ length: 1, 0: 1 }', { length: 1, 0: 1 }, 'object'),
    v('{ valueOf: () => 1 }', { valueOf: () => 1, toString: () => '1' }, 'object'),
    v('new Date(0)', new Date(0), 'object'),
    v('/re/', /re/, 'object'),
    v('new Map()', new Map(), 'object'),
    v('new WeakMap()', new WeakMap(), 'object'),
    v('new Number(1)', new Number(1), 'object'),
    v("new String('x')", new String('x'), 'object'),
    v('new Boolean(true)', new Boolean(true), 'object'),
    v('Promise.resolve(1)', Promise.resolve(1), 'object'),
    v("new Error('x')", new Error('x'), 'object'),
    v('globalThis', globalThis, 'object'),
    v('new ArrayBuffer(4)', new ArrayBuffer(4), 'object'),
    v('new SharedArrayBuffer(4)', new SharedArrayBuffer(4), 'object'),
    v('new DataView(...)', new DataView(new ArrayBuffer(4)), 'object'),
    v('new Float64Array([1])', new Float64Array([1]), 'object'),
    v('new Uint16Array(2)', new Uint16Array(2), 'object'),
    v('new Uint8ClampedArray(2)', new Uint8ClampedArray(2), 'object'),
    v('[]', [], 'array'),
    v('[1]', [1], 'array'),
    v('[0, 1]', [0, 1], 'array'),
    v("['a']", ['a'], 'array'),
    v('new Array(3) (holes)', new Array(3), 'array'),
    v('new Uint8Array(2)', new Uint8Array(2), 'u8'),
    v("Buffer.from('x')", Buffer.from('x'), 'u8'),
    v('() => {}', () => {}, 'function'),
    v('class {}', class {}, 'function'),
    v('async () => {}', async () => {}, 'function'),
    v('function* () {}', function* () {}, 'function'),
    v('Proxy({}) (transparent)', new Proxy({}, {}), 'object'),
    v('Proxy([1]) (transparent)', new Proxy([1], {}), 'array-proxy'),
    v('Proxy(new Uint8Array(2)) (transparent)', new Proxy(new Uint8Array(2), {}), 'u8-proxy'),
    v('Object.create(Uint8Array.prototype)', Object.create(Uint8Array.prototype), 'u8-fake'),
    v('{} with Buffer.prototype', Object.setPrototypeOf({ length: 2 }, Buffer.prototype), 'u8-fake'),
    v('object with throwing getters/toString/valueOf', throwingObject(), 'object', true),
    v('Proxy({}) every trap throws', new Proxy({}, throwingTraps('Proxy({})')), 'object', true),
    v('Proxy([]) every trap throws', new Proxy([], throwingTraps('Proxy([])')), 'array-proxy', true),
    v('Proxy(Uint8Array) every trap throws', new Proxy(new Uint8Array(2), throwingTraps('Proxy(Uint8Array)')), 'u8-proxy', true),
    v('Proxy(function) every trap throws', new Proxy(() => {}, throwingTraps('Proxy(function)')), 'function', true),
    v('revoked Proxy({})', revoked({}), 'revoked'),
    v('revoked Proxy([])', revoked([]), 'revoked'),
    v('revoked Proxy(Uint8Array)', revoked(new Uint8Array(2)), 'revoked'),
  ];
}

// ---- the functions and their arguments ------------------------------------

/** How a function reports a refusal. */
type Kind = 'number' | 'void' | 'state' | 'lastError' | 'count' | 'limits' | 'version' | 'iterator';

interface Param {
  name: string;
  /** what the argument takes; every other tag of the generic values makes a row */
  types: Tag[];
  /** tags that are not what the argument takes but may reasonably be accepted */
  lenient?: Tag[];
  /** the valid value used while another argument is under test */
  valid: unknown;
  /** right type, bad value: must be refused */
  bad?: Val[];
  /** edge values that may be accepted: must not crash, must not throw anything else */
  edge?: Val[];
}

interface Spec {
  fn: string;
  kind: Kind;
  params: Param[];
}

export type Expect = 'refuse' | 'tolerate';

export interface Row {
  fn: string;
  args: unknown[];
  /** the argument under test: named in a TypeError/RangeError ('' when none is) */
  arg: string;
  /** a short description of the value */
  label: string;
  expect: Expect;
  /** the value runs caller code that throws CallerError */
  caller: boolean;
  group: string;
  thisArg?: unknown;
}

const s = (label: string, v: string): Val => ({ label, v, tag: 'string' });
const n = (label: string, v: number): Val => ({ label, v, tag: 'number' });

/** Lone surrogates, U+0000 and oversize strings: bad in every string argument that is text. */
function badText(big: BigStrings): Val[] {
  return [
    s("'\\0'", '\0'),
    s("'a\\0b'", 'a\0b'),
    s("'\\uD800' (lone high surrogate)", '\uD800'),
    s("'a\\uDC00b' (lone low surrogate)", 'a\uDC00b'),
    s("'x\\uD83D' (high surrogate at the end)", 'x\uD83D'),
    s("'\\uDE00\\uD83D' (pair in the wrong order)", '\uDE00\uD83D'),
    s("1 MiB + '\\uD800'", big.mibSurrogate),
    s("'a'.repeat(65536)", big.a65536),
    s("'é'.repeat(32768) (65 536 bytes of UTF-8)", big.e32768),
    s("'€'.repeat(21846) (65 538 bytes)", big.euro21846),
    s("'x'.repeat(70000)", big.x70000),
    s("'x'.repeat(1 MiB)", big.mib),
    s("'x'.repeat(1 MiB + 1)", big.mibPlus),
  ];
}

interface BigStrings {
  a65536: string;
  e32768: string;
  euro21846: string;
  x70000: string;
  mib: string;
  mibPlus: string;
  mibSurrogate: string;
  mib3: string;
}

function bigStrings(): BigStrings {
  return {
    a65536: 'a'.repeat(65536),
    e32768: 'é'.repeat(32768),
    euro21846: '€'.repeat(21846),
    x70000: 'x'.repeat(70000),
    mib: 'x'.repeat(MiB),
    mibPlus: 'x'.repeat(MiB + 1),
    mibSurrogate: 'x'.repeat(MiB) + '\uD800',
    mib3: 'x'.repeat(3 * MiB),
  };
}

const NUMBER_EDGES = (): Val[] => [
  n('NaN', NaN), n('Infinity', Infinity), n('-Infinity', -Infinity), n('1.5', 1.5), n('-1', -1),
  n('2**31', 2 ** 31), n('2**32', 2 ** 32), n('2**53', 2 ** 53), n('2**64', 2 ** 64),
  n('-(2**63)', -(2 ** 63)), n('Number.MAX_VALUE', Number.MAX_VALUE), n('Number.MIN_VALUE', Number.MIN_VALUE),
];

interface Handles {
  live: number;
  closed: number;
  closing: number;
}

function specs(o: TableOptions, h: Handles, big: BigStrings, limits: api.MqttLimits): Spec[] {
  const topic = `${o.prefix}/t`;
  const conn = (): Param => ({
    name: 'conn',
    types: ['number'],
    valid: h.live,
    bad: [
      ...NUMBER_EDGES(),
      n('2**31 - 1 (never opened)', 2 ** 31 - 1),
      n('1e6 (never opened)', 1e6),
      n('-(2**31)', -(2 ** 31)),
      n('2**32 + live handle', 2 ** 32 + h.live),
      n('live handle + 0.5', h.live + 0.5),
      n('a closed handle (its final event delivered)', h.closed),
      n('a closed handle (disconnect just called)', h.closing),
    ],
  });
  const qos = (): Param => ({
    name: 'qos',
    types: ['number'],
    valid: 0,
    bad: [
      ...NUMBER_EDGES(), n('3', 3), n('128', 128), n('255', 255), n('256', 256), n('257', 257),
      n('0.5', 0.5), n('-0.5', -0.5), n('2**32 + 1', 2 ** 32 + 1), n('2**53 + 2', 2 ** 53 + 2), n('2**63', 2 ** 63),
      n('2**64 + 2**12', 2 ** 64 + 2 ** 12),
    ],
    edge: [n('-0', -0), n('2 (QoS 2)', 2)],
  });
  const retain: Param = { name: 'retain', types: ['undefined', 'boolean'], valid: false };
  const filter = (): Param => ({
    name: 'filter',
    types: ['string'],
    valid: `${o.prefix}/f`,
    bad: [
      s("''", ''), s("'a/#/b'", 'a/#/b'), s("'a/b#'", 'a/b#'), s("'a+/b'", 'a+/b'), s("'a/+b'", 'a/+b'),
      s("'#/'", '#/'), s("'##'", '##'), s("'+#'", '+#'), ...badText(big),
    ],
  });
  const topicParam: Param = {
    name: 'topic',
    types: ['string'],
    valid: topic,
    bad: [
      s("''", ''), s("'#'", '#'), s("'+'", '+'), s("'a/+'", 'a/+'), s("'a/#'", 'a/#'), s("'+/a'", '+/a'),
      s("'a/+/b'", 'a/+/b'), ...badText(big),
    ],
  };
  const payload: Param = {
    name: 'payload',
    types: ['string', 'u8'],
    lenient: ['u8-proxy'],
    valid: 'x',
    bad: [
      s("'\\uD800'", '\uD800'), s("'a\\uDC00b'", 'a\uDC00b'), s("'x\\uD83D'", 'x\uD83D'),
      s("'\\uDE00\\uD83D' (pair in the wrong order)", '\uDE00\uD83D'),
      s("1 MiB + '\\uD800'", big.mibSurrogate),
      s("'x'.repeat(3 MiB) (over the outbound buffer)", big.mib3),
      { label: 'Buffer.alloc(outboundBuffer + 1)', v: Buffer.alloc(limits.outboundBuffer + 1), tag: 'u8' },
    ],
    edge: [
      s("''", ''), s("'\\0'", '\0'), s("'x'.repeat(1 MiB)", big.mib),
      { label: 'new Uint8Array(0)', v: new Uint8Array(0), tag: 'u8' },
      { label: 'detached Uint8Array', v: detached(), tag: 'u8' },
      { label: 'Uint8Array on a SharedArrayBuffer', v: new Uint8Array(new SharedArrayBuffer(4)), tag: 'u8' },
      { label: 'Uint8Array subclass', v: new (class extends Uint8Array {})(3), tag: 'u8' },
      { label: 'Uint8Array view at an offset', v: new Uint8Array(new ArrayBuffer(16), 5, 3), tag: 'u8' },
    ],
  };
  const text = (name: string, valid: string, extraBad: Val[] = [], edge: Val[] = []): Param => ({
    name,
    types: ['string'],
    valid,
    bad: [...badText(big), ...extraBad],
    edge,
  });
  const host = text('host', '127.0.0.1', [
    s("''", ''), s("' '", ' '), s("' 127.0.0.1'", ' 127.0.0.1'), s("'127.0.0.1 '", '127.0.0.1 '),
    s("'127.0.0.1\\n'", '127.0.0.1\n'), s("'a b'", 'a b'), s("'\\t'", '\t'), s("'127.0.0.1:1883'", '127.0.0.1:1883'),
    s("'localhost:1883'", 'localhost:1883'), s("'mqtt://127.0.0.1'", 'mqtt://127.0.0.1'),
    s("'user@127.0.0.1'", 'user@127.0.0.1'), s("'a/b'", 'a/b'), s("'[::1'", '[::1'), s("'[::1]:1883'", '[::1]:1883'),
    s("'[nope]'", '[nope]'), s("'[]'", '[]'), s("'*'", '*'), s("'a;b'", 'a;b'), s("'%'", '%'),
    s("'a'.repeat(254)", 'a'.repeat(254)), s("'é'.repeat(127) (254 bytes)", 'é'.repeat(127)),
    s("'127.0.0.1\\0'", '127.0.0.1\0'),
  ]);
  const port: Param = {
    name: 'port',
    types: ['number'],
    valid: o.closedPort,
    bad: [
      ...NUMBER_EDGES(), n('0', 0), n('-0', -0), n('65536', 65536), n('1883.5', 1883.5), n('65536 + 1883', 65536 + 1883),
      n('2**32 + 1883', 2 ** 32 + 1883), n('-65535', -65535), n('-(2**32) + 1883', -(2 ** 32) + 1883),
    ],
  };
  const clientId = text('clientId', `${o.prefix}-id`, [], [s("'' (empty: legal with a clean session)", '')]);
  const options: Param = {
    name: 'options',
    types: ['undefined', 'object'],
    lenient: ['array-proxy', 'u8', 'u8-proxy', 'u8-fake'],
    valid: undefined,
  };
  const user = text('user', 'u', [], [s("''", '')]);
  const pass: Param = {
    name: 'pass',
    types: ['string', 'u8'],
    lenient: ['u8-proxy'],
    valid: 'pw',
    bad: [
      s("'\\uD800'", '\uD800'), s("'a\\uDC00b'", 'a\uDC00b'), s("'x\\uD83D'", 'x\uD83D'), s("1 MiB + '\\uD800'", big.mibSurrogate),
      s("'x'.repeat(70000)", big.x70000), s("'x'.repeat(1 MiB)", big.mib),
      { label: 'new Uint8Array(65536)', v: new Uint8Array(65536), tag: 'u8' },
      { label: 'new Uint8Array(1 MiB)', v: new Uint8Array(MiB), tag: 'u8' },
    ],
    edge: [s("'\\0' (a password is binary)", '\0'), s("''", ''), { label: 'new Uint8Array(0)', v: new Uint8Array(0), tag: 'u8' }],
  };
  const event: Param = {
    name: 'event',
    types: ['string'],
    valid: 'oversized',
    bad: [
      s("''", ''), s("'messages'", 'messages'), s("'Message'", 'Message'), s("'message '", 'message '),
      s("' message'", ' message'), s("'__proto__'", '__proto__'), s("'constructor'", 'constructor'),
      s("'toString'", 'toString'), s("'hasOwnProperty'", 'hasOwnProperty'), s("'valueOf'", 'valueOf'),
      s("'message\\0'", 'message\0'), s("'message\\uD800'", 'message\uD800'), ...badText(big),
    ],
  };
  const handler: Param = { name: 'handler', types: ['function'], valid: () => {} };
  const enabled: Param = { name: 'enabled', types: ['boolean'], valid: false };
  const delays: Param = {
    name: 'delays',
    types: ['array'],
    lenient: ['array-proxy'],
    valid: [1],
    bad: delayValues(),
    edge: [
      { label: '[]', v: [], tag: 'array' },
      { label: '[0]', v: [0], tag: 'array' },
      { label: '[4294967]', v: [4294967], tag: 'array' },
      { label: '[-0]', v: [-0], tag: 'array' },
      { label: 'Object.freeze([1, 2])', v: Object.freeze([1, 2]), tag: 'array' },
      { label: 'Array subclass [1]', v: (class extends Array<number> {}).from([1]), tag: 'array' },
      { label: '[1] with an extra property', v: Object.assign([1], { extra: 'x' }), tag: 'array' },
      { label: 'element getter (1, 1, then a string)', v: flipping([1, 1], 'x'), tag: 'array' },
      { label: 'element getter (1, 1, then -1)', v: flipping([1, 1], -1), tag: 'array' },
      { label: 'element getter (1, 1, then throws)', v: flipping([1, 1], new CallerError('3rd read of delays[0]')), tag: 'array', caller: true },
    ],
  };
  const ms: Param = {
    name: 'ms',
    types: ['number'],
    valid: 100,
    bad: [n('-1', -1), n('-0.5', -0.5), n('NaN', NaN), n('-Infinity', -Infinity), n('-Number.MAX_VALUE', -Number.MAX_VALUE)],
    edge: [n('Infinity', Infinity), n('1.5', 1.5), n('2**53', 2 ** 53), n('-0', -0), n('0', 0)],
  };
  // messages(conn, filter?, opts?): it never reaches the broker, so text
  // that a broker would refuse is only an edge here; a malformed filter is bad.
  const iterFilter: Param = {
    name: 'filter',
    types: ['undefined', 'string'],
    valid: `${o.prefix}/iter/#`,
    bad: [s("''", ''), s("'a/#/b'", 'a/#/b'), s("'a+'", 'a+'), s("'#x'", '#x')],
    edge: badText(big),
  };
  const hwm = (label: string, v: unknown): Val => ({ label: `{ highWaterMark: ${label} }`, v: { highWaterMark: v }, tag: 'object' });
  const iterOpts: Param = {
    name: 'opts',
    types: ['undefined', 'object'],
    // As for open's options: any object is an options object.
    lenient: ['array-proxy', 'u8', 'u8-proxy', 'u8-fake'],
    valid: undefined,
    bad: [hwm('0', 0), hwm('-1', -1), hwm('1.5', 1.5), hwm('NaN', NaN), hwm('Infinity', Infinity), hwm("'10'", '10')],
    edge: [hwm('1', 1), hwm('2**53', 2 ** 53)],
  };
  return [
    { fn: 'open', kind: 'number', params: [host, port, clientId, options] },
    { fn: 'openAuth', kind: 'number', params: [host, port, clientId, user, pass, options] },
    { fn: 'disconnect', kind: 'void', params: [conn()] },
    { fn: 'publish', kind: 'number', params: [conn(), topicParam, payload, qos(), retain] },
    { fn: 'publishWithId', kind: 'number', params: [conn(), topicParam, payload, qos(), retain] },
    { fn: 'subscribe', kind: 'number', params: [conn(), filter(), qos()] },
    { fn: 'unsubscribe', kind: 'number', params: [conn(), filter()] },
    { fn: 'on', kind: 'number', params: [conn(), event, handler] },
    { fn: 'setAutoReconnect', kind: 'void', params: [conn(), enabled] },
    { fn: 'setReconnectDelays', kind: 'void', params: [conn(), delays] },
    { fn: 'state', kind: 'state', params: [conn()] },
    { fn: 'ping', kind: 'void', params: [conn()] },
    { fn: 'inflight', kind: 'number', params: [conn()] },
    { fn: 'setTimeout', kind: 'void', params: [conn(), ms] },
    { fn: 'lastError', kind: 'lastError', params: [] },
    { fn: 'liveConnections', kind: 'count', params: [] },
    { fn: 'limits', kind: 'limits', params: [] },
    { fn: 'coreVersion', kind: 'version', params: [] },
    { fn: 'messages', kind: 'iterator', params: [conn(), iterFilter, iterOpts] },
  ];
}

function detached(): Uint8Array {
  const u = new Uint8Array(8);
  structuredClone(u.buffer, { transfer: [u.buffer] });
  return u;
}

/** An array whose element 0 reads as `first[i]` on read i, then `last` (or throws it). */
function flipping(first: number[], last: unknown): unknown[] {
  const a: unknown[] = [0];
  let reads = 0;
  Object.defineProperty(a, 0, {
    enumerable: true,
    get() {
      const i = reads++;
      if (i < first.length) return first[i];
      if (last instanceof Error) throw last;
      return last;
    },
  });
  return a;
}

function delayValues(): Val[] {
  const a = (label: string, v: unknown[], caller = false): Val => ({ label, v, tag: 'array', caller });
  const holes = [1, 2];
  delete (holes as unknown[])[0];
  const throwingElement: unknown[] = [1];
  Object.defineProperty(throwingElement, 0, { get() { throw new CallerError('getter delays[0]'); } });
  return [
    a('[-1]', [-1]), a('[NaN]', [NaN]), a('[Infinity]', [Infinity]), a('[-Infinity]', [-Infinity]),
    a('[4294968]', [4294968]), a('[Number.MAX_VALUE]', [Number.MAX_VALUE]), a('[1, -0.5]', [1, -0.5]),
    a('9 entries', [1, 2, 3, 4, 5, 6, 7, 8, 9]), a('1000 entries', new Array(1000).fill(1)),
    a('new Array(2**32 - 1) (holes)', new Array(2 ** 32 - 1)),
    a("['1']", ['1']), a('[null]', [null]), a('[undefined]', [undefined]), a('[1n]', [1n]),
    a("[Symbol('x')]", [Symbol('x')]), a('[{}]', [{}]), a('[[1]]', [[1]]), a('[new Number(1)]', [new Number(1)]),
    a('[1, <hole>]', [1, , 2]), a('[<hole>, 2]', holes), a('new Array(5) (holes)', new Array(5)),
    a('element getter throws', throwingElement, true),
    a('[throwing object]', [throwingObject()], true),
  ];
}

/** Rows for the open options object: wrong types and bad values of each option. */
function optionRows(base: unknown[], at: number, generic: Val[], fn: string): Row[] {
  const rows: Row[] = [];
  const num = (name: string, bad: Val[]) => {
    for (const g of generic) {
      if (g.tag === 'number' || g.tag === 'undefined') continue;
      const args = base.slice();
      args[at] = { [name]: g.v };
      rows.push({ fn, args, arg: `options.${name}`, label: g.label, expect: 'refuse', caller: !!g.caller, group: 'wrong type' });
    }
    for (const b of bad) {
      const args = base.slice();
      args[at] = { [name]: b.v };
      rows.push({ fn, args, arg: `options.${name}`, label: b.label, expect: 'refuse', caller: false, group: 'bad value' });
    }
  };
  num('keepAlive', [
    ...NUMBER_EDGES(), n('65536', 65536), n('2**32 + 60', 2 ** 32 + 60), n('-(2**32) + 60', -(2 ** 32) + 60), n('60.5', 60.5),
  ]);
  num('connectTimeoutMs', [
    ...NUMBER_EDGES().filter((v) => v.label !== '2**31'), n('0', 0), n('-0', -0), n('2**32 + 1000', 2 ** 32 + 1000), n('0.5', 0.5),
  ]);
  num('maxInboundPacket', [
    ...NUMBER_EDGES(), n('0', 0), n('127', 127), n('268435461', 268435461), n('2**32 + 1024', 2 ** 32 + 1024), n('1024.5', 1024.5),
  ]);
  const whole = (label: string, v: unknown, arg: string, caller = false, expect: Expect = 'refuse') => {
    const args = base.slice();
    args[at] = v;
    rows.push({ fn, args, arg, label, expect, caller, group: 'options object' });
  };
  whole('{ get keepAlive() throws }', { get keepAlive() { throw new CallerError('getter keepAlive'); } }, 'options.keepAlive', true);
  whole('Proxy({ keepAlive: -1 }) (transparent)', new Proxy({ keepAlive: -1 }, {}), 'options.keepAlive');
  whole('Object.create({ keepAlive: -1 }) (inherited)', Object.create({ keepAlive: -1 }), 'options.keepAlive', false, 'tolerate');
  whole('{ keepAlive: 60, maxInboundPacket: NaN }', { keepAlive: 60, maxInboundPacket: NaN }, 'options.maxInboundPacket');
  // Failover brokers: the list, its entries and their fields.
  for (const g of generic) {
    if (g.tag === 'undefined') continue;
    const empty = g.label === '[]';
    whole(`{ brokers: ${g.label} }`, { brokers: g.v }, 'options.brokers', !!g.caller, empty ? 'tolerate' : 'refuse');
    if (g.tag === 'string' || g.tag === 'number') continue;
    whole(`{ brokers: [${g.label}] }`, { brokers: [g.v] }, 'options.brokers[0]', !!g.caller);
  }
  const entry = (label: string, b: unknown, arg: string, caller = false) => whole(`{ brokers: [${label}] }`, { brokers: [b] }, arg, caller);
  for (const g of generic) {
    if (g.tag !== 'string') entry(`{ host: ${g.label}, port: 1883 }`, { host: g.v, port: 1883 }, 'options.brokers[0].host', !!g.caller);
    if (g.tag !== 'number') entry(`{ host: 'b', port: ${g.label} }`, { host: 'b', port: g.v }, 'options.brokers[0].port', !!g.caller);
  }
  for (const p of [0, -1, 65536, 1.5, NaN, Infinity, 2 ** 32 + 1883]) {
    entry(`{ host: 'b', port: ${p} }`, { host: 'b', port: p }, 'options.brokers[0].port');
  }
  for (const [label, h] of [["''", ''], ["'b:1883'", 'b:1883'], ["'mqtt://b'", 'mqtt://b'], ["' b'", ' b'], ["'b\\0'", 'b\0'],
    ["'b\\uD800'", 'b\uD800'], ["'x'.repeat(70000)", 'x'.repeat(70000)], ["'[nope]'", '[nope]']]) {
    entry(`{ host: ${label}, port: 1883 }`, { host: h, port: 1883 }, 'options.brokers[0].host');
  }
  entry('{ get host() throws }', { get host() { throw new CallerError('getter host'); }, port: 1 }, 'options.brokers[0].host', true);
  whole('{ brokers: 17 entries }', { brokers: Array.from({ length: 17 }, () => ({ host: 'b', port: 1 })) }, 'options.brokers');
  whole('{ brokers: new Array(2**32 - 1) (holes) }', { brokers: new Array(2 ** 32 - 1) }, 'options.brokers[0]');
  return rows;
}

// ---- building the table ---------------------------------------------------

function buildRows(o: TableOptions, h: Handles): { rows: Row[]; specs: Spec[] } {
  const big = bigStrings();
  const generic = genericValues();
  const all = specs(o, h, big, mqtt.limits());
  const rows: Row[] = [];
  for (const spec of all) {
    const base = spec.params.map((p) => p.valid);
    spec.params.forEach((p, at) => {
      const put = (v: Val, expect: Expect, group: string) => {
        const args = base.slice();
        args[at] = v.v;
        rows.push({ fn: spec.fn, args, arg: p.name, label: v.label, expect, caller: !!v.caller, group });
      };
      for (const g of generic) {
        if (p.types.includes(g.tag)) continue;
        put(g, p.lenient?.includes(g.tag) ? 'tolerate' : 'refuse', 'wrong type');
      }
      // setTimeout is a documented no-op "whatever the handle": a bad handle may be accepted there.
      const badExpect: Expect = spec.fn === 'setTimeout' && p.name === 'conn' ? 'tolerate' : 'refuse';
      for (const b of p.bad ?? []) put(b, badExpect, p.name === 'conn' ? 'bad handle' : 'bad value');
      // Any object is an options object (as for Node's own options arguments):
      // hostile ones included, it may be accepted but must not break anything.
      if (p.name === 'options') for (const g of generic) if (g.tag === 'object') put(g, 'tolerate', 'options object');
      for (const e of p.edge ?? []) put(e, 'tolerate', 'edge value');
      if (p.name === 'options') rows.push(...optionRows(base, at, generic, spec.fn));
    });
    // No arguments at all, and every argument undefined.
    if (spec.params.length > 0) {
      const first = spec.params[0].name;
      rows.push({ fn: spec.fn, args: [], arg: first, label: '(no arguments)', expect: 'refuse', caller: false, group: 'missing' });
      rows.push({
        fn: spec.fn, args: spec.params.map(() => undefined), arg: first, label: '(all undefined)', expect: 'refuse', caller: false, group: 'missing',
      });
    }
    // Excess arguments after a valid call (disconnect: after the closed handle,
    // so that the live connection stays).
    const excessBase = spec.fn === 'disconnect' ? [h.closed] : base;
    const extras: [string, unknown[], boolean][] = [
      ['undefined', [undefined], false],
      ["'extra'", ['extra'], false],
      ['1, 2, 3, 4, 5', [1, 2, 3, 4, 5], false],
      ["Symbol('x'), 1n, null", [Symbol('x'), 1n, null], false],
      ['Proxy every trap throws', [new Proxy({}, throwingTraps('extra argument'))], true],
      ['revoked Proxy', [revoked({})], false],
      ["'x'.repeat(1 MiB)", [big.mib], false],
      ['12 functions', new Array(12).fill(() => { throw new CallerError('extra handler called'); }), false],
    ];
    for (const [label, extra, caller] of extras) {
      rows.push({
        fn: spec.fn, args: [...excessBase, ...extra], arg: '', label: `excess (${label})`, expect: spec.fn === 'disconnect' ? 'refuse' : 'tolerate',
        caller, group: 'excess arguments',
      });
    }
    // A strange `this` (the functions are plain exports: it must not matter).
    for (const [label, self] of [['this = Proxy every trap throws', new Proxy({}, throwingTraps('this'))], ['this = null', null]] as const) {
      rows.push({
        fn: spec.fn, args: excessBase, arg: '', label, expect: spec.fn === 'disconnect' ? 'refuse' : 'tolerate', caller: false, group: 'this', thisArg: self,
      });
    }
  }
  return { rows, specs: all };
}

// ---- checking one call against the contract -------------------------------

const SENTINEL = 'bad-calls-sentinel-event';
const noop = () => {};

/** Leaves a known reason in lastError(), to see whether the next call set its own. */
function setSentinel(): void {
  (mqtt.on as (c: number, e: string, h: () => void) => number)(-7, SENTINEL, noop);
}

function short(s: string, max = 160): string {
  const flat = s.replace(/[\0-\x1f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return flat.length > max ? `${flat.slice(0, max)}... (${s.length} chars)` : flat;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function namesArg(message: string, arg: string): boolean {
  return new RegExp(`(^|[^\\w.])${escapeRe(arg)}(?![\\w])`).test(message);
}

/** Why lastError() is not a readable reason for this call, or null. */
function unreadable(le: unknown): string | null {
  if (typeof le !== 'string') return `lastError() returned a ${typeof le}`;
  if (le.includes(SENTINEL)) return 'lastError() was not set by this call (it still gives the reason of an earlier one)';
  if (le.length === 0) return 'lastError() is empty';
  if (le.length > 1000) return `lastError() is ${le.length} characters long (it echoes the argument): "${short(le, 60)}"`;
  if (!le.isWellFormed()) return `lastError() is not well-formed UTF-16 (it echoes a lone surrogate): "${short(le, 80)}"`;
  return null;
}

/** Words that say which argument a refusal is about (for the notes, not asserted). */
const HINTS: Record<string, RegExp> = {
  conn: /handle|connection/i, host: /host/i, port: /port/i, clientId: /client/i, user: /user/i, pass: /pass/i,
  topic: /topic/i, payload: /payload|packet/i, qos: /qos/i, filter: /filter/i, event: /event/i, delays: /delay/i, ms: /\bms\b/,
};

interface Outcome {
  violation: string | null;
  note: string | null;
  callerException: boolean;
}

function judge(row: Row, kind: Kind, threw: boolean, err: unknown, ret: unknown, le: unknown): Outcome {
  const out = (violation: string | null, note: string | null = null, callerException = false): Outcome => ({ violation, note, callerException });
  if (threw) {
    if (row.caller && err instanceof CallerError) return out(null, null, true);
    if (err instanceof TypeError || err instanceof RangeError) {
      const msg = String(err.message);
      if (row.arg === '' || namesArg(msg, row.arg)) return out(null);
      return out(`threw a ${err.constructor.name} that does not name ${row.arg}: "${short(msg)}"`);
    }
    const e = err as { constructor?: { name?: string }; code?: unknown; message?: unknown } | null;
    const name = typeof err === 'object' && err !== null ? (e?.constructor?.name ?? 'object') : typeof err;
    const code = e && typeof e === 'object' && e.code !== undefined ? ` (code ${String(e.code)})` : '';
    const msg = e && typeof e === 'object' && e.message !== undefined ? `: "${short(String(e.message))}"` : '';
    return out(`threw ${name}${code}${msg} instead of a TypeError/RangeError naming ${row.arg || 'the argument'}`);
  }
  const reason = unreadable(le);
  const hint = (r: string): string | null => {
    const re = HINTS[row.arg.replace(/^options\./, '')] ?? new RegExp(escapeRe(row.arg.replace(/^options\./, '')));
    return row.arg !== '' && typeof le === 'string' && !re.test(le) ? `${r}: the reason does not say it is about ${row.arg}: "${short(le)}"` : null;
  };
  switch (kind) {
    case 'number': {
      if (typeof ret !== 'number' || !Number.isInteger(ret) || ret < -1) return out(`returned ${short(String(ret))}, not a handle/0/-1`);
      if (ret === -1) return out(reason && `returned -1 but ${reason}`, hint('returned -1'));
      if (row.expect === 'tolerate') return out(null);
      const what = row.fn === 'open' || row.fn === 'openAuth' ? 'a handle: a connection was started' : String(ret);
      return out(`accepted it: returned ${what} (expected -1 or a TypeError/RangeError naming ${row.arg})`);
    }
    case 'state': {
      if (ret !== 'connecting' && ret !== 'connected' && ret !== 'disconnected') return out(`returned ${short(String(ret))}, not a state`);
      if (row.expect === 'tolerate') return out(null);
      if (ret !== 'disconnected') return out(`accepted it: returned '${ret}'`);
      return out(reason && `returned 'disconnected' but ${reason}`);
    }
    case 'void': {
      if (ret !== undefined) return out(`returned ${short(String(ret))}, not undefined`);
      if (row.expect === 'tolerate') return out(null);
      if (typeof le === 'string' && le.includes(SENTINEL)) {
        return out(`accepted it silently (returned undefined, lastError() not set; expected a ${row.arg === 'conn' ? 'reason in lastError()' : 'RangeError/TypeError'})`);
      }
      if (reason) return out(`returned undefined but ${reason}`);
      // A bad value for a void function throws a RangeError (only a bad handle goes to lastError()).
      if (row.arg !== 'conn' && row.arg !== '') return out(`returned undefined with lastError() "${short(String(le))}" instead of throwing a RangeError naming ${row.arg}`);
      return out(null, hint('refused'));
    }
    case 'lastError':
      return out(typeof ret === 'string' ? null : `returned a ${typeof ret}, not a string`);
    case 'count':
      return out(typeof ret === 'number' && Number.isInteger(ret) && ret >= 0 && ret <= 16 ? null : `returned ${String(ret)}`);
    case 'version':
      return out(typeof ret === 'string' && /^\d+\.\d+\.\d+/.test(ret) ? null : `returned ${String(ret)}`);
    case 'iterator': {
      const ok = typeof ret === 'object' && ret !== null && Symbol.asyncIterator in ret;
      if (!ok) return out(`returned ${short(String(ret))}, not an async iterator`);
      return out(row.expect === 'tolerate' ? null : `accepted it: returned an iterator (expected a TypeError/RangeError naming ${row.arg})`);
    }
    case 'limits': {
      const l = ret as Record<string, unknown> | null;
      const ok = l !== null && typeof l === 'object'
        && ['maxConnections', 'inboundBuffer', 'outboundBuffer', 'inflightBuffer', 'maxPendingRequests', 'maxPendingEvents']
          .every((k) => typeof l[k] === 'number' && (l[k] as number) > 0);
      return out(ok ? null : `returned ${short(JSON.stringify(l))}`);
    }
  }
}

// ---- running it -----------------------------------------------------------

type Loose = Record<string, (...args: unknown[]) => unknown>;

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Resolves with the first event of `type` on `conn` (binding the handler), or rejects after `ms`. */
function waitEvent(conn: number, type: 'connected' | 'disconnected' | 'subscribed' | 'message', ms: number, pred: (e: unknown) => boolean = () => true): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`conn ${conn}: no ${type} within ${ms} ms (lastError: ${mqtt.lastError()})`)), ms);
    const r = (mqtt.on as (c: number, e: string, h: (e: unknown) => void) => number)(conn, type, (e) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      resolve(e);
    });
    if (r !== 0) {
      clearTimeout(timer);
      reject(new Error(`on(${conn}, ${type}) failed: ${mqtt.lastError()}`));
    }
  });
}

/** Opens this thread's live connection and two closed handles, runs every row, checks the live one still works. */
export async function runTable(o: TableOptions): Promise<TableReport> {
  const started = performance.now();
  // The live connection: rows that test another argument pass it as conn.
  const live = mqtt.open('127.0.0.1', o.brokerPort, `${o.prefix}-live`);
  if (live < 0) throw new Error(`open failed: ${mqtt.lastError()}`);
  await waitEvent(live, 'connected', 10_000);
  const liveDisconnects: unknown[] = [];
  mqtt.on(live, 'disconnected', (e) => liveDisconnects.push(e));
  // A handle whose final event has been delivered, and one just disconnected.
  const closed = mqtt.open('127.0.0.1', o.brokerPort, `${o.prefix}-closed`);
  if (closed < 0) throw new Error(`open failed: ${mqtt.lastError()}`);
  await waitEvent(closed, 'connected', 10_000);
  const gone = waitEvent(closed, 'disconnected', 10_000);
  mqtt.disconnect(closed);
  await gone;
  const closing = mqtt.open('127.0.0.1', o.closedPort, `${o.prefix}-closing`);
  if (closing < 0) throw new Error(`open failed: ${mqtt.lastError()}`);
  mqtt.disconnect(closing);

  const { rows, specs: all } = buildRows(o, { live, closed, closing });
  const kinds = new Map(all.map((sp) => [sp.fn, sp.kind]));
  const exported = new Set([
    ...Object.keys(mqtt).filter((k) => typeof (mqtt as unknown as Loose)[k] === 'function'),
    ...Object.keys(api).filter((k) => k !== 'default' && typeof (api as unknown as Loose)[k] === 'function'),
  ]);
  const uncovered = [...exported].filter((k) => !kinds.has(k)).sort();

  const report: TableReport = {
    thread: o.thread, rows: 0, groups: {}, perFunction: {}, violations: [], notes: [], callerExceptions: 0,
    outcomes: {}, slowest: { ms: 0, row: '' }, liveAfter: { ok: false, detail: '' }, uncovered, ms: 0,
  };
  const loose = mqtt as unknown as Loose;
  const noted = new Set<string>();
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const desc = `${row.fn} ${row.arg ? `${row.arg}=` : ''}${row.label}`;
    setSentinel();
    let threw = false;
    let err: unknown;
    let ret: unknown;
    const t0 = performance.now();
    try {
      ret = Reflect.apply(loose[row.fn], row.thisArg, row.args);
    } catch (e) {
      threw = true;
      err = e;
    }
    const took = performance.now() - t0;
    let le: unknown;
    try {
      le = mqtt.lastError();
    } catch (e) {
      le = `lastError() threw ${String(e)}`;
    }
    // An accepted open() starts a connection: close it at once.
    if ((row.fn === 'open' || row.fn === 'openAuth') && typeof ret === 'number' && ret >= 0) mqtt.disconnect(ret);
    // An accepted messages() binds the live handle's message handler: end it (which unbinds it).
    if (row.fn === 'messages' && typeof ret === 'object' && ret !== null) await (ret as AsyncIterator<unknown>).return?.();
    if (took > report.slowest.ms) report.slowest = { ms: Math.round(took * 10) / 10, row: desc };
    const verdict = judge(row, kinds.get(row.fn)!, threw, err, ret, le);
    report.rows++;
    report.groups[row.group] = (report.groups[row.group] ?? 0) + 1;
    report.perFunction[row.fn] = (report.perFunction[row.fn] ?? 0) + 1;
    if (verdict.callerException) report.callerExceptions++;
    const outcome = threw
      ? (verdict.callerException ? 'caller exception' : err instanceof Error ? err.constructor.name : typeof err)
      : ret === -1 || (ret === 'disconnected' && row.expect === 'refuse') ? '-1 / disconnected'
        : ret === undefined && typeof le === 'string' && !le.includes(SENTINEL) ? 'undefined + lastError'
          : 'returned normally';
    report.outcomes[outcome] = (report.outcomes[outcome] ?? 0) + 1;
    if (verdict.violation) report.violations.push(`${desc}: ${verdict.violation}`);
    if (took > 5000) report.violations.push(`${desc}: the call took ${Math.round(took)} ms (it must never wait)`);
    if (verdict.note && !noted.has(verdict.note)) {
      noted.add(verdict.note);
      report.notes.push(`${desc}: ${verdict.note}`);
    }
    // Let events (and, in the main thread, an in-process broker) through now and then.
    if (i % 64 === 63) await tick();
  }

  // The live connection kept working: still connected, never dropped, and a
  // QoS 1 message goes through it to the broker and back.
  const detail: string[] = [];
  const st = mqtt.state(live);
  if (st !== 'connected') detail.push(`state is ${st}`);
  if (liveDisconnects.length > 0) detail.push(`disconnected during the table: ${JSON.stringify(liveDisconnects)}`);
  const echo = `${o.prefix}/echo`;
  try {
    const subscribed = waitEvent(live, 'subscribed', 10_000, (e) => (e as { topic: string }).topic === echo);
    if (mqtt.subscribe(live, echo, 1) !== 0) throw new Error(`subscribe: ${mqtt.lastError()}`);
    await subscribed;
    const got = waitEvent(live, 'message', 10_000, (e) => (e as { topic: string }).topic === echo);
    if (mqtt.publish(live, echo, `after ${rows.length} bad calls`, 1) !== 0) throw new Error(`publish: ${mqtt.lastError()}`);
    const m = (await got) as { payload: string };
    if (m.payload !== `after ${rows.length} bad calls`) detail.push(`echo payload ${m.payload}`);
  } catch (e) {
    detail.push(String(e));
  }
  report.liveAfter = { ok: detail.length === 0, detail: detail.join('; ') || `conn ${live}: connected, QoS 1 echo received` };
  const done = waitEvent(live, 'disconnected', 10_000).catch(() => undefined);
  mqtt.disconnect(live);
  await done;
  report.ms = Math.round(performance.now() - started);
  return report;
}
