// RSS per connection, measured in a fresh process for one client kind:
//   node --expose-gc --import=tsx bench/memory.ts <ours|mqttjs> <port>
// Prints the bytes per connection of 16 connections that each published 100
// messages and got the peer's fence reply.

import { ours, mqttJs } from './lib';

async function main() {
  const [kind, port] = [process.argv[2], Number(process.argv[3])];
  const make = kind === 'ours' ? ours : mqttJs;
  // Warm up the module and the first connection's one-time costs.
  const warm = await make(port, `warm-${Math.random()}`);
  await warm.fence();
  await warm.close();
  global.gc?.();
  const before = process.memoryUsage().rss;
  const cs = await Promise.all(Array.from({ length: 16 }, (_, i) => make(port, `mem-${i}-${Math.random()}`)));
  for (const c of cs) await c.publishMany('bench/mem', 100, 0);
  await Promise.all(cs.map((c) => c.fence()));
  global.gc?.();
  const after = process.memoryUsage().rss;
  console.log(Math.round((after - before) / 16));
  process.exit(0);
}

main();
