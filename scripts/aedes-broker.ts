// Starts the aedes broker in this process on a free loopback port.
//
// aedes 1.x is ESM only and is created asynchronously
// (`await Aedes.createBroker()`); on Node >= 20.19 a CommonJS file can
// require() it, which is what this file compiles to.

import net from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';

export interface AedesBroker {
  port: number;
  broker: Aedes;
  close(): Promise<void>;
}

/** Starts aedes on `port` (default: a free one) on 127.0.0.1, with `options` (hooks). */
export async function startAedes(port = 0, options: AedesOptions = {}): Promise<AedesBroker> {
  const broker = await Aedes.createBroker(options);
  const server = net.createServer(broker.handle);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as net.AddressInfo).port;

  return {
    port: bound,
    broker,
    async close() {
      // server.close() waits for open connections: end them first.
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}
