// Proof 2: a soak. Millions of QoS 0 and QoS 1 messages from one connection
// of this client to another through mosquitto, RSS sampled at the start,
// every few seconds and at the end. QoS 1 loss must be 0 (every accepted
// QoS 1 publish received and acknowledged); QoS 0 loss is reported.
//
//   node --import=tsx bench/soak.ts [--qos0 5000000] [--qos1 500000]
//   node --expose-gc --import=tsx bench/soak.ts ...   (collects garbage before the last RSS)
//
// Settings (argument, or environment variable):
//   --qos0      SOAK_QOS0       QoS 0 messages (5,000,000)
//   --qos1      SOAK_QOS1       QoS 1 messages (500,000), interleaved with the QoS 0 ones
//   --payload   SOAK_PAYLOAD    payload bytes, at least 4 (32)
//   --sample-ms SOAK_SAMPLE_MS  RSS sample period (5000)
//   --window    SOAK_WINDOW     most messages published and not yet received (500,000)
//   --retry-ms  SOAK_RETRY_MS   retry after -1 when no drain event came within this (1000)
// Exit status 1 when an invariant broke (listed under "problems").

import { numSetting, printOutcome, runSoak, SOAK_DEFAULTS } from './soak-proofs';

async function main() {
  const r = await runSoak({
    ...SOAK_DEFAULTS,
    qos0: numSetting('qos0', 'SOAK_QOS0', SOAK_DEFAULTS.qos0),
    qos1: numSetting('qos1', 'SOAK_QOS1', SOAK_DEFAULTS.qos1),
    payload: numSetting('payload', 'SOAK_PAYLOAD', SOAK_DEFAULTS.payload),
    sampleMs: numSetting('sample-ms', 'SOAK_SAMPLE_MS', SOAK_DEFAULTS.sampleMs),
    window: numSetting('window', 'SOAK_WINDOW', SOAK_DEFAULTS.window),
    retryMs: numSetting('retry-ms', 'SOAK_RETRY_MS', SOAK_DEFAULTS.retryMs),
    log: (l) => console.log(l),
  });
  printOutcome(r);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
