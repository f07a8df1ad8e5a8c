// The soak proofs of bench/ (bench/restarts.ts, bench/soak.ts) with reduced
// counts, against a real mosquitto: QoS 1 through repeated broker crashes
// (SIGKILL + restart on the same port), and a long stream of QoS 0 and QoS 1
// messages with RSS sampled. The full-count runs are in bench/results/.
// Without mosquitto the tests pass as skipped (unless MQTT_REQUIRE_MOSQUITTO=1).

import anyTest from 'ava';
import mqtt from 'mqtt-rs-client';
import { BROKER_CONFIG, RESTART_DEFAULTS, runRestarts, runSoak, SOAK_DEFAULTS } from '../bench/soak-proofs';
import { startAedes } from './helpers/aedes';
import { sleep, track, uid } from './helpers/client';
import { startMosquitto } from './helpers/mosquitto';
import { freePort } from './helpers/net';

// Serial: both proofs load the two cores; they must not compete.
const test = anyTest.serial;
const SKIP = 'mosquitto not installed: skipped';

const RESTART_CYCLES = 10;

test(`broker restarts: ${RESTART_CYCLES} x SIGKILL + restart while QoS 1 flows; every accepted message is acknowledged, nothing unpublished or out of order arrives`, async (t) => {
  const broker = await startMosquitto({ extraConfig: BROKER_CONFIG });
  if (!broker) return t.pass(SKIP);
  t.teardown(() => broker.stop());
  const r = await runRestarts({ ...RESTART_DEFAULTS, cycles: RESTART_CYCLES, drainTimeoutMs: 30_000, broker });
  t.log(r.report.join('\n'));
  t.deepEqual(r.problems, []);
  // Every cycle ends connected and re-subscribed (with messages flowing again).
  t.is(r.cycles.length, RESTART_CYCLES + 1);
  t.is(r.pub.connected, RESTART_CYCLES + 1);
  t.is(r.sub.connected, RESTART_CYCLES + 1);
  t.true(r.sub.subscribed >= RESTART_CYCLES + 1);
  // At-least-once from the publisher's side: all accepted, all acknowledged.
  t.true(r.accepted > 0);
  t.is(r.inFlightAtEnd, 0);
  t.is(r.acked, r.accepted);
  // The subscriber's books.
  t.is(r.neverPublished, 0, 'received a message that was never published');
  t.is(r.outOfOrder, 0, 'out of order within a connection period');
  t.is(r.missedInsidePeriods, 0, 'missed a message while subscribed');
  t.is(r.distinct + r.missed, r.accepted);
  t.is(r.received, r.distinct + r.duplicates);
});

test('soak: 200,000 QoS 0 + 20,000 QoS 1 through mosquitto; no QoS 1 lost, all acknowledged; RSS sampled', async (t) => {
  const broker = await startMosquitto({ extraConfig: BROKER_CONFIG });
  if (!broker) return t.pass(SKIP);
  t.teardown(() => broker.stop());
  const r = await runSoak({ ...SOAK_DEFAULTS, qos0: 200_000, qos1: 20_000, sampleMs: 1_000, drainTimeoutMs: 30_000, broker });
  t.log(r.report.join('\n'));
  t.deepEqual(r.problems, []);
  t.is(r.q1.accepted, 20_000);
  t.is(r.q1.lost, 0);
  t.is(r.q1.acked, r.q1.accepted);
  t.is(r.q0.accepted, 200_000);
  t.is(r.q0.outOfOrder + r.q1.outOfOrder, 0);
  // Not a measurement, a tripwire: a leak per message would show here.
  t.true(r.rss.max - r.rss.start < 256 << 20, `RSS grew by ${((r.rss.max - r.rss.start) / (1 << 20)).toFixed(1)} MiB`);
});

// Found while building the proofs above (README: "After a -1 from publish, a
// `drain` event says when there is room again"). When all 65,535 packet ids
// are taken by QoS 1 messages awaiting PUBACK, publish() returns -1 ("all
// packet identifiers are in use") but no `drain` ever follows, not even after
// every one of them has been acknowledged: a publisher that waits for `drain`
// waits forever. Small messages reach the id limit before the 2 MiB
// in-flight store is full. Fixed: the refusal sets the drain flag, and room
// means half the ids free too.
test('regression: a -1 for lack of packet ids is followed by a drain event once PUBACKs free them', async (t) => {
  // The broker comes up after the publishes, so nothing is acknowledged before.
  const port = await freePort();
  const conn = track(t, mqtt.open('127.0.0.1', port, uid('ids')));
  mqtt.setAutoReconnect(conn, true);
  mqtt.setReconnectDelays(conn, [0.05]);
  let drains = 0;
  let acked = 0;
  mqtt.on(conn, 'drain', () => { drains++; });
  mqtt.on(conn, 'published', () => { acked++; });
  let accepted = 0;
  for (let i = 0; i < 70_000; i++) {
    if (mqtt.publishWithId(conn, 'i', '', 1) < 0) break;
    accepted++;
  }
  t.is(accepted, 65_535);
  t.is(mqtt.lastError(), 'all packet identifiers are in use');
  const broker = await startAedes(port);
  t.teardown(() => broker.close());
  for (let i = 0; i < 300 && acked < accepted; i++) await sleep(50);
  t.is(acked, accepted);
  await sleep(200);
  t.true(mqtt.publishWithId(conn, 'i', '', 1) > 0, 'room again');
  t.true(drains > 0, 'no drain event after the -1, though every id is free again');
});

// Also found while building the proofs: in a packet capture of
// bench/restarts.ts (bench/results/restarts-20-pcap.txt), mosquitto wrote 195
// QoS 1 PUBLISHes to the subscriber in one segment, the subscriber's kernel
// acknowledged them, the RST of the kill followed 2.5 ms later, and the
// application got 39 of them. When a link is reset
// (RST) while more than 64 whole QoS 1 PUBLISHes are waiting in the
// client's socket, only 64 are delivered: the 64 PUBACKs fill the
// 256-byte control queue, the I/O thread writes them before reading on
// (crates/mqtt-driver/src/service.rs: write() then read()), the write fails
// with ECONNRESET, the link is dropped, and every PUBLISH still in the
// kernel buffer or in the inbound buffer is discarded (sync_inbound). QoS 0
// bursts, and resets after at most 64 QoS 1 messages, are delivered whole;
// so is the same burst when the server closes with FIN. The peer runs in a
// worker thread so it can go on while this thread is blocked in the first
// message's handler: the events back up to their 8 MiB bound, the I/O thread
// stops reading, and the burst and the RST are both in the socket before it
// reads again (without the blocked handler it is a race the client mostly
// wins, 1 time in 3 here).
// Fixed: whole PUBLISHes already received when the link breaks are delivered
// (salvaged, before the `disconnected`), unacknowledged since the link is gone.
test('regression: QoS 1 messages already in the socket when the server resets the link are delivered, not dropped', async (t) => {
  const { Worker } = await import('node:worker_threads');
  const peer = new Worker(
    `
    const { parentPort } = require('node:worker_threads');
    const net = require('node:net');
    const rl = (n) => { const o = []; do { let b = n % 128; n = Math.floor(n / 128); if (n) b |= 128; o.push(b); } while (n); return Buffer.from(o); };
    const frame = (first, body) => Buffer.concat([Buffer.from([first]), rl(body.length), body]);
    const u16 = (n) => Buffer.from([n >> 8, n & 255]);
    const publish = (topic, payload, qos, id) =>
      frame(0x30 | (qos << 1), Buffer.concat([u16(topic.length), Buffer.from(topic), qos ? u16(id) : Buffer.alloc(0), payload]));
    // Bytes sent and not yet acknowledged by the peer: tx_queue in /proc/net/tcp.
    const hexPort = (n) => n.toString(16).toUpperCase().padStart(4, '0');
    const unacked = (c) => {
      const row = require('node:fs').readFileSync('/proc/net/tcp', 'utf8').split('\\n')
        .map((l) => l.trim().split(/\\s+/))
        .find((f) => f[1] && f[1].endsWith(':' + hexPort(c.localPort)) && f[2].endsWith(':' + hexPort(c.remotePort)));
      if (!row) throw new Error('no /proc/net/tcp row for the peer socket');
      return parseInt(row[4].split(':')[0], 16);
    };
    const srv = net.createServer((c) => {
      let buf = Buffer.alloc(0);
      c.on('error', () => {});
      c.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          if (buf.length < 2) return;
          let len = 0, mult = 1, i = 1;
          for (;;) { if (i >= buf.length) return; const b = buf[i++]; len += (b & 127) * mult; mult *= 128; if (!(b & 128)) break; }
          if (buf.length < i + len) return;
          const type = buf[0] >> 4, body = buf.subarray(i, i + len);
          buf = buf.subarray(i + len);
          if (type === 1) c.write(frame(0x20, Buffer.from([0, 0])));
          if (type === 8) {
            c.write(frame(0x90, Buffer.concat([body.subarray(0, 2), Buffer.from([1])])));
            // One message alone, whose handler blocks the client's JS thread; then
            // 8.5 MiB of QoS 0 (past the 8 MiB event backlog, so the client stops
            // reading), 1000 QoS 1, and once all of it is with the kernel, a reset.
            c.write(publish('t/0', Buffer.from('start'), 0));
            setTimeout(() => {
              const big = Buffer.alloc(16384, 120);
              const flood = [];
              for (let n = 0; n < 544; n++) flood.push(publish('t/0', big, 0));
              const burst = [];
              for (let n = 1; n <= 1000; n++) burst.push(publish('t/1', Buffer.from(String(n)), 1, n));
              c.write(Buffer.concat(flood));
              // The reset waits until the client's kernel has acknowledged every
              // byte: data still in this side's send buffer would die with the
              // reset, and that is TCP's loss, not the client's.
              const resetWhenAcked = () => (unacked(c) === 0 ? (c.resetAndDestroy(), parentPort.postMessage('reset')) : setTimeout(resetWhenAcked, 20));
              c.write(Buffer.concat(burst), () => setTimeout(resetWhenAcked, 300));
            }, 300);
          }
        }
      });
    });
    srv.listen(0, '127.0.0.1', () => parentPort.postMessage(srv.address().port));
    `,
    { eval: true },
  );
  t.teardown(() => peer.terminate());
  const port: number = await new Promise((resolve) => peer.once('message', resolve));
  const conn = track(t, mqtt.open('127.0.0.1', port, uid('rst')));
  let q0 = 0;
  let q1 = 0;
  let blocked = false;
  let reason = '';
  mqtt.on(conn, 'connected', () => mqtt.subscribe(conn, 't/#', 1));
  mqtt.on(conn, 'message', (e) => {
    if (!blocked) {
      blocked = true;
      const until = Date.now() + 2500;
      while (Date.now() < until); // the application is busy: events back up, reading pauses
    }
    if (e.qos === 1) q1++;
    else q0++;
  });
  mqtt.on(conn, 'disconnected', (e) => { reason = e.reason; });
  for (let i = 0; i < 200 && reason === ''; i++) await sleep(50);
  await sleep(300);
  t.regex(reason, /reset/);
  t.is(q0, 545, 'the QoS 0 messages arrive whole');
  t.is(q1, 1000, `QoS 1 messages delivered of the 1000 in the socket before the reset`);
});
