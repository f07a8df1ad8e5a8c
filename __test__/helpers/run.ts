// Child processes, for the tests, benchmarks and the mosquitto helper: one
// runner that collects stdout and stderr, waits for output, and kills the
// child when it runs too long.
//
//   const r = await runTs(['examples/telemetry.ts'], { env: { MQTT_URL: url } }).exit;
//   t.is(r.code, 0, r.stderr);
//
//   const app = runTs(['examples/resilient.ts'], { env });
//   t.teardown(() => app.kill());
//   await app.waitLine(/^subscribed to/);

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { waitFor } from './wait';

/** The repository root: the default working directory. */
export const ROOT = path.join(__dirname, '..', '..');

export interface RunOptions {
  /** Added to `baseEnv`. */
  env?: Record<string, string>;
  /** The environment to start from (default: this process's). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Default: the repository root. */
  cwd?: string;
  /** SIGKILL after this long (default 30 000 ms; 0: never); `timedOut` then says so. */
  timeoutMs?: number;
  /** Let the child write to this process's stderr instead of collecting it. */
  inheritStderr?: boolean;
}

export interface Exit {
  /** The exit code; null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the runner killed it for running longer than timeoutMs. */
  timedOut: boolean;
}

export interface Run {
  readonly child: ChildProcess;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  /** True once the process has ended and its output is complete. */
  readonly exited: boolean;
  /** Resolves when the process has ended and its output is complete (also when it could not start). */
  readonly exit: Promise<Exit>;
  /** Resolves with `check(stdout)` once that is truthy; rejects if the process ends first, or after timeoutMs. */
  waitOutput<T>(what: string, check: (stdout: string) => T | undefined | null | false, timeoutMs?: number): Promise<T>;
  /** Resolves with the first line of stdout that matches `re` (default timeout 10 000 ms). */
  waitLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` (default SIGKILL); nothing happens if the process has ended. */
  kill(signal?: NodeJS.Signals): void;
}

/** Starts `command args` with stdin closed and stdout and stderr collected. */
export function run(command: string, args: string[], o: RunOptions = {}): Run {
  const line = [path.basename(command), ...args].join(' ').replace(/\s+/g, ' ');
  const name = line.length > 80 ? `${line.slice(0, 77)}...` : line;
  const child = spawn(command, args, {
    cwd: o.cwd ?? ROOT,
    env: { ...(o.baseEnv ?? process.env), ...o.env },
    stdio: ['ignore', 'pipe', o.inheritStderr ? 'inherit' : 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let exited = false;
  let timedOut = false;
  const signal = new Set<() => void>();
  const notify = () => { for (const f of [...signal]) f(); };
  // Decoded as a stream: a character cut between two chunks stays whole.
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    notify();
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  // A command that cannot start ('error', then 'close') ends like one that exited.
  child.on('error', (e) => { stderr += String(e); });
  const timeoutMs = o.timeoutMs ?? 30_000;
  const killer = timeoutMs > 0
    ? setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs)
    : undefined;
  const exit = new Promise<Exit>((resolve) => {
    child.on('close', (code, sig) => {
      clearTimeout(killer);
      exited = true;
      resolve({ code, signal: sig, stdout, stderr, timedOut });
      notify();
    });
  });

  const r: Run = {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    get exited() {
      return exited;
    },
    exit,
    waitOutput(what, check, ms = 10_000) {
      return waitFor(what, () => {
        const v = check(stdout);
        if (v !== undefined && v !== null && v !== false) return v;
        if (exited) throw new Error(`${name} exited before printing ${what}:\n${stdout}\n${stderr}`);
        return undefined;
      }, { signal, timeoutMs: ms, label: name, detail: () => `stdout:\n${stdout}\nstderr:\n${stderr}` });
    },
    waitLine(re, ms = 10_000) {
      return r.waitOutput(`a line matching ${re}`, (out) => {
        const lines = out.split('\n');
        if (!exited) lines.pop(); // not a whole line yet
        return lines.find((l) => re.test(l));
      }, ms);
    },
    kill(sig: NodeJS.Signals = 'SIGKILL') {
      if (!exited) child.kill(sig);
    },
  };
  return r;
}

/** `node --import=tsx ...args`: a TypeScript file (or `-e` code) in a child Node process. */
export function runTs(args: string[], o: RunOptions = {}): Run {
  return run(process.execPath, ['--import=tsx', ...args], o);
}
