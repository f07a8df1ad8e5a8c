// A scripted TCP peer: a server on a free loopback port that hands each
// accepted connection to the test, which then reads what the client sent,
// writes raw bytes back, stops reading, or cuts the link, at will. It covers
// what a real broker will not do on demand (refuse, stall, send garbage, drop
// the link mid-packet).
//
//   const peer = await startPeer();
//   ... client connects to peer.port ...
//   const c = await peer.nextConnection();
//   const connect = await c.nextPacket(PacketType.CONNECT);
//   c.write(packets.connack(0));
//   c.pause();          // stop reading: the client's writes back up
//   c.destroy();        // drop the link
//   await peer.close();

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { waitFor } from './wait';

export const PacketType = {
  CONNECT: 1, CONNACK: 2, PUBLISH: 3, PUBACK: 4, PUBREC: 5, PUBREL: 6, PUBCOMP: 7,
  SUBSCRIBE: 8, SUBACK: 9, UNSUBSCRIBE: 10, UNSUBACK: 11, PINGREQ: 12, PINGRESP: 13, DISCONNECT: 14,
} as const;

const TYPE_NAMES = Object.fromEntries(Object.entries(PacketType).map(([k, v]) => [v, k]));
export const typeName = (type: number): string => TYPE_NAMES[type] ?? `type ${type}`;

/** One MQTT control packet as it came off the wire. */
export interface Frame {
  type: number;
  /** low nibble of the first byte */
  flags: number;
  /** variable header + payload (the "remaining length" bytes) */
  body: Buffer;
  /** the whole packet, fixed header included */
  bytes: Buffer;
}

/**
 * Splits one frame off `buf` at `offset`: null while incomplete; throws on a
 * remaining length longer than 4 bytes.
 */
export function splitFrame(buf: Buffer, offset = 0): Frame | null {
  if (buf.length - offset < 2) return null;
  let len = 0;
  let mult = 1;
  let i = offset + 1;
  for (;;) {
    if (i >= buf.length) return null;
    if (i - offset > 4) throw new Error('malformed remaining length (more than 4 bytes)');
    const b = buf[i++];
    len += (b & 0x7f) * mult;
    mult *= 128;
    if ((b & 0x80) === 0) break;
  }
  if (buf.length - i < len) return null;
  return {
    type: buf[offset] >> 4,
    flags: buf[offset] & 0x0f,
    body: buf.subarray(i, i + len),
    bytes: buf.subarray(offset, i + len),
  };
}

// ---- packet builders and decoders for the scripts ------------------------

/** The remaining-length bytes of `n` (1 to 4 for what MQTT allows). */
export function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function frame(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), remainingLength(body.length), body]);
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export const packets = {
  connack: (code = 0, sessionPresent = false) => frame(0x20, Buffer.from([sessionPresent ? 1 : 0, code])),
  puback: (id: number) => frame(0x40, u16(id)),
  suback: (id: number, ...codes: number[]) => frame(0x90, Buffer.concat([u16(id), Buffer.from(codes)])),
  unsuback: (id: number) => frame(0xb0, u16(id)),
  pingresp: () => Buffer.from([0xd0, 0x00]),
  publish(topic: string, payload: string | Buffer, o: { qos?: 0 | 1; id?: number; dup?: boolean; retain?: boolean } = {}) {
    const qos = o.qos ?? 0;
    const first = 0x30 | (o.dup ? 0x08 : 0) | (qos << 1) | (o.retain ? 1 : 0);
    const parts = [str(topic)];
    if (qos > 0) parts.push(u16(o.id ?? 1));
    parts.push(typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload);
    return frame(first, Buffer.concat(parts));
  },
};

export interface ConnectInfo {
  protocolName: string;
  protocolLevel: number;
  cleanSession: boolean;
  keepAlive: number;
  clientId: string;
  will?: { topic: string; payload: Buffer; qos: number; retain: boolean };
  username?: string;
  password?: Buffer;
}

export function decodeConnect(f: Frame): ConnectInfo {
  const b = f.body;
  let p = 0;
  const readBytes = () => {
    const n = b.readUInt16BE(p);
    const v = b.subarray(p + 2, p + 2 + n);
    p += 2 + n;
    return v;
  };
  const protocolName = readBytes().toString('utf8');
  const protocolLevel = b[p++];
  const flags = b[p++];
  const keepAlive = b.readUInt16BE(p);
  p += 2;
  const info: ConnectInfo = {
    protocolName, protocolLevel, keepAlive,
    cleanSession: (flags & 0x02) !== 0,
    clientId: readBytes().toString('utf8'),
  };
  if (flags & 0x04) {
    const topic = readBytes().toString('utf8');
    info.will = { topic, payload: readBytes(), qos: (flags >> 3) & 3, retain: (flags & 0x20) !== 0 };
  }
  if (flags & 0x80) info.username = readBytes().toString('utf8');
  if (flags & 0x40) info.password = readBytes();
  return info;
}

export interface PublishInfo { topic: string; payload: Buffer; qos: number; dup: boolean; retain: boolean; id?: number }

export function decodePublish(f: Frame): PublishInfo {
  const n = f.body.readUInt16BE(0);
  const topic = f.body.subarray(2, 2 + n).toString('utf8');
  const qos = (f.flags >> 1) & 3;
  let p = 2 + n;
  let id: number | undefined;
  if (qos > 0) {
    id = f.body.readUInt16BE(p);
    p += 2;
  }
  return { topic, payload: f.body.subarray(p), qos, dup: (f.flags & 8) !== 0, retain: (f.flags & 1) !== 0, id };
}

/** The packet identifier that starts the body (PUBACK, SUBSCRIBE, UNSUBSCRIBE, ...). */
export const packetId = (f: Frame): number => f.body.readUInt16BE(0);

// ---- waiting -------------------------------------------------------------

/** Re-checks `check` on every `signal` until it returns a value, or times out. */
function waitUntil<T>(signal: Set<() => void>, check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  // The first check runs here, as it always has: a value already there
  // resolves at once, and an exception (a closed link) is thrown by the call.
  const now = check();
  if (now !== undefined) return Promise.resolve(now);
  return waitFor(what, check, { signal, timeoutMs, label: 'peer' });
}

const notify = (signal: Set<() => void>) => { for (const f of [...signal]) f(); };

// ---- connections and the server ------------------------------------------

export class PeerConnection {
  // Received bytes live in a buffer that grows by doubling, so a stream of
  // many megabytes costs O(n) to collect (Buffer.concat per chunk would be
  // quadratic). Views handed out earlier stay valid: written bytes are never
  // overwritten, and a reallocation leaves old views on the old memory.
  private store: Buffer = Buffer.alloc(4096);
  private length = 0;

  /** everything received on this connection so far */
  get received(): Buffer {
    return this.store.subarray(0, this.length);
  }

  /** true once the socket has closed (either side) */
  closed = false;
  /** offset in `received` up to which nextPacket() has handed out frames */
  private cursor = 0;
  private readonly signal = new Set<() => void>();

  constructor(
    readonly socket: net.Socket,
    /** 0 for the first connection the peer accepted, 1 for the next, ... */
    readonly index: number,
    /** performance.now() at accept */
    readonly acceptedAt: number,
  ) {
    socket.on('data', (d: Buffer) => {
      if (this.length + d.length > this.store.length) {
        const bigger = Buffer.alloc(Math.max(this.store.length * 2, this.length + d.length));
        this.store.copy(bigger, 0, 0, this.length);
        this.store = bigger;
      }
      d.copy(this.store, this.length);
      this.length += d.length;
      notify(this.signal);
    });
    socket.on('error', () => { /* the test sees it as 'close' */ });
    socket.on('close', () => {
      this.closed = true;
      notify(this.signal);
    });
  }

  /** Resolves with all bytes received once at least `n` have arrived. */
  waitBytes(n: number, timeoutMs = 5000): Promise<Buffer> {
    return waitUntil(this.signal, () => (this.received.length >= n ? this.received : undefined), timeoutMs, `${n} bytes`);
  }

  /**
   * The next whole packet after the ones already returned. With `type`,
   * packets of other types are skipped (e.g. to ignore PINGREQ).
   * Rejects if the link closes first.
   */
  nextPacket(type?: number, timeoutMs = 5000): Promise<Frame> {
    const what = type === undefined ? 'a packet' : typeName(type);
    return waitUntil(this.signal, () => {
      for (;;) {
        const f = splitFrame(this.received, this.cursor);
        if (!f) break;
        this.cursor += f.bytes.length;
        if (type === undefined || f.type === type) return f;
      }
      if (this.closed) throw new Error(`peer: link closed while waiting for ${what}`);
      return undefined;
    }, timeoutMs, what);
  }

  /** Resolves when the socket has closed. */
  waitClosed(timeoutMs = 5000): Promise<void> {
    return waitUntil(this.signal, () => (this.closed ? true : undefined), timeoutMs, 'the link to close')
      .then(() => undefined);
  }

  write(bytes: Buffer | Uint8Array | number[]): void {
    this.socket.write(Buffer.from(bytes as Uint8Array));
  }

  /** Stop reading: the kernel buffers fill and the client's writes back up. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Half-close (FIN) after pending writes. */
  end(): void {
    this.socket.end();
  }

  /** Close the link at once (FIN; the kernel sends RST if data is unread). */
  destroy(): void {
    this.socket.destroy();
  }

  /** Abort the link with a TCP RST. */
  reset(): void {
    this.socket.resetAndDestroy();
  }
}

export class Peer {
  readonly connections: PeerConnection[] = [];
  private handedOut = 0;
  private readonly signal = new Set<() => void>();

  constructor(readonly server: net.Server, readonly port: number) {
    server.on('connection', (socket) => {
      socket.setNoDelay(true);
      this.connections.push(new PeerConnection(socket, this.connections.length, performance.now()));
      notify(this.signal);
    });
  }

  get connectionCount(): number {
    return this.connections.length;
  }

  /** performance.now() of each accept, in order. */
  get connectionTimes(): number[] {
    return this.connections.map((c) => c.acceptedAt);
  }

  /**
   * The next connection not yet returned by this method (so a connection
   * that arrived before the call is not missed).
   */
  nextConnection(timeoutMs = 5000): Promise<PeerConnection> {
    return waitUntil(this.signal, () => {
      const c = this.connections[this.handedOut];
      if (c) this.handedOut++;
      return c;
    }, timeoutMs, `connection #${this.handedOut + 1}`);
  }

  /** Resolves once `n` connections in total have been accepted. */
  waitConnections(n: number, timeoutMs = 5000): Promise<void> {
    return waitUntil(this.signal, () => (this.connections.length >= n ? true : undefined), timeoutMs, `${n} connections`)
      .then(() => undefined);
  }

  /** Stops listening and destroys every connection. */
  close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Listens on `port` (default: a free one) on 127.0.0.1. */
export async function startPeer(port = 0): Promise<Peer> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return new Peer(server, (server.address() as net.AddressInfo).port);
}
