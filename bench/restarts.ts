// Proof 1: QoS 1 through broker crashes. mosquitto is SIGKILLed and
// restarted on the same port, cycle after cycle, while this client publishes
// QoS 1 messages (sequence numbers in the payloads) on one connection and
// receives them on another that re-subscribes from its connected handler.
// Prints how accepted, acknowledged, received, missed and duplicated add up.
//
//   node --import=tsx bench/restarts.ts [--cycles 20] [--rate 0] [--flowed 20]
//
// Settings (argument, or environment variable):
//   --cycles   RESTART_CYCLES     SIGKILL + restart cycles (20)
//   --rate     RESTART_RATE       QoS 1 publishes per second, 0: as fast as accepted (0)
//   --flowed   RESTART_FLOWED     messages received per connection period before the next kill (20)
//   --delays   RESTART_DELAYS     reconnect delays in seconds, comma-separated (0.05,0.1,0.2)
//   --retry-ms RESTART_RETRY_MS   retry after -1 when no drain event came within this (50)
//   --dump     RESTART_DUMP       write {port, missed: [sequence numbers]} as JSON to this file
//                                 (to match against a packet capture of the run)
// Exit status 1 when an invariant broke (listed under "problems").

import fs from 'node:fs';
import { numSetting, printOutcome, RESTART_DEFAULTS, runRestarts, setting } from './soak-proofs';

async function main() {
  const delays = setting('delays', 'RESTART_DELAYS');
  const r = await runRestarts({
    ...RESTART_DEFAULTS,
    cycles: numSetting('cycles', 'RESTART_CYCLES', RESTART_DEFAULTS.cycles),
    rate: numSetting('rate', 'RESTART_RATE', RESTART_DEFAULTS.rate),
    flowed: numSetting('flowed', 'RESTART_FLOWED', RESTART_DEFAULTS.flowed),
    retryMs: numSetting('retry-ms', 'RESTART_RETRY_MS', RESTART_DEFAULTS.retryMs),
    delays: delays ? delays.split(',').map(Number) : RESTART_DEFAULTS.delays,
    log: (l) => console.log(l),
  });
  const dump = setting('dump', 'RESTART_DUMP');
  if (dump) fs.writeFileSync(dump, JSON.stringify({ port: r.port, missed: r.missedList }));
  printOutcome(r);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
