// Slow networks: the scripted peer reads at about 64 KiB/s (its socket is
// paused and resumed on a timer) while the client publishes as fast as
// `publish` admits, retrying a refused packet (-1) a moment later. After
// about 2 s the client stops publishing and the peer reads at full speed.
// The byte stream must then parse whole: no torn, missing or duplicated
// packet; exactly one PUBLISH per `publish` call that returned 0, in order,
// each carrying its sequence number and intact payload. A refused packet is
// retried with the same sequence number, so if a -1 had queued anything it
// would show up as a duplicate. The QoS 1 variant has the peer PUBACK what
// it reads, so the in-flight store fills and drains too.
//
// Nothing here asserts a duration: the 2 s and the rate only shape the load.

import anyTest, { type ExecutionContext } from 'ava';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt-rs-client';
import { openRecorded, sleep, uid } from './helpers/client';
import { PacketType, decodePublish, packets, splitFrame, startPeer, type Frame, type PeerConnection } from './helpers/peer';
import { waitFor } from './helpers/wait';

const test = anyTest.serial;

const RATE = 64 * 1024; // bytes per second the peer reads while slow
const PUBLISH_MS = 2000; // how long the client publishes (at least)
const PUBLISH_MS_CAP = 10_000; // ... and at most, waiting for the first -1

// ---- the load: sizes cross the 1-, 2- and 3-byte remaining-length bounds ----

const sizeOf = (seq: number): number => (seq % 97 === 0 ? 16_400 + (seq % 7) : 4 + ((seq * 7919) % 4000));
const topicOf = (qos: number, seq: number): string => `slow/q${qos}/${seq % 10}`;

function payloadOf(seq: number): Buffer {
  const p = Buffer.alloc(sizeOf(seq), seq & 0xff);
  p.writeUInt32BE(seq, 0);
  return p;
}

/** null when `f` is PUBLISH number `seq` whole, else what is wrong with it. */
function checkFrame(f: Frame, qos: number, seq: number): string | null {
  if (f.type !== PacketType.PUBLISH) return `frame ${seq}: type ${f.type}, not PUBLISH`;
  const p = decodePublish(f);
  if (p.qos !== qos || p.dup || p.retain) return `frame ${seq}: qos ${p.qos} dup ${p.dup} retain ${p.retain}`;
  if (p.payload.length < 4) return `frame ${seq}: payload of ${p.payload.length} bytes`;
  const got = p.payload.readUInt32BE(0);
  if (got !== seq) return `frame ${seq}: carries sequence number ${got} (torn, missing or duplicated packet)`;
  if (p.topic !== topicOf(qos, seq)) return `frame ${seq}: topic ${p.topic}`;
  if (!p.payload.equals(payloadOf(seq))) return `frame ${seq}: payload differs (${p.payload.length} bytes, want ${sizeOf(seq)})`;
  if (qos === 1 && (p.id === undefined || p.id === 0)) return `frame ${seq}: packet id ${p.id}`;
  return null;
}

// ---- the slow reader ---------------------------------------------------------

/**
 * Reads `c` at about `bytesPerSecond`: after each chunk, if more has been read
 * than the rate allows since the start, pause until the allowance catches up.
 */
function throttle(c: PeerConnection, bytesPerSecond: number) {
  const start = performance.now();
  let read = 0;
  let timer: NodeJS.Timeout | undefined;
  let on = true;
  const onData = (d: Buffer) => {
    read += d.length;
    if (!on) return;
    const allowed = ((performance.now() - start) / 1000) * bytesPerSecond;
    if (read > allowed) {
      c.pause();
      clearTimeout(timer);
      timer = setTimeout(() => { if (on) c.resume(); }, Math.max(5, ((read - allowed) / bytesPerSecond) * 1000));
    }
  };
  c.socket.on('data', onData);
  return {
    /** Back to full speed. Returns the bytes read while slow and the time it took. */
    stop(): { bytes: number; ms: number } {
      on = false;
      clearTimeout(timer);
      c.socket.off('data', onData);
      c.resume();
      return { bytes: read, ms: performance.now() - start };
    },
  };
}

// ---- the test ------------------------------------------------------------------

async function slowNetwork(t: ExecutionContext, qos: 0 | 1): Promise<void> {
  const peer = await startPeer();
  t.teardown(() => peer.close());
  const rec = openRecorded(t, '127.0.0.1', peer.port, uid(`slow-q${qos}`));
  const c = await peer.nextConnection();
  await c.nextPacket(PacketType.CONNECT);
  const connectEnd = c.received.length;
  c.write(packets.connack(0));
  await rec.next('connected');

  // The peer's side: parse each frame as it arrives, check it is the next
  // one, PUBACK it (QoS 1; one write per chunk read).
  let offset = connectEnd;
  let parsed = 0;
  let failure: string | null = null;
  let disconnectSeen = false;
  const consume = () => {
    const all = c.received;
    const acks: Buffer[] = [];
    const unacked = new Set<number>();
    for (let f = splitFrame(all, offset); f && failure === null; f = splitFrame(all, offset)) {
      offset += f.bytes.length;
      if (f.type === PacketType.DISCONNECT) {
        disconnectSeen = true;
        continue;
      }
      if (disconnectSeen) {
        failure = `a packet (type ${f.type}) after DISCONNECT`;
        break;
      }
      failure = checkFrame(f, qos, parsed);
      if (failure !== null) break;
      if (qos === 1) {
        const id = decodePublish(f).id!;
        // An id may come back only once its PUBACK has gone out.
        if (unacked.has(id)) failure = `frame ${parsed}: packet id ${id} reused while still unacknowledged`;
        unacked.add(id);
        acks.push(packets.puback(id));
      }
      parsed++;
    }
    if (acks.length > 0 && !c.closed) c.write(Buffer.concat(acks));
  };
  c.socket.on('data', consume); // after the PeerConnection's own listener: the bytes are in `received`

  const slow = throttle(c, RATE);

  // The client's side: publish as fast as publish() admits.
  let accepted = 0;
  let refused = 0;
  const errors = new Set<string>();
  const started = performance.now();
  for (;;) {
    const elapsed = performance.now() - started;
    if ((elapsed >= PUBLISH_MS && refused > 0) || elapsed >= PUBLISH_MS_CAP) break;
    let full = false;
    for (let n = 0; n < 256; n++) {
      if (mqtt.publish(rec.conn, topicOf(qos, accepted), payloadOf(accepted), qos) === 0) {
        accepted++;
      } else {
        refused++;
        errors.add(mqtt.lastError());
        full = true;
        break;
      }
    }
    if (full) await sleep(2);
    else await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const slowPhase = slow.stop();
  t.log(`qos ${qos}: ${accepted} publishes accepted, ${refused} refused (${[...errors].join('; ')}); ` +
    `the peer read ${Math.round(slowPhase.bytes / 1024)} KiB in ${Math.round(slowPhase.ms)} ms while slow`);
  t.true(refused > 0, 'the slow reader pushed back: publish returned -1');
  for (const e of errors) t.regex(e, qos === 0 ? /outbound buffer full/ : /outbound buffer full|awaiting PUBACK/);
  t.is(mqtt.state(rec.conn), 'connected', 'backpressure is not an error of the link');

  // Full speed: everything accepted arrives, whole and in order.
  await waitFor('every accepted PUBLISH at the peer', () => parsed >= accepted || failure !== null || c.closed, {
    timeoutMs: 40_000,
    detail: () => `${parsed} of ${accepted} parsed`,
  });
  t.is(failure, null);
  t.is(parsed, accepted, 'one PUBLISH frame per publish() that returned 0');

  // Then the client says goodbye cleanly: nothing more, DISCONNECT last.
  mqtt.disconnect(rec.conn);
  const d = await rec.next('disconnected', 20_000);
  t.is(d.reason, 'disconnect requested');
  await c.waitClosed(10_000);
  consume();
  t.is(failure, null);
  t.true(disconnectSeen, 'DISCONNECT was the last packet');
  t.is(offset, c.received.length, 'the stream ends on a packet boundary');
  t.is(parsed, accepted, 'no PUBLISH beyond the accepted ones');
  t.deepEqual(rec.types, ['connected', 'disconnected']);
}

test('slow network, QoS 0: the peer reads at ~64 KiB/s while the client publishes flat out; the stream parses whole', (t) => slowNetwork(t, 0));

test('slow network, QoS 1: the peer reads at ~64 KiB/s and PUBACKs what it reads; the stream parses whole', (t) => slowNetwork(t, 1));
