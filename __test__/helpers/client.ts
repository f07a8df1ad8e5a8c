// Test helpers around the package API (mqtt-rs-client): a recorder that
// binds all four events of a handle and lets a test wait for them, unique
// topic prefixes, and teardown that disconnects every handle a test opened.
//
//   const rec = openRecorded(t, '127.0.0.1', port, 'client-1');
//   await rec.next('connected');
//   mqtt.subscribe(rec.conn, 'x/#', 1);
//   const s = await rec.next('subscribed');
//   const m = await rec.until('message', (m) => m.topic === 'x/1');

import type { ExecutionContext } from 'ava';
import mqtt, { type MqttEvents, type MqttEventName, type MqttOpenOptions } from 'mqtt-rs-client';
import { sleep, waitFor } from './wait';

// Kept here for the specs that import it from this module.
export { sleep };

let counter = 0;

/** A topic prefix no other test (or test process) uses. */
export function uid(name = 't'): string {
  counter += 1;
  return `${name}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

type Hooks = { [E in MqttEventName]?: (e: MqttEvents[E]) => void };
type Recorded = { [E in MqttEventName]: MqttEvents[E][] };

/** Records every event of one handle, in order; waits for them. */
export class Recorder {
  readonly log: { type: MqttEventName; event: MqttEvents[MqttEventName] }[] = [];
  // The four events of the reference API are recorded; the others stay empty
  // unless a test binds them itself.
  readonly seen: Recorded = {
    connected: [], disconnected: [], subscribed: [], message: [], published: [], unsubscribed: [], drain: [], oversized: [],
  };
  private readonly cursor: Record<MqttEventName, number> = {
    connected: 0, disconnected: 0, subscribed: 0, message: 0, published: 0, unsubscribed: 0, drain: 0, oversized: 0,
  };
  private readonly waiters = new Set<() => void>();

  constructor(readonly conn: number, hooks: Hooks = {}) {
    for (const type of ['connected', 'disconnected', 'subscribed', 'message'] as const) {
      const hook = hooks[type] as ((e: unknown) => void) | undefined;
      const r = mqtt.on(conn, type, (e: MqttEvents[typeof type]) => {
        this.log.push({ type, event: e });
        (this.seen[type] as unknown[]).push(e);
        hook?.(e);
        for (const w of [...this.waiters]) w();
      });
      if (r !== 0) throw new Error(`on(${conn}, ${type}) failed: ${mqtt.lastError()}`);
    }
  }

  /** Types of all events so far, in order. */
  get types(): MqttEventName[] {
    return this.log.map((l) => l.type);
  }

  /**
   * The next event of `type` not yet returned by next()/until() that
   * satisfies `pred` (events of that type before it are skipped).
   */
  until<E extends MqttEventName>(type: E, pred: (e: MqttEvents[E]) => boolean = () => true, timeoutMs = 10_000): Promise<MqttEvents[E]> {
    const check = (): MqttEvents[E] | undefined => {
      const list = this.seen[type] as MqttEvents[E][];
      while (this.cursor[type] < list.length) {
        const e = list[this.cursor[type]++];
        if (pred(e)) return e;
      }
      return undefined;
    };
    return waitFor(type, check, {
      signal: this.waiters,
      timeoutMs,
      label: `conn ${this.conn}`,
      detail: () => `events so far: ${JSON.stringify(this.types)}`,
    });
  }

  next<E extends MqttEventName>(type: E, timeoutMs = 10_000): Promise<MqttEvents[E]> {
    return this.until(type, () => true, timeoutMs);
  }

  /** Resolves once `n` events of `type` have been seen in total. */
  count<E extends MqttEventName>(type: E, n: number, timeoutMs = 10_000): Promise<MqttEvents[E][]> {
    const list = this.seen[type] as MqttEvents[E][];
    return waitFor(`${n} ${type} events`, () => list.length >= n && list, {
      signal: this.waiters,
      timeoutMs,
      label: `conn ${this.conn}`,
      detail: () => `have ${list.length}`,
    });
  }
}

/** Disconnects `conn` when the test ends (a no-op if the test already did). */
export function track(t: ExecutionContext, conn: number): number {
  if (conn >= 0) {
    // disconnect() of an already closed handle only sets lastError().
    t.teardown(() => mqtt.disconnect(conn));
  }
  return conn;
}

/** open() (or openAuth() with `auth`) plus a Recorder; fails the test on -1. */
export function openRecorded(
  t: ExecutionContext,
  host: string,
  port: number,
  clientId: string,
  o: { auth?: [string, string]; options?: MqttOpenOptions; hooks?: Hooks } = {},
): Recorder {
  const conn = o.auth
    ? mqtt.openAuth(host, port, clientId, o.auth[0], o.auth[1], o.options)
    : mqtt.open(host, port, clientId, o.options);
  if (conn < 0) throw new Error(`open failed: ${mqtt.lastError()}`);
  track(t, conn);
  return new Recorder(conn, o.hooks);
}

/** Opens, waits for `connected`, subscribes to each filter and waits for the SUBACKs. */
export async function connectAndSubscribe(
  t: ExecutionContext, port: number, clientId: string, filters: [string, number][] = [], o: { options?: MqttOpenOptions } = {},
): Promise<Recorder> {
  const rec = openRecorded(t, '127.0.0.1', port, clientId, o);
  await rec.next('connected');
  for (const [f, q] of filters) {
    t.is(mqtt.subscribe(rec.conn, f, q), 0, mqtt.lastError());
    const s = await rec.next('subscribed');
    t.true(s.ok, `subscribe ${f}`);
  }
  return rec;
}
