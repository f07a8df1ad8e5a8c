// Small network utilities shared by the test helpers.

import net from 'node:net';
import { sleep, waitFor } from './wait';

// Kept here for the files that import it from this module.
export { sleep };

/** A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** One TCP connect to host:port: true if it was accepted (the socket is closed at once). */
export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Resolves true once a TCP connect to host:port succeeds, false after timeoutMs. */
export function waitForPort(port: number, timeoutMs = 5000, host = '127.0.0.1'): Promise<boolean> {
  return waitFor(`${host}:${port} to accept`, () => canConnect(port, host), { timeoutMs, intervalMs: 25 })
    .then(() => true, () => false);
}
