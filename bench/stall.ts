// JS-thread stall of API calls while another connection takes a flood.
//
//   node --import=tsx bench/stall.ts [--json out.json] [--runs 3] [--variants idle,64B/count,...]
//   npm run bench:stall            (builds the addon and bench-peer first)
//
// Every run is a fresh child process (this file with --child) and a fresh
// bench-peer process (crates/bench-peer, Rust), so the flood is written by a
// process that does not share the measured JS thread's event loop. In the
// child:
//   - connection R subscribes to `bench/flood/<payload>/<ms>/<max bytes>`;
//     the peer answers with QoS 0 PUBLISHes as fast as the socket takes
//     them, for STALL_SECONDS or STALL_MAX_BYTES, whichever comes first.
//     R's message handler counts (`count`) or busy-waits 1 ms a message
//     (`busy1ms`, a handler slower than the flood; it stops waiting once the
//     measurement window is over, so the run can end);
//   - every ~1 ms (a setTimeout(1) loop) the JS thread times one
//     `publish(P, 64 B, QoS 0)` on a second connection P (same peer, which
//     reads and discards) and one `state(R)` with process.hrtime.bigint(),
//     and notes the gap between loop turns.
// The window is the flood plus STALL_TAIL_SECONDS; it ends at the first loop
// turn after it, so a stall that straddles its end counts in full. The
// `idle` variant is the same without a flood (the baseline).
//
// This parent samples the child's RSS from /proc every 250 ms and kills the
// child (and the peer) when the RSS passes a limit or the run passes a hard
// deadline, so a run always ends by itself. A killed run is reported with
// what its last heartbeat said (the longest gap is then at least the time
// since that heartbeat).
//
// Environment (all optional):
//   STALL_JSON           where to write the JSON results (or --json)
//   STALL_RUNS           runs per variant, default 3 (or --runs)
//   STALL_VARIANTS       comma-separated subset (or --variants)
//   STALL_SECONDS        flood duration cap, default 5
//   STALL_MAX_BYTES      flood size cap in bytes, default 2 GiB
//   STALL_TAIL_SECONDS   window past the flood, default 1
//   STALL_HARD_SECONDS   a run is killed this long after its window ends, default 60
//   STALL_RSS_LIMIT_MB   a child above this RSS is killed, default 8192
//                        (lowered to MemAvailable - 3 GiB when that is less)
//   BENCH_PEER           path of the bench-peer binary (default:
//                        $CARGO_TARGET_DIR or ./target, then release/bench-peer)

import { spawn, fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

// ---- configuration ---------------------------------------------------------

interface Variant {
  name: string;
  /** payload bytes of the flood; 0: no flood */
  payload: number;
  busyMs: number;
  /** flooded connections (R and its siblings); 1 when absent */
  flooded?: number;
}

const VARIANTS: Variant[] = [
  { name: 'idle', payload: 0, busyMs: 0 },
  { name: '64B/count', payload: 64, busyMs: 0 },
  { name: '64B/busy1ms', payload: 64, busyMs: 1 },
  { name: '16KiB/count', payload: 16 << 10, busyMs: 0 },
  { name: '16KiB/busy1ms', payload: 16 << 10, busyMs: 1 },
  // Every other connection the process may have (16 in all, with P) flooded at once.
  { name: '15x64B/count', payload: 64, busyMs: 0, flooded: 15 },
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const num = (v: string | undefined, d: number): number => (v === undefined || v === '' ? d : Number(v));

/** What one child run is told. */
interface RunSpec {
  variant: Variant;
  port: number;
  floodMs: number;
  maxBytes: number;
  tailMs: number;
  warmupMs: number;
}

/** Per-call latency summary (nanoseconds). */
interface Dist {
  n: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** What the child reports (heartbeats carry the partial form). */
interface ChildResult {
  publish: Dist;
  /** publish calls that returned -1 (backpressure) */
  publishRefused: number;
  state: Dist;
  /** longest gap between the starts of two loop turns (ns) */
  maxGap: number;
  /** longest gap from the end of a turn's calls to the next turn (ns): the
   * loop busy elsewhere (event dispatch), not in the timed calls */
  maxGapOutside: number;
  /** loop turns in the window */
  turns: number;
  /** window length actually measured (ns) */
  windowNs: number;
  /** messages that had reached R's handler when the window's last turn ran */
  recvInWindow: number;
  recvTotal: number;
  /** states seen for R (a flood should not change it) */
  states: Record<string, number>;
}

interface Heartbeat {
  kind: 'heartbeat';
  at: string; // hrtime bigint as a string (CLOCK_MONOTONIC, comparable across processes)
  publishMax: number;
  stateMax: number;
  maxGap: number;
  turns: number;
  recv: number;
}

/** One run as the parent records it. */
interface RunRecord {
  variant: string;
  run: number;
  /** how it ended: 'ok', or why the parent killed the child or it died */
  outcome: string;
  result: ChildResult | null;
  lastHeartbeat: Omit<Heartbeat, 'kind' | 'at'> | null;
  /** ms from the last heartbeat to the kill (a lower bound on the stall) */
  silentMsAtKill: number | null;
  rssMaxMB: number;
  rssFinalMB: number;
  /** the peer's own count of the flood */
  flood: { msgs: number; bytes: number; ms: number; torn: boolean } | null;
  childExit: string;
  durationMs: number;
  /** 1-minute load average when the run started (other work on the machine) */
  loadAtStart: number;
}

// ---- child: the measured process -------------------------------------------

function dist(xs: Float64Array, n: number): Dist {
  if (n === 0) return { n: 0, p50: NaN, p99: NaN, p999: NaN, max: NaN };
  const s = xs.slice(0, n).sort();
  const at = (p: number) => s[Math.min(n - 1, Math.floor(p * n))];
  return { n, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: s[n - 1] };
}

async function child(spec: RunSpec): Promise<void> {
  // Loaded here so the parent never starts the addon's I/O thread.
  const { default: mqtt } = await import('mqtt-rs-client');
  const send = (m: unknown) => process.send!(m);
  const host = '127.0.0.1';

  const Rs = Array.from({ length: spec.variant.flooded ?? 1 }, (_, i) => mqtt.open(host, spec.port, `stall-r${i}-${process.pid}`));
  const R = Rs[0];
  const P = mqtt.open(host, spec.port, `stall-p-${process.pid}`);
  if (Rs.some((r) => r < 0) || P < 0) throw new Error(`open: ${mqtt.lastError()}`);
  await Promise.all(
    [...Rs, P].map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`connection ${c} not connected in 5 s`)), 5000);
          mqtt.on(c, 'connected', () => {
            clearTimeout(t);
            resolve();
          });
          mqtt.on(c, 'disconnected', (e) => reject(new Error(`connection ${c}: ${e.reason}`)));
        }),
    ),
  );

  let recv = 0;
  let windowEnd = 0n; // set when the window starts
  const busyNs = BigInt(Math.round(spec.variant.busyMs * 1e6));
  for (const r of Rs) mqtt.on(r, 'message', () => {
    recv++;
    if (busyNs > 0n) {
      const t = process.hrtime.bigint();
      if (windowEnd === 0n || t < windowEnd) {
        while (process.hrtime.bigint() - t < busyNs) {
          // a handler slower than the flood
        }
      }
    }
  });

  const payload = Buffer.alloc(64, 'p');
  const topic = 'bench/stall/p';
  const CAP = 1 << 20;
  const pubNs = new Float64Array(CAP);
  const stateNs = new Float64Array(CAP);
  let n = 0;
  let refused = 0;
  let maxGap = 0;
  let maxGapOutside = 0;
  let lastEnd = 0n;
  let pubMax = 0;
  let stateMax = 0;
  const states: Record<string, number> = {};

  // One turn: time one publish and one state(); the loop goes on with setTimeout(1).
  const turn = (record: boolean): void => {
    const t0 = process.hrtime.bigint();
    const r = mqtt.publish(P, topic, payload, 0);
    const t1 = process.hrtime.bigint();
    const s = mqtt.state(R);
    const t2 = process.hrtime.bigint();
    if (!record || n >= CAP) return;
    if (r !== 0) refused++;
    const a = Number(t1 - t0);
    const b = Number(t2 - t1);
    pubNs[n] = a;
    stateNs[n] = b;
    n++;
    if (a > pubMax) pubMax = a;
    if (b > stateMax) stateMax = b;
    states[s] = (states[s] ?? 0) + 1;
  };

  // Warm-up (not recorded): the same loop without a flood.
  const warmEnd = process.hrtime.bigint() + BigInt(spec.warmupMs) * 1_000_000n;
  await new Promise<void>((resolve) => {
    const loop = () => {
      turn(false);
      if (process.hrtime.bigint() >= warmEnd) resolve();
      else setTimeout(loop, 1);
    };
    loop();
  });

  const windowStart = process.hrtime.bigint();
  windowEnd = windowStart + BigInt(spec.floodMs + spec.tailMs) * 1_000_000n;
  if (spec.variant.payload > 0) {
    for (const r of Rs) mqtt.subscribe(r, `bench/flood/${spec.variant.payload}/${spec.floodMs}/${spec.maxBytes}`, 0);
  }
  let last = windowStart;
  let lastBeat = windowStart;
  const heartbeat = (now: bigint) => {
    lastBeat = now;
    send({ kind: 'heartbeat', at: now.toString(), publishMax: pubMax, stateMax, maxGap, turns: n, recv } satisfies Heartbeat);
  };
  heartbeat(windowStart);
  const windowNs = await new Promise<bigint>((resolve) => {
    const loop = () => {
      const now = process.hrtime.bigint();
      const gap = Number(now - last);
      if (gap > maxGap) maxGap = gap;
      if (lastEnd !== 0n && Number(now - lastEnd) > maxGapOutside) maxGapOutside = Number(now - lastEnd);
      last = now;
      if (now - lastBeat >= 100_000_000n) heartbeat(now);
      if (now >= windowEnd) return resolve(now - windowStart);
      turn(true);
      lastEnd = process.hrtime.bigint();
      setTimeout(loop, 1);
    };
    loop();
  });
  const recvInWindow = recv;
  // Messages still on their way are not waited for: the parent kills the
  // peer once this result arrives.
  const result: ChildResult = {
    publish: dist(pubNs, n),
    publishRefused: refused,
    state: dist(stateNs, n),
    maxGap,
    maxGapOutside,
    turns: n,
    windowNs: Number(windowNs),
    recvInWindow,
    recvTotal: recv,
    states,
  };
  // No graceful disconnect: the peer is killed and this process exits.
  process.send!({ kind: 'result', result }, () => process.exit(0));
}

// ---- parent: runs, limits, table, JSON ------------------------------------

function peerBinary(): string {
  if (process.env.BENCH_PEER) return process.env.BENCH_PEER;
  const target = process.env.CARGO_TARGET_DIR ?? path.join(__dirname, '..', 'target');
  return path.join(path.resolve(target), 'release', 'bench-peer');
}

interface PeerProc {
  port: number;
  proc: ChildProcess;
  /** the `flood ...` line, once printed */
  flood: RunRecord['flood'];
}

async function startPeerProc(bin: string): Promise<PeerProc> {
  if (!fs.existsSync(bin)) {
    throw new Error(`bench-peer not found at ${bin}: cargo build --release -p bench-peer (or set BENCH_PEER / CARGO_TARGET_DIR)`);
  }
  const proc = spawn(bin, ['0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const peer: PeerProc = { port: 0, proc, flood: null };
  const lines = readline.createInterface({ input: proc.stdout! });
  peer.port = await new Promise<number>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`bench-peer exited (${code}) before listening`)));
    lines.on('line', (line) => {
      const port = /^port (\d+)/.exec(line);
      if (port) return resolve(Number(port[1]));
      const m = /^flood msgs=(\d+) bytes=(\d+) ms=(\d+) torn=(\d)/.exec(line);
      if (m) peer.flood = { msgs: Number(m[1]), bytes: Number(m[2]), ms: Number(m[3]), torn: m[4] === '1' };
    });
  });
  return peer;
}

/** Resident set size of a process in bytes (0 once it is gone). */
function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function memAvailable(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) * 1024 : os.freemem();
  } catch {
    return os.freemem();
  }
}

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => p.once('exit', () => resolve()));
}

async function stop(p: ChildProcess, graceMs: number): Promise<void> {
  const gone = exited(p);
  const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(t);
}

const MB = 1 << 20;

async function oneRun(v: Variant, runIndex: number, cfg: Config): Promise<RunRecord> {
  const t0 = Date.now();
  const peer = await startPeerProc(cfg.peerBin);
  const spec: RunSpec = {
    variant: v,
    port: peer.port,
    floodMs: cfg.floodMs,
    maxBytes: cfg.maxBytes,
    tailMs: cfg.tailMs,
    warmupMs: 500,
  };
  const proc = fork(__filename, ['--child', JSON.stringify(spec)], {
    execArgv: ['--import=tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const rssLimit = Math.min(cfg.rssLimit, Math.max(1 << 30, memAvailable() - 3 * (1 << 30)));
  const rec: RunRecord = {
    variant: v.name,
    run: runIndex,
    outcome: 'ok',
    result: null,
    lastHeartbeat: null,
    silentMsAtKill: null,
    rssMaxMB: 0,
    rssFinalMB: 0,
    flood: null,
    childExit: '',
    durationMs: 0,
    loadAtStart: os.loadavg()[0],
  };
  let lastBeatAt: bigint | null = null;
  let rssMax = 0;
  let rssLast = 0;
  const startupDeadline = Date.now() + 15_000;
  let hardDeadline = Infinity;
  let killed = false;

  const done = new Promise<void>((resolve) => {
    const kill = (why: string) => {
      if (killed) return;
      killed = true;
      rec.outcome = why;
      if (lastBeatAt !== null) rec.silentMsAtKill = Number(process.hrtime.bigint() - lastBeatAt) / 1e6;
      proc.kill('SIGKILL');
      peer.proc.kill('SIGKILL');
    };
    const sample = () => {
      const r = rssOf(proc.pid!);
      if (r > 0) rssLast = r;
      if (r > rssMax) rssMax = r;
      if (r > rssLimit) kill(`killed: RSS ${(r / MB).toFixed(0)} MB > limit ${(rssLimit / MB).toFixed(0)} MB`);
      else if (Date.now() > hardDeadline) kill(`killed: still running ${cfg.hardMs / 1000} s after its window`);
      else if (hardDeadline === Infinity && Date.now() > startupDeadline) kill('killed: no heartbeat 15 s after start');
    };
    const timer = setInterval(sample, 250);
    sample();
    proc.on('message', (m: { kind: string; result?: ChildResult } & Partial<Heartbeat>) => {
      if (m.kind === 'heartbeat') {
        lastBeatAt = BigInt(m.at!);
        const { kind: _k, at: _a, ...beat } = m as Heartbeat;
        rec.lastHeartbeat = beat;
        if (hardDeadline === Infinity) hardDeadline = Date.now() + cfg.floodMs + cfg.tailMs + cfg.hardMs;
      } else if (m.kind === 'result') {
        rec.result = m.result!;
        // Final RSS: at the end of the measurement.
        const r = rssOf(proc.pid!);
        if (r > 0) rssLast = r;
        rssMax = Math.max(rssMax, r);
        rec.rssFinalMB = r / MB;
        peer.proc.kill('SIGKILL');
        // It exits once the result is sent, unless its thread is stuck.
        setTimeout(() => {
          if (proc.exitCode === null && proc.signalCode === null) {
            killed = true;
            rec.childExit = 'SIGKILL: did not exit within 10 s of its result';
            proc.kill('SIGKILL');
          }
        }, 10_000).unref();
      }
    });
    proc.once('exit', (code, signal) => {
      clearInterval(timer);
      if (rec.childExit === '') rec.childExit = signal ? `signal ${signal}` : `code ${code}`;
      if (!killed && rec.result === null) rec.outcome = `child died (${rec.childExit}) without a result`;
      resolve();
    });
  });
  // The child exits shortly after its result; make sure of it.
  await done;
  peer.proc.kill('SIGKILL');
  await stop(peer.proc, 2000);
  rec.flood = peer.flood;
  rec.rssMaxMB = rssMax / MB;
  if (rec.result === null) rec.rssFinalMB = rssLast / MB;
  rec.durationMs = Date.now() - t0;
  return rec;
}

interface Config {
  runs: number;
  variants: Variant[];
  floodMs: number;
  maxBytes: number;
  tailMs: number;
  hardMs: number;
  rssLimit: number;
  peerBin: string;
  json: string | undefined;
}

// ---- report ------------------------------------------------------------------

/** ns as µs / ms / s, whichever reads best. */
function dur(ns: number | undefined, lowerBound = false): string {
  if (ns === undefined || Number.isNaN(ns)) return '-';
  const pre = lowerBound ? '>=' : '';
  if (ns < 1e3) return `${pre}${(ns / 1e3).toFixed(2)}µs`;
  if (ns < 1e6) return `${pre}${(ns / 1e3).toFixed(ns < 1e5 ? 1 : 0)}µs`;
  if (ns < 1e9) return `${pre}${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)}ms`;
  return `${pre}${(ns / 1e9).toFixed(2)}s`;
}

function medianOf(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  // Of an even count, the upper middle (the worse one): 3 runs have one middle.
  return s[Math.floor(s.length / 2)];
}

const maxOf = (xs: number[]): number => {
  const s = xs.filter((x) => !Number.isNaN(x));
  return s.length ? Math.max(...s) : NaN;
};

/** The numbers of one run that the tables show (NaN: unknown). */
interface Row {
  pubP50: number;
  pubP99: number;
  pubP999: number;
  pubMax: number;
  stP50: number;
  stP99: number;
  stP999: number;
  stMax: number;
  gap: number;
  /** the gap is only a lower bound (killed run) */
  gapLower: boolean;
  gapOutside: number;
  turns: number;
  rssMax: number;
  rssFinal: number;
  recvWin: number;
  sent: number;
}

function rowOf(r: RunRecord): Row {
  const x = r.result;
  const hb = r.lastHeartbeat !== null && r.lastHeartbeat.turns > 0 ? r.lastHeartbeat : null;
  const lowerGap = x === null && r.silentMsAtKill !== null ? r.silentMsAtKill * 1e6 : NaN;
  return {
    pubP50: x?.publish.p50 ?? NaN,
    pubP99: x?.publish.p99 ?? NaN,
    pubP999: x?.publish.p999 ?? NaN,
    pubMax: x?.publish.max ?? hb?.publishMax ?? NaN,
    stP50: x?.state.p50 ?? NaN,
    stP99: x?.state.p99 ?? NaN,
    stP999: x?.state.p999 ?? NaN,
    stMax: x?.state.max ?? hb?.stateMax ?? NaN,
    gap: x?.maxGap ?? Math.max(r.lastHeartbeat?.maxGap ?? 0, Number.isNaN(lowerGap) ? 0 : lowerGap),
    gapLower: x === null,
    gapOutside: x?.maxGapOutside ?? NaN,
    turns: x?.turns ?? hb?.turns ?? NaN,
    rssMax: r.rssMaxMB,
    rssFinal: r.rssFinalMB,
    recvWin: x?.recvInWindow ?? hb?.recv ?? NaN,
    sent: r.flood?.msgs ?? NaN,
  };
}

const COLS: [string, number][] = [
  ['variant', 14],
  ['pub p50', 9],
  ['pub p99', 9],
  ['pub p99.9', 9],
  ['pub max', 9],
  ['state p50', 9],
  ['state p99', 9],
  ['st p99.9', 9],
  ['state max', 9],
  ['loop gap', 10],
  ['excl calls', 10],
  ['turns', 6],
  ['RSS max', 8],
  ['RSS end', 8],
  ['recv/sent', 17],
];

function line(cells: string[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(COLS[i][1]) : c.padStart(COLS[i][1]))).join(' ');
}

function fmtRow(name: string, r: Row): string {
  const mb = (x: number) => (Number.isNaN(x) ? '-' : `${x.toFixed(0)}M`);
  const count = (x: number) => (Number.isNaN(x) ? '?' : x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e4 ? `${(x / 1e3).toFixed(0)}k` : `${x}`);
  return line([
    name,
    dur(r.pubP50),
    dur(r.pubP99),
    dur(r.pubP999),
    dur(r.pubMax),
    dur(r.stP50),
    dur(r.stP99),
    dur(r.stP999),
    dur(r.stMax),
    dur(r.gap, r.gapLower),
    dur(r.gapOutside),
    Number.isNaN(r.turns) ? '-' : String(r.turns),
    mb(r.rssMax),
    mb(r.rssFinal),
    Number.isNaN(r.sent) ? count(r.recvWin) : `${count(r.recvWin)}/${count(r.sent)}`,
  ]);
}

function aggregate(rows: Row[], pick: (xs: number[]) => number, worstRecv: boolean): Row {
  const f = (k: keyof Row) => pick(rows.map((r) => r[k] as number));
  const out = {} as Row;
  for (const k of Object.keys(rows[0]) as (keyof Row)[]) {
    if (k !== 'gapLower') (out[k] as number) = f(k);
  }
  // The worst of loop turns is the fewest; recv/sent comes from the run
  // that delivered the smallest share.
  if (worstRecv) {
    out.turns = Math.min(...rows.map((r) => r.turns).filter((x) => !Number.isNaN(x)));
    const share = (r: Row) => (Number.isNaN(r.sent) || r.sent === 0 ? 1 : r.recvWin / r.sent);
    const w = rows.filter((r) => !Number.isNaN(r.recvWin)).sort((a, b) => share(a) - share(b))[0];
    out.recvWin = w?.recvWin ?? NaN;
    out.sent = w?.sent ?? NaN;
  }
  out.gapLower = rows.some((r) => r.gapLower && r.gap === out.gap);
  return out;
}

function printTables(cfg: Config, records: RunRecord[]): void {
  const header = () => {
    console.log(line(COLS.map(([c]) => c)));
    console.log(line(COLS.map(([, w]) => '-'.repeat(w))));
  };
  console.log('\nPer run:');
  header();
  for (const r of records) console.log(fmtRow(`${r.variant}#${r.run}`, rowOf(r)) + (r.outcome === 'ok' ? '' : `  [${r.outcome}]`));
  for (const [title, pick, worst] of [
    [`Median of ${cfg.runs} runs:`, medianOf, false],
    [`Worst of ${cfg.runs} runs:`, maxOf, true],
  ] as const) {
    console.log(`\n${title}`);
    header();
    for (const v of cfg.variants) {
      const rs = records.filter((r) => r.variant === v.name);
      if (rs.length === 0) continue;
      const bad = rs.filter((r) => r.outcome !== 'ok').length;
      console.log(fmtRow(v.name, aggregate(rs.map(rowOf), pick, worst)) + (bad ? `  [${bad} of ${rs.length} runs killed/died]` : ''));
    }
  }
  console.log(
    '\npub/state: one publish(P, 64 B, QoS 0) and one state(R) per loop turn, timed with process.hrtime.bigint().' +
      '\nloop gap: longest time between the starts of two turns of the ~1 ms setTimeout loop (">=": killed run, time since its' +
      '\nlast heartbeat); excl calls: the same without the timed calls (the loop busy elsewhere, e.g. dispatching a batch).' +
      '\nturns: loop turns in the window (a free loop makes ~1 per ms); the percentiles rest on that many samples.' +
      '\nRSS of the measuring process, sampled every 250 ms from /proc: max over the run, and at the end of the window.' +
      '\nrecv/sent: messages R\'s handler had seen when the last turn of the window ran / messages the peer wrote' +
      '\n(worst: the run with the smallest share).',
  );
}

async function parent(): Promise<void> {
  const only = (arg('variants') ?? process.env.STALL_VARIANTS)?.split(',').map((s) => s.trim());
  const cfg: Config = {
    runs: num(arg('runs') ?? process.env.STALL_RUNS, 3),
    variants: only ? VARIANTS.filter((v) => only.includes(v.name)) : VARIANTS,
    floodMs: Math.round(num(process.env.STALL_SECONDS, 5) * 1000),
    maxBytes: num(process.env.STALL_MAX_BYTES, 2 * 1024 ** 3),
    tailMs: Math.round(num(process.env.STALL_TAIL_SECONDS, 1) * 1000),
    hardMs: Math.round(num(process.env.STALL_HARD_SECONDS, 60) * 1000),
    rssLimit: num(process.env.STALL_RSS_LIMIT_MB, 8192) * MB,
    peerBin: peerBinary(),
    json: arg('json') ?? process.env.STALL_JSON,
  };
  if (only && cfg.variants.length !== only.length) {
    throw new Error(`unknown variant in ${only.join(',')}: known are ${VARIANTS.map((v) => v.name).join(', ')}`);
  }
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const machine = `${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), ${(os.totalmem() / 1024 ** 3).toFixed(0)} GB RAM, load average at start ${load}`;
  console.log(`stall bench: ${cfg.runs} runs per variant; flood ${cfg.floodMs / 1000} s or ${(cfg.maxBytes / MB).toFixed(0)} MiB, window = flood + ${cfg.tailMs / 1000} s`);
  console.log(`machine: ${machine}; node ${process.version}; peer ${cfg.peerBin}`);
  const records: RunRecord[] = [];
  // Interleave the variants so slow drift on a shared machine spreads over all of them.
  for (let run = 1; run <= cfg.runs; run++) {
    for (const v of cfg.variants) {
      const rec = await oneRun(v, run, cfg);
      records.push(rec);
      console.log(`  ${`${v.name}#${run}`.padEnd(18)} ${rec.outcome}, ${(rec.durationMs / 1000).toFixed(1)} s, load ${rec.loadAtStart.toFixed(1)}, child ${rec.childExit}` +
        (rec.flood ? `, flood ${rec.flood.msgs} msgs ${(rec.flood.bytes / MB).toFixed(0)} MiB in ${rec.flood.ms} ms${rec.flood.torn ? ' (torn)' : ''}` : ''));
    }
  }
  printTables(cfg, records);
  if (cfg.json) {
    const out = {
      bench: 'stall',
      date: new Date().toISOString(),
      commit: gitHead(),
      machine,
      loadAverageEnd: os.loadavg(),
      node: process.version,
      config: { ...cfg, variants: cfg.variants, peerBin: undefined, json: undefined },
      units: 'latencies and gaps in ns, RSS in MiB',
      runs: records,
      median: Object.fromEntries(cfg.variants.map((v) => [v.name, aggregate(records.filter((r) => r.variant === v.name).map(rowOf), medianOf, false)])),
      worst: Object.fromEntries(cfg.variants.map((v) => [v.name, aggregate(records.filter((r) => r.variant === v.name).map(rowOf), maxOf, true)])),
    };
    fs.writeFileSync(cfg.json, JSON.stringify(out, null, 2) + '\n');
    console.log(`\nJSON: ${cfg.json}`);
  }
}

function gitHead(): string | null {
  try {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: __dirname, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

if (process.argv[2] === '--child') {
  child(JSON.parse(process.argv[3]) as RunSpec).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  parent().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
