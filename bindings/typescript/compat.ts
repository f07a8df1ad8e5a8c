// An MQTT.js-shaped client (`mqtt-rs-client/compat`) on top of the handle
// API, so that an MQTT.js 3.1.1 program moves over by changing its import.
// Each client owns one handle and turns its events into EventEmitter events
// and callbacks. Where the handle API is stricter, the mapping is:
//
// - publish: the handle API queues a packet whole or refuses it (-1) when
//   the outbound buffer or the in-flight store is full. Then the message
//   waits in this client's own queue, bounded by `queueLimitBytes`, and is
//   retried on the `drain` event, in order. Past the bound, the callback
//   gets an error instead of memory growing without end.
// - callbacks: QoS 0 when the packet is queued whole, QoS 1/2 when it is
//   acknowledged (PUBACK/PUBCOMP, matched by publishWithId's packet id).
// - reconnect: done by the driver (setAutoReconnect / setReconnectDelays
//   with `reconnectPeriod`); `offline`, `reconnect` and `close` are emitted
//   from its `disconnected` events, in MQTT.js's order. Subscriptions are
//   renewed after a reconnect without a session, as MQTT.js does.
// - messages(filter): an async iterator that holds event delivery while
//   its consumer is behind (see message-stream.ts).
//
// TLS (mqtts://, ca/cert/key/servername/rejectUnauthorized) maps to
// open()'s `tls`, `servers` to its `brokers`. Not in this build: WebSocket,
// PKCS#12 (pfx), MQTT 3.1 and 5: each is refused with an error that says
// so, never ignored.

import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttConnected, type MqttDisconnected, type MqttMessage, type MqttOpenOptions } from './mqtt.js';
import { MessageStream, badFilter, topicMatches } from './message-stream.js';
import { deliveryHold } from './delivery-hold.js';

export type QoS = 0 | 1 | 2;

export interface IClientOptions {
  /** 'mqtt'/'tcp' (plain TCP) or 'mqtts'/'ssl'/'tls'; the URL's scheme wins. */
  protocol?: string;
  host?: string;
  hostname?: string;
  /** Default 1883. */
  port?: number;
  /** Default `mqttjs_` and 8 random hex digits. */
  clientId?: string;
  username?: string;
  password?: string | Uint8Array;
  /** Seconds; default 60, 0 turns keep-alive off. */
  keepalive?: number;
  /** Clean session; default true. */
  clean?: boolean;
  /** Milliseconds between reconnect attempts; default 1000, 0 disables reconnecting. */
  reconnectPeriod?: number;
  /** Milliseconds for TCP connect plus CONNACK; default 30 000. */
  connectTimeout?: number;
  will?: { topic: string; payload?: string | Uint8Array; qos?: QoS; retain?: boolean };
  /** Only 4 (MQTT 3.1.1). */
  protocolVersion?: number;
  /** Renew subscriptions after a reconnect without a session; default true. */
  resubscribe?: boolean;
  /**
   * Bytes of messages (topic + payload) that publish() may hold while the
   * handle API has no room; default 16 MiB. Beyond it publish fails.
   */
  queueLimitBytes?: number;
  /**
   * Failover: tried in order from the first (which replaces the URL's
   * host and port), moving on after each failure (open()'s `brokers`).
   */
  servers?: { host: string; port?: number; protocol?: string }[];
  /** TLS (with mqtts://): PEM contents, as strings or Buffers. */
  ca?: string | Uint8Array | (string | Uint8Array)[];
  cert?: string | Uint8Array | (string | Uint8Array)[];
  key?: string | Uint8Array;
  servername?: string;
  /** false turns every certificate check off (tests only). */
  rejectUnauthorized?: boolean;
  [other: string]: unknown;
}

export interface IClientPublishOptions {
  qos?: QoS;
  retain?: boolean;
  dup?: boolean;
}

export interface IClientSubscribeOptions {
  qos?: QoS;
}

export interface IConnackPacket {
  cmd: 'connack';
  sessionPresent: boolean;
  returnCode: number;
}

export interface IPublishPacket {
  cmd: 'publish';
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  messageId?: number;
}

export interface ISubscriptionGrant {
  topic: string;
  /** Granted QoS, or 128 for a refusal. */
  qos: number;
}

export interface IUnsubackPacket {
  cmd: 'unsuback';
  messageId: number;
}

/** One item of client.messages(). */
export interface IMessage {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

export type PacketCallback = (error?: Error, packet?: IPublishPacket) => void;
export type SubscribeCallback = (error: Error | null, granted?: ISubscriptionGrant[]) => void;
export type UnsubscribeCallback = (error?: Error, packet?: IUnsubackPacket) => void;
export type CloseCallback = (error?: Error) => void;

export type ISubscriptionMap = Record<string, { qos: QoS } | QoS>;

const DEFAULT_QUEUE_LIMIT = 16 * 1024 * 1024;
/** Per queued message, beyond its topic and payload: the bound counts it too. */
const ENTRY_OVERHEAD = 64;
/** A -1 that means "no room now": retry on `drain` (reasons from mqtt-core's ClientError). */
const NO_ROOM = /try again later|packet identifiers are in use/;
/** Causes of `disconnected` that MQTT.js reports as an `error` too (socket and TLS errors, CONNACK refusal). */
const ERROR_CAUSES = new Set<MqttDisconnected['cause']>(['connect-failed', 'connect-timeout', 'refused', 'tls']);

/**
 * The `error` event for a failed connect, with MQTT.js's `code` where the
 * reason tells it: the CONNACK return code (a number) for a refusal, or
 * Node's ECONNREFUSED / ENOTFOUND for a TCP connect that failed so.
 */
function linkError(e: MqttDisconnected): Error & { code?: number | string } {
  const err: Error & { code?: number | string } = new Error(e.reason);
  if (e.cause === 'refused') {
    const rc = /\((\d+)\)/.exec(e.reason);
    if (rc) err.code = Number(rc[1]);
  } else if (e.cause === 'connect-failed') {
    if (/connection refused/i.test(e.reason)) err.code = 'ECONNREFUSED';
    else if (/cannot resolve/i.test(e.reason)) err.code = 'ENOTFOUND';
  }
  return err;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

function typeError(name: string, expected: string, got: unknown): TypeError {
  return new TypeError(`${name} must be ${expected}, got ${describe(got)}`);
}

function checkQos(name: string, v: unknown): QoS {
  if (v === undefined) return 0;
  if (v !== 0 && v !== 1 && v !== 2) throw typeError(name, '0, 1 or 2', v);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const notSupported = (what: string): Error =>
  new Error(`mqtt-rs-client/compat: ${what} is not supported in this build`);

interface Target {
  host: string;
  port: number;
  /** TLS options for open(), or undefined for plain TCP */
  tls: MqttOpenOptions['tls'];
  /** failover: `servers` after the first, as open()'s `brokers` */
  brokers: { host: string; port: number }[];
}

const TLS_SCHEMES = new Set(['mqtts', 'ssl', 'tls']);
const PLAIN_SCHEMES = new Set(['mqtt', 'tcp']);

function checkScheme(protocol: string, name: string): boolean {
  if (TLS_SCHEMES.has(protocol)) return true;
  if (PLAIN_SCHEMES.has(protocol)) return false;
  if (protocol === 'ws' || protocol === 'wss') throw notSupported(`WebSocket (${protocol}://)`);
  throw new TypeError(`${name} must be mqtt, tcp, mqtts, ssl or tls, got "${protocol}"`);
}

/** MQTT.js's TLS options (ca, cert, key, servername, rejectUnauthorized) as open()'s `tls`. */
function tlsOptions(o: IClientOptions): NonNullable<MqttOpenOptions['tls']> {
  if (o.pfx !== undefined) throw notSupported('TLS option "pfx" (PKCS#12; pass PEM ca/cert/key)');
  const tls: Record<string, unknown> = {};
  for (const name of ['ca', 'cert', 'key', 'servername', 'rejectUnauthorized']) {
    if (o[name] !== undefined) tls[name] = o[name];
  }
  return tls as NonNullable<MqttOpenOptions['tls']>;
}

/** Reads where to connect from the URL and options; refuses what this build cannot do. */
function target(url: string | undefined, o: IClientOptions): Target {
  let protocol = o.protocol;
  let host = o.hostname ?? o.host;
  let port = o.port;
  if (url !== undefined) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new TypeError(`url must be a URL like mqtt://host:1883, got "${url}"`);
    }
    protocol = u.protocol.replace(/:$/, '');
    host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    if (u.port !== '') port = Number(u.port);
    if (u.username !== '' && o.username === undefined) o.username = decodeURIComponent(u.username);
    if (u.password !== '' && o.password === undefined) o.password = decodeURIComponent(u.password);
  }
  if (protocol !== undefined && typeof protocol !== 'string') throw typeError('options.protocol', 'a string', protocol);
  const secure = checkScheme(protocol ?? 'mqtt', 'protocol');
  if (!secure) {
    // On a plain link these would be ignored by MQTT.js; here they say the program expects TLS.
    for (const name of ['ca', 'cert', 'key', 'pfx']) {
      if (o[name] !== undefined) throw new TypeError(`options.${name} is a TLS option: use an mqtts:// URL (or protocol 'mqtts')`);
    }
  }
  if (o.protocolVersion !== undefined && o.protocolVersion !== 4) {
    throw notSupported(`protocolVersion ${String(o.protocolVersion)} (only 4, MQTT 3.1.1)`);
  }
  const defaultPort = secure ? 8883 : 1883;
  let brokers: { host: string; port: number }[] = [];
  if (o.servers !== undefined) {
    // MQTT.js tries servers[0] first and moves on along the list: open() with
    // the first and `brokers` for the rest does the same in the driver.
    if (!Array.isArray(o.servers) || o.servers.length === 0) {
      throw typeError('options.servers', 'a non-empty array of { host, port }', o.servers);
    }
    const list = o.servers.map((sv: unknown, i: number) => {
      if (!isObject(sv)) throw typeError(`options.servers[${i}]`, 'an object { host, port }', sv);
      if (typeof sv.host !== 'string') throw typeError(`options.servers[${i}].host`, 'a string', sv.host);
      if (sv.port !== undefined && typeof sv.port !== 'number') throw typeError(`options.servers[${i}].port`, 'a number', sv.port);
      if (sv.protocol !== undefined) {
        if (typeof sv.protocol !== 'string') throw typeError(`options.servers[${i}].protocol`, 'a string', sv.protocol);
        if (checkScheme(sv.protocol, `options.servers[${i}].protocol`) !== secure) {
          throw notSupported(`mixing TLS and plain TCP in options.servers (servers[${i}] is ${sv.protocol})`);
        }
      }
      return { host: sv.host, port: (sv.port as number | undefined) ?? port ?? defaultPort };
    });
    host = list[0].host;
    port = list[0].port;
    brokers = list.slice(1);
  }
  if (host === undefined) host = 'localhost';
  if (typeof host !== 'string') throw typeError('options.host', 'a string', host);
  if (port === undefined) port = defaultPort;
  if (typeof port !== 'number') throw typeError('options.port', 'a number', port);
  return { host, port, tls: secure ? tlsOptions(o) : undefined, brokers };
}

function randomClientId(): string {
  return `mqttjs_${randomBytes(4).toString('hex')}`;
}

interface QueuedPublish {
  topic: string;
  message: string | Uint8Array;
  qos: QoS;
  retain: boolean;
  size: number;
  cb: PacketCallback | undefined;
}

interface SubRequest {
  granted: ISubscriptionGrant[];
  remaining: number;
  cb: SubscribeCallback | undefined;
}

interface PendingSub {
  topic: string;
  qos: QoS;
  index: number;
  req: SubRequest;
}

interface PendingUnsub {
  topic: string;
  req: { remaining: number; cb: UnsubscribeCallback | undefined };
}

interface PendingPublish {
  id: number;
  p: QueuedPublish;
}

/** The packet a publish callback gets; made only when there is a callback. */
function sentPacket(p: QueuedPublish, id: number): IPublishPacket {
  const payload = typeof p.message === 'string'
    ? Buffer.from(p.message)
    : Buffer.from(p.message.buffer, p.message.byteOffset, p.message.byteLength);
  const packet: IPublishPacket = { cmd: 'publish', topic: p.topic, payload, qos: p.qos, retain: p.retain, dup: false };
  if (id > 0) packet.messageId = id;
  return packet;
}

export interface MqttClient {
  on(event: 'connect', listener: (packet: IConnackPacket) => void): this;
  on(event: 'message', listener: (topic: string, payload: Buffer, packet: IPublishPacket) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'reconnect' | 'close' | 'offline' | 'end', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'connect', listener: (packet: IConnackPacket) => void): this;
  once(event: 'message', listener: (topic: string, payload: Buffer, packet: IPublishPacket) => void): this;
  once(event: 'error', listener: (error: Error) => void): this;
  once(event: 'reconnect' | 'close' | 'offline' | 'end', listener: () => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

export class MqttClient extends EventEmitter {
  /** The link is up (CONNACK accepted). */
  connected = false;
  /** The link was lost and reconnect attempts are going on. */
  reconnecting = false;
  /** end() was called. */
  disconnecting = false;
  /** end() has finished. */
  disconnected = false;
  readonly options: Readonly<IClientOptions>;

  private conn = -1;
  private readonly target: Target;
  private readonly clientId: string;
  private readonly queueLimit: number;
  private everConnected = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private waiting: QueuedPublish[] = [];
  private waitingBytes = 0;
  private readonly unacked = new Map<number, PendingPublish>();
  private pendingSubs: PendingSub[] = [];
  private pendingUnsubs: PendingUnsub[] = [];
  /** filter -> QoS, renewed after a reconnect without a session */
  private readonly subscriptions = new Map<string, QoS>();
  private readonly streams = new Set<MessageStream<IMessage>>();
  private endCallbacks: CloseCallback[] = [];
  /** mqtt.disconnect() has been called for end(): its final event finishes. */
  private closing = false;

  constructor(url: string | undefined, options: IClientOptions) {
    super();
    const o: IClientOptions = { ...options };
    this.target = target(url, o);
    if (o.clientId !== undefined && typeof o.clientId !== 'string') throw typeError('options.clientId', 'a string', o.clientId);
    // As MQTT.js: a session kept under a random id could never be resumed.
    if (o.clean === false && !o.clientId) throw new Error('Missing clientId for unclean clients');
    this.clientId = o.clientId || randomClientId();
    const period = o.reconnectPeriod ?? 1000;
    if (typeof period !== 'number' || !(period >= 0) || period / 1000 > 4294967) {
      throw typeError('options.reconnectPeriod', 'a number of milliseconds >= 0', period);
    }
    const limit = o.queueLimitBytes ?? DEFAULT_QUEUE_LIMIT;
    if (typeof limit !== 'number' || !(limit >= 0)) throw typeError('options.queueLimitBytes', 'a number >= 0', limit);
    this.queueLimit = limit;
    this.options = { ...o, clientId: this.clientId, reconnectPeriod: period, host: this.target.host, port: this.target.port };
    this.openHandle();
  }

  private openOptions(): MqttOpenOptions {
    const o = this.options;
    const out: MqttOpenOptions = { connectTimeoutMs: o.connectTimeout ?? 30_000 };
    if (o.keepalive !== undefined) out.keepAlive = o.keepalive;
    if (o.clean !== undefined) out.cleanSession = o.clean;
    if (this.target.tls !== undefined) out.tls = this.target.tls;
    if (this.target.brokers.length > 0) out.brokers = this.target.brokers;
    if (o.will !== undefined) {
      if (!isObject(o.will)) throw typeError('options.will', 'an object { topic, payload, qos, retain }', o.will);
      out.will = { topic: o.will.topic, payload: o.will.payload, qos: o.will.qos, retain: o.will.retain };
    }
    return out;
  }

  /** Opens a new handle; on a refusal, `error` says why (next tick, once listeners are on). */
  private openHandle(): void {
    const { host, port } = this.target;
    const { username, password } = this.options;
    if (username !== undefined && typeof username !== 'string') throw typeError('options.username', 'a string', username);
    if (password !== undefined && username === undefined) {
      throw new TypeError('options.password needs options.username (MQTT 3.1.1 sends no password without a user name)');
    }
    const opts = this.openOptions();
    const conn = username === undefined
      ? mqtt.open(host, port, this.clientId, opts)
      : mqtt.openAuth(host, port, this.clientId, username, password ?? '', opts);
    if (conn < 0) {
      const err = new Error(mqtt.lastError());
      process.nextTick(() => this.emit('error', err));
      return;
    }
    this.conn = conn;
    const period = this.options.reconnectPeriod as number;
    if (period > 0) {
      mqtt.setAutoReconnect(conn, true);
      mqtt.setReconnectDelays(conn, [period / 1000]);
    }
    // Events of a handle this client has let go of are not ours any more.
    const mine = <E>(f: (e: E) => void) => (e: E & { conn: number }) => {
      if (e.conn === this.conn) f.call(this, e);
    };
    mqtt.on(conn, 'connected', mine(this.onConnected));
    mqtt.on(conn, 'disconnected', mine(this.onDisconnected));
    mqtt.on(conn, 'message', mine(this.onMessage));
    mqtt.on(conn, 'published', mine((e) => this.onPublished(e.packetId)));
    mqtt.on(conn, 'subscribed', mine((e) => this.onSubscribed(e.topic, e.qos, e.ok)));
    mqtt.on(conn, 'unsubscribed', mine((e) => this.onUnsubscribed(e.topic, e.packetId)));
    mqtt.on(conn, 'drain', mine(() => this.flush()));
  }

  // ---- events of the handle --------------------------------------------

  private onConnected(e: MqttConnected): void {
    this.connected = true;
    if (this.reconnectTimer !== null) {
      // The driver was quicker than our timer: keep MQTT.js's order.
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      this.emit('reconnect');
    }
    this.reconnecting = false;
    if (this.everConnected && !e.sessionPresent && this.options.resubscribe !== false && this.subscriptions.size > 0) {
      const renew: ISubscriptionMap = {};
      for (const [topic, qos] of this.subscriptions) renew[topic] = { qos };
      this.subscribe(renew);
    }
    this.everConnected = true;
    this.emit('connect', { cmd: 'connack', sessionPresent: e.sessionPresent, returnCode: 0 } satisfies IConnackPacket);
    this.flush();
  }

  private onDisconnected(e: MqttDisconnected): void {
    const wasConnected = this.connected;
    this.connected = false;
    if (this.closing) {
      this.finish(wasConnected);
      return;
    }
    if (this.disconnecting) {
      // end() was waiting for acknowledgements: without a link, stop waiting.
      this.emit('close');
      this.maybeClose();
      return;
    }
    // Requests not yet answered are not answered on a new link (MQTT.js fails them too).
    this.failRequests(new Error(`Connection closed: ${e.reason}`));
    if (ERROR_CAUSES.has(e.cause)) this.emit('error', linkError(e));
    // MQTT.js's order: `offline` (first loss only), then `close`, then a `reconnect` per attempt.
    const reconnect = (this.options.reconnectPeriod as number) > 0;
    if (reconnect && !this.reconnecting) {
      this.reconnecting = true;
      this.emit('offline');
    }
    this.emit('close');
    if (reconnect) {
      // The driver makes the attempt after the same period; this says so.
      this.reconnectTimer ??= setTimeout(() => {
        this.reconnectTimer = null;
        if (!this.disconnecting) this.emit('reconnect');
      }, this.options.reconnectPeriod as number);
    } else {
      // No reconnect: let the handle go (reconnect() opens a new one).
      this.release(new Error(`Connection closed: ${e.reason}`));
    }
  }

  private onMessage(m: MqttMessage): void {
    const wanted = this.listenerCount('message') > 0;
    if (!wanted && this.streams.size === 0) return;
    // A copy: `bytes` is a view of the whole event batch, which it would keep alive.
    const payload = Buffer.from(m.bytes);
    const packet: IPublishPacket = {
      cmd: 'publish', topic: m.topic, payload, qos: m.qos as QoS, retain: m.retain, dup: m.dup,
    };
    if (m.qos > 0) packet.messageId = m.packetId;
    if (wanted) this.emit('message', m.topic, payload, packet);
    for (const s of this.streams) {
      if (topicMatches((s as FilteredStream).filter, m.topic)) s.push({ topic: m.topic, payload, packet });
    }
  }

  private onPublished(packetId: number): void {
    const p = this.unacked.get(packetId);
    if (p === undefined) return;
    this.unacked.delete(packetId);
    p.p.cb?.(undefined, sentPacket(p.p, p.id));
    this.maybeClose();
  }

  private onSubscribed(topic: string, qos: number, ok: boolean): void {
    const i = this.pendingSubs.findIndex((p) => p.topic === topic);
    if (i < 0) return;
    const [p] = this.pendingSubs.splice(i, 1);
    p.req.granted[p.index] = { topic, qos };
    if (ok) this.subscriptions.set(topic, p.qos);
    if (--p.req.remaining === 0) {
      const refused = p.req.granted.filter((g) => g.qos === 128).map((g) => g.topic);
      const err = refused.length > 0 ? new Error(`Subscribe error: the broker refused ${refused.join(', ')}`) : null;
      p.req.cb?.(err, p.req.granted);
    }
    this.maybeClose();
  }

  private onUnsubscribed(topic: string, packetId: number): void {
    const i = this.pendingUnsubs.findIndex((p) => p.topic === topic);
    if (i < 0) return;
    const [p] = this.pendingUnsubs.splice(i, 1);
    if (--p.req.remaining === 0) p.req.cb?.(undefined, { cmd: 'unsuback', messageId: packetId });
    this.maybeClose();
  }

  // ---- publish -----------------------------------------------------------

  publish(topic: string, message: string | Uint8Array, callback?: PacketCallback): this;
  publish(topic: string, message: string | Uint8Array, opts?: IClientPublishOptions, callback?: PacketCallback): this;
  publish(topic: string, message: string | Uint8Array, opts?: IClientPublishOptions | PacketCallback, callback?: PacketCallback): this {
    if (typeof opts === 'function') {
      callback = opts;
      opts = undefined;
    }
    if (typeof topic !== 'string') throw typeError('topic', 'a string', topic);
    if (typeof message !== 'string' && !(message instanceof Uint8Array)) {
      throw typeError('message', 'a string or a Buffer', message);
    }
    if (opts !== undefined && !isObject(opts)) throw typeError('opts', 'an object', opts);
    if (callback !== undefined && typeof callback !== 'function') throw typeError('callback', 'a function', callback);
    const qos = checkQos('opts.qos', opts?.qos);
    const retain = opts?.retain === true;
    if (this.disconnecting) {
      this.fail(callback, new Error('client disconnecting'));
      return this;
    }
    const size = Buffer.byteLength(topic) + (typeof message === 'string' ? Buffer.byteLength(message) : message.byteLength);
    const entry: QueuedPublish = { topic, message, qos, retain, size: size + ENTRY_OVERHEAD, cb: callback };
    if (this.waiting.length > 0) {
      this.enqueue(entry); // behind what waits already: order holds
      return this;
    }
    const r = this.send(entry);
    if (r === 'no-room') this.enqueue(entry);
    else if (r instanceof Error) this.fail(callback, r);
    return this;
  }

  publishAsync(topic: string, message: string | Uint8Array, opts?: IClientPublishOptions): Promise<IPublishPacket | undefined> {
    return new Promise((resolve, reject) => {
      this.publish(topic, message, opts, (err, packet) => (err ? reject(err) : resolve(packet)));
    });
  }

  /** Hands one message to the handle: 'sent', 'no-room' (retry on drain) or why not. */
  private send(p: QueuedPublish): 'sent' | 'no-room' | Error {
    if (this.conn < 0) return new Error('not connected: the client has no connection (reconnectPeriod is 0)');
    const id = mqtt.publishWithId(this.conn, p.topic, p.message, p.qos, p.retain);
    if (id < 0) {
      const reason = mqtt.lastError();
      return NO_ROOM.test(reason) ? 'no-room' : new Error(reason);
    }
    if (p.qos > 0) this.unacked.set(id, { id, p });
    else if (p.cb !== undefined) process.nextTick(p.cb, undefined, sentPacket(p, 0));
    return 'sent';
  }

  private enqueue(p: QueuedPublish): void {
    if (this.waitingBytes + p.size > this.queueLimit) {
      this.fail(p.cb, new Error(
        `publish queue full: ${this.waitingBytes} bytes wait for room in the connection (queueLimitBytes ${this.queueLimit}); wait for earlier publishes`,
      ));
      return;
    }
    this.waiting.push(p);
    this.waitingBytes += p.size;
  }

  /** Sends what waits, in order, while the handle has room. */
  private flush(): void {
    let n = 0;
    while (n < this.waiting.length) {
      const p = this.waiting[n];
      const r = this.send(p);
      if (r === 'no-room') break;
      n++;
      this.waitingBytes -= p.size;
      if (r instanceof Error) this.fail(p.cb, r);
    }
    if (n > 0) this.waiting = this.waiting.slice(n);
    this.maybeClose();
  }

  /**
   * A call that end() or a lost connection leaves unanswered: the error goes
   * to its callback, and without one nowhere (MQTT.js's callbacks default to
   * no-ops there), so `client.subscribe(t); client.end()` cannot become an
   * unhandled `error` event.
   */
  private abandon(cb: ((err: Error) => void) | undefined, err: Error): void {
    if (cb !== undefined) process.nextTick(cb, err);
  }

  /** An error for a call: to its callback, else as an `error` event. */
  private fail(cb: ((err: Error) => void) | undefined, err: Error): void {
    process.nextTick(() => (cb !== undefined ? cb(err) : this.emit('error', err)));
  }

  // ---- subscribe / unsubscribe -------------------------------------------

  subscribe(topic: string | string[] | ISubscriptionMap, callback?: SubscribeCallback): this;
  subscribe(topic: string | string[] | ISubscriptionMap, opts?: IClientSubscribeOptions, callback?: SubscribeCallback): this;
  subscribe(
    topic: string | string[] | ISubscriptionMap, opts?: IClientSubscribeOptions | SubscribeCallback, callback?: SubscribeCallback,
  ): this {
    if (typeof opts === 'function') {
      callback = opts;
      opts = undefined;
    }
    if (opts !== undefined && !isObject(opts)) throw typeError('opts', 'an object', opts);
    if (callback !== undefined && typeof callback !== 'function') throw typeError('callback', 'a function', callback);
    const qos = checkQos('opts.qos', opts?.qos);
    const wanted: { topic: string; qos: QoS }[] = [];
    if (typeof topic === 'string') {
      wanted.push({ topic, qos });
    } else if (Array.isArray(topic)) {
      topic.forEach((t, i) => {
        if (typeof t !== 'string') throw typeError(`topic[${i}]`, 'a string', t);
        wanted.push({ topic: t, qos });
      });
    } else if (isObject(topic)) {
      for (const [t, v] of Object.entries(topic)) {
        wanted.push({ topic: t, qos: checkQos(`topic["${t}"].qos`, typeof v === 'number' ? v : isObject(v) ? v.qos : v) });
      }
    } else {
      throw typeError('topic', 'a string, an array of strings or an object { filter: { qos } }', topic);
    }
    if (this.disconnecting) {
      this.fail(callback, new Error('client disconnecting'));
      return this;
    }
    for (const w of wanted) {
      const bad = badFilter(w.topic);
      if (bad !== null) {
        this.fail(callback, new Error(`Invalid topic ${w.topic}: ${bad}`));
        return this;
      }
    }
    if (wanted.length === 0) {
      // MQTT.js's validation: a SUBSCRIBE needs at least one filter.
      this.fail(callback, new Error('Invalid topic empty_topic_list'));
      return this;
    }
    const req: SubRequest = { granted: [], remaining: wanted.length, cb: callback };
    for (let i = 0; i < wanted.length; i++) {
      const w = wanted[i];
      if (this.conn < 0 || mqtt.subscribe(this.conn, w.topic, w.qos) < 0) {
        const why = this.conn < 0 ? 'not connected' : mqtt.lastError();
        // The ones already sent are still answered, to nobody.
        this.pendingSubs = this.pendingSubs.filter((p) => p.req !== req);
        this.fail(callback, new Error(`subscribe ${w.topic}: ${why}`));
        return this;
      }
      this.pendingSubs.push({ topic: w.topic, qos: w.qos, index: i, req });
    }
    return this;
  }

  subscribeAsync(topic: string | string[] | ISubscriptionMap, opts?: IClientSubscribeOptions): Promise<ISubscriptionGrant[]> {
    return new Promise((resolve, reject) => {
      this.subscribe(topic, opts, (err, granted) => (err ? reject(err) : resolve(granted ?? [])));
    });
  }

  unsubscribe(topic: string | string[], callback?: UnsubscribeCallback): this;
  unsubscribe(topic: string | string[], opts?: object, callback?: UnsubscribeCallback): this;
  unsubscribe(topic: string | string[], opts?: object | UnsubscribeCallback, callback?: UnsubscribeCallback): this {
    if (typeof opts === 'function') callback = opts as UnsubscribeCallback;
    if (callback !== undefined && typeof callback !== 'function') throw typeError('callback', 'a function', callback);
    const topics = typeof topic === 'string' ? [topic] : topic;
    if (!Array.isArray(topics)) throw typeError('topic', 'a string or an array of strings', topic);
    topics.forEach((t, i) => {
      if (typeof t !== 'string') throw typeError(`topic[${i}]`, 'a string', t);
    });
    if (this.disconnecting) {
      this.fail(callback, new Error('client disconnecting'));
      return this;
    }
    const req = { remaining: topics.length, cb: callback };
    if (topics.length === 0) {
      if (callback !== undefined) process.nextTick(callback);
      return this;
    }
    for (const t of topics) {
      this.subscriptions.delete(t);
      if (this.conn < 0 || mqtt.unsubscribe(this.conn, t) < 0) {
        const why = this.conn < 0 ? 'not connected' : mqtt.lastError();
        this.pendingUnsubs = this.pendingUnsubs.filter((p) => p.req !== req);
        this.fail(callback, new Error(`unsubscribe ${t}: ${why}`));
        return this;
      }
      this.pendingUnsubs.push({ topic: t, req });
    }
    return this;
  }

  unsubscribeAsync(topic: string | string[], opts?: object): Promise<IUnsubackPacket | undefined> {
    return new Promise((resolve, reject) => {
      this.unsubscribe(topic, opts, (err, packet) => (err ? reject(err) : resolve(packet)));
    });
  }

  // ---- messages() --------------------------------------------------------

  /**
   * The messages whose topic matches `filter` (default '#': all), as an
   * async iterator. It does not subscribe: subscribe() as usual. When the
   * loop falls behind by `highWaterMark` messages (default 1000), event
   * delivery of this thread is held, and reading from the sockets pauses,
   * until the loop has caught up to half of it: nothing is dropped and
   * memory stays bounded. While held, every connection of this thread
   * waits (events are delivered per thread). Ends when the client ends.
   */
  messages(filter = '#', opts: { highWaterMark?: number } = {}): AsyncIterableIterator<IMessage> {
    if (typeof filter !== 'string') throw typeError('filter', 'a string', filter);
    const bad = badFilter(filter);
    if (bad !== null) throw new TypeError(`filter: ${bad}`);
    if (!isObject(opts)) throw typeError('opts', 'an object', opts);
    const hwm = opts.highWaterMark ?? 1000;
    if (typeof hwm !== 'number' || !Number.isInteger(hwm) || hwm < 1) {
      throw typeError('opts.highWaterMark', 'an integer >= 1', hwm);
    }
    const s = new MessageStream<IMessage>(hwm, deliveryHold, () => this.streams.delete(s)) as FilteredStream;
    s.filter = filter;
    if (this.disconnected) s.end();
    else this.streams.add(s);
    return s;
  }

  // ---- end ---------------------------------------------------------------

  end(cb?: CloseCallback): this;
  end(force?: boolean, cb?: CloseCallback): this;
  end(force?: boolean, opts?: object, cb?: CloseCallback): this;
  end(force?: boolean | object | CloseCallback, opts?: object | CloseCallback, cb?: CloseCallback): this {
    if (typeof force !== 'boolean') {
      cb = (cb ?? opts) as CloseCallback | undefined;
      opts = force as object | undefined;
      force = false;
    }
    if (typeof opts === 'function') cb = opts as CloseCallback;
    if (cb !== undefined && typeof cb !== 'function') throw typeError('callback', 'a function', cb);
    if (this.disconnected) {
      if (cb !== undefined) process.nextTick(cb);
      return this;
    }
    if (cb !== undefined) this.endCallbacks.push(cb);
    if (this.disconnecting && !force) return this;
    this.disconnecting = true;
    if (this.reconnectTimer !== null) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    // Not forced: what waits for room goes first, and QoS 1/2 messages are
    // acknowledged (as MQTT.js waits for them), while there is a link.
    if (force || !this.connected || this.conn < 0) {
      this.dropWaiting(new Error('Connection closed: end() before the message was queued'));
      this.close();
    } else {
      this.maybeClose();
    }
    return this;
  }

  endAsync(force?: boolean, opts?: object): Promise<void> {
    return new Promise((resolve, reject) => {
      this.end(force, opts, (err?: Error) => (err ? reject(err) : resolve()));
    });
  }

  /** Opens a new connection after end() or after a loss with reconnectPeriod 0. */
  reconnect(): this {
    if (this.conn >= 0 && !this.disconnected) return this;
    this.disconnecting = false;
    this.disconnected = false;
    this.closing = false;
    this.emit('reconnect');
    this.openHandle();
    return this;
  }

  /** For end() without force: closes once nothing waits and nothing is unacknowledged, or the link is gone. */
  private maybeClose(): void {
    if (!this.disconnecting || this.closing) return;
    // As MQTT.js: subscribe/unsubscribe requests in flight are answered first, too.
    const inFlight = this.unacked.size > 0 || this.pendingSubs.length > 0 || this.pendingUnsubs.length > 0;
    if (this.connected && (this.waiting.length > 0 || inFlight)) return;
    this.dropWaiting(new Error('Connection closed: end() before the message was queued'));
    this.close();
  }

  private close(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.conn >= 0) {
      mqtt.disconnect(this.conn); // its final `disconnected` calls finish()
    } else {
      process.nextTick(() => this.finish(false));
    }
  }

  private finish(wasConnected: boolean): void {
    if (this.disconnected) return;
    this.conn = -1;
    this.reconnecting = false;
    this.disconnected = true;
    this.release(new Error('Connection closed'));
    if (wasConnected) this.emit('close');
    for (const s of [...this.streams]) s.end();
    this.emit('end');
    for (const cb of this.endCallbacks.splice(0)) cb();
  }

  /** Lets the handle go; what still waits for an answer gets `err`. */
  private release(err: Error): void {
    if (this.conn >= 0) {
      mqtt.disconnect(this.conn);
      this.conn = -1;
    }
    this.failRequests(err);
    this.dropWaiting(err);
    for (const p of this.unacked.values()) this.abandon(p.p.cb, err);
    this.unacked.clear();
  }

  private failRequests(err: Error): void {
    const subs = new Set(this.pendingSubs.map((p) => p.req));
    const unsubs = new Set(this.pendingUnsubs.map((p) => p.req));
    this.pendingSubs = [];
    this.pendingUnsubs = [];
    for (const r of subs) this.abandon(r.cb, err);
    for (const r of unsubs) this.abandon(r.cb, err);
  }

  private dropWaiting(err: Error): void {
    const dropped = this.waiting;
    this.waiting = [];
    this.waitingBytes = 0;
    for (const p of dropped) this.abandon(p.cb, err);
  }
}

interface FilteredStream extends MessageStream<IMessage> {
  filter: string;
}

/**
 * Connects like MQTT.js's connect(): `connect('mqtt://host:1883', options)`
 * or `connect(options)`. Returns the client at once; `connect` fires on
 * CONNACK. WebSocket, pfx and MQTT 3.1/5 are refused in this build.
 */
export function connect(url?: string | IClientOptions, options?: IClientOptions): MqttClient {
  if (isObject(url) && options === undefined) {
    options = url as IClientOptions;
    url = undefined;
  }
  if (url !== undefined && typeof url !== 'string') throw typeError('url', 'a string', url);
  if (options !== undefined && !isObject(options)) throw typeError('options', 'an object', options);
  const client = new MqttClient(url, options ?? {});
  // As MQTT.js's connect() (4.x and 5.x): an `error` event without a listener
  // of the program's does not throw; the client goes on (reconnects).
  client.on('error', () => {});
  return client;
}

/** connect() that resolves on `connect` and rejects on the first `error`. */
export function connectAsync(url?: string | IClientOptions, options?: IClientOptions): Promise<MqttClient> {
  const client = connect(url, options);
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      client.removeListener('connect', onConnect);
      client.end(true);
      reject(err);
    };
    const onConnect = () => {
      client.removeListener('error', onError);
      resolve(client);
    };
    client.once('error', onError);
    client.once('connect', onConnect);
  });
}

const compat = { connect, connectAsync, MqttClient };
export default compat;
