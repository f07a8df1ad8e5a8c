// MQTT.js's own client tests (4.3.7, test/client.js, which runs
// test/abstract_client.js over TCP) against mqtt-rs-client/compat.
// scripts/mqttjs-tests.ts fetches them at test time (Debian's source pool,
// sha256 pinned, cached in os.tmpdir()) and runs them with mocha against
// MQTT.js's own fake server; nothing of MQTT.js is in this repository.
// Most failures are tests that reach into MQTT.js's internals
// (client.stream, _handlePublish, outgoing stores, ...): docs/mqttjs-tests.md
// sorts them by reason. This test keeps the count of passing tests from
// going down, and lists what fails.

import test from 'ava';
import { runMqttjsTests, fetchTarball, MQTTJS_VERSION, SELECTION } from '../scripts/mqttjs-tests';

/**
 * Passing tests when this was recorded (docs/mqttjs-tests.md): 79 in 9 runs
 * of 10, 78 in one (a timing-sensitive test); raise it when more pass.
 */
const PASSING_FLOOR = 78;

test('MQTT.js 4.3.7 client tests against compat: at least as many pass as recorded', async (t) => {
  try {
    await fetchTarball();
  } catch (err) {
    // No network and no cached copy: nothing to run (as the mosquitto tests do without mosquitto).
    t.log(`MQTT.js ${MQTTJS_VERSION}'s tests are not available: ${String(err)}`);
    return t.pass('MQTT.js tests not reachable');
  }
  const res = await runMqttjsTests({ timeoutMs: 2000 });
  t.log(`MQTT.js ${MQTTJS_VERSION} ${SELECTION.join(' ')}: ${res.total} tests, ${res.passes.length} passing, ${res.failures.length} failing, ${res.pending.length} pending`);
  t.log(`failing:\n${res.failures.map((f) => `  ${f.title}\n      ${f.err ?? ''}`).join('\n')}`);
  t.true(res.total > 100, `mocha ran only ${res.total} tests: the run stopped early`);
  t.true(res.passes.length >= PASSING_FLOOR, `${res.passes.length} passing, fewer than the ${PASSING_FLOOR} recorded`);
});
