// Starts a real mosquitto broker on a free loopback port for one test file.
//
//   const broker = await startMosquitto({ passwords: { alice: 'secret' } });
//   if (!broker) return t.pass('mosquitto not installed');
//   ... broker.port ...; await broker.restart(); await broker.stop();
//
// Returns null when mosquitto is not installed, unless the environment sets
// MQTT_REQUIRE_MOSQUITTO=1 (CI does): then a missing broker is an error.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canConnect, freePort } from './net';
import { run, type Run } from './run';
import { waitFor } from './wait';

export interface MosquittoOptions {
  /** user -> password; written with `mosquitto_passwd -b -c` */
  passwords?: Record<string, string>;
  /** default true */
  allowAnonymous?: boolean;
  /** more lines for mosquitto.conf */
  extraConfig?: string[];
}

export interface Mosquitto {
  port: number;
  /** directory holding mosquitto.conf, the password file and mosquitto.log */
  dir: string;
  /** the broker's log so far (useful in assertion messages) */
  log(): string;
  /** stops the broker and removes `dir`; resolves when the process has exited */
  stop(): Promise<void>;
  /**
   * stops and starts again on the same port; `signal` 'SIGKILL' makes it a
   * crash (no goodbye to the clients) instead of a clean SIGTERM shutdown
   */
  restart(signal?: NodeJS.Signals): Promise<void>;
  /**
   * stops the broker (SIGTERM, or 'SIGKILL' for a crash) and keeps its port
   * and directory, so that up() can start it again on the same port
   */
  down(signal?: NodeJS.Signals): Promise<void>;
  /** starts a broker that down() stopped, on the same port */
  up(): Promise<void>;
  /** the broker's process id (undefined while it is not running) */
  pid(): number | undefined;
}

const SEARCH_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin'];

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findExecutable(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), ...SEARCH_DIRS];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  return null;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto | null> {
  // MOSQUITTO_BIN overrides the search (a path that is not there = not installed).
  const override = process.env.MOSQUITTO_BIN;
  const bin = override ? (isExecutable(override) ? override : null) : findExecutable('mosquitto');
  if (!bin) {
    if (process.env.MQTT_REQUIRE_MOSQUITTO === '1') {
      throw new Error('mosquitto is not installed but MQTT_REQUIRE_MOSQUITTO=1');
    }
    return null;
  }

  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosquitto-test-'));
  const logFile = path.join(dir, 'mosquitto.log');
  const conf = [
    `listener ${port} 127.0.0.1`,
    `allow_anonymous ${opts.allowAnonymous ?? true}`,
    'set_tcp_nodelay true',
    'persistence false',
    `log_dest file ${logFile}`,
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
  ];
  // Started as root, mosquitto would switch to the `mosquitto` user and lose
  // access to our files; tell it to stay who it is.
  if (process.getuid?.() === 0) conf.push('user root');
  if (opts.passwords) {
    const pwFile = path.join(dir, 'passwd');
    const pwBin = findExecutable('mosquitto_passwd');
    if (!pwBin) throw new Error('mosquitto_passwd not found');
    let create = true;
    for (const [user, pass] of Object.entries(opts.passwords)) {
      const args = create ? ['-b', '-c', pwFile, user, pass] : ['-b', pwFile, user, pass];
      const r = await run(pwBin, args).exit;
      if (r.code !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr}`);
      create = false;
    }
    conf.push(`password_file ${pwFile}`);
  }
  conf.push(...(opts.extraConfig ?? []));
  const confFile = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(confFile, conf.join('\n') + '\n');

  const readLog = () => {
    try {
      return fs.readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };

  let child: Run | null = null;

  async function start(): Promise<void> {
    const proc = run(bin!, ['-c', confFile], { timeoutMs: 0 });
    child = proc;
    // Poll until the port accepts; give up early if mosquitto exited.
    try {
      await waitFor(`mosquitto to accept on port ${port}`, async () => {
        if (proc.exited) throw new Error('mosquitto exited');
        return canConnect(port);
      }, { timeoutMs: 10_000, intervalMs: 25 });
    } catch (e) {
      proc.kill('SIGKILL');
      throw new Error(`mosquitto did not come up on port ${port} (${(e as Error).message}):\n${proc.stderr()}\n${readLog()}`);
    }
  }

  async function stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = child;
    child = null;
    if (!proc || proc.exited) return;
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.kill(signal);
    await proc.exit;
    clearTimeout(timer);
  }

  await start();
  // Never leave a broker behind if the test process goes away first.
  const onExit = () => child?.kill('SIGKILL');
  process.once('exit', onExit);

  return {
    port,
    dir,
    log: readLog,
    async stop() {
      await stop();
      process.removeListener('exit', onExit);
      fs.rmSync(dir, { recursive: true, force: true });
    },
    async restart(signal?: NodeJS.Signals) {
      await stop(signal);
      await start();
    },
    down: (signal?: NodeJS.Signals) => stop(signal),
    up: () => start(),
    pid: () => child?.child.pid,
  };
}
