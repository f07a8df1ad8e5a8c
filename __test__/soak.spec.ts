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
// in-flight store is full. Marked failing until the client is fixed.
test.failing('[bug] a -1 for lack of packet ids is followed by a drain event once PUBACKs free them', async (t) => {
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
