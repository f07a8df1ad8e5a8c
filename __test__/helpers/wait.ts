// Waiting, for the tests, benchmarks and scripts: one sleep and one
// wait-with-timeout. Nothing here measures time: a test never asserts a
// duration.
//
//   await sleep(100);
//   await waitFor('10 readings', () => readings.length >= 10, { detail: () => `have ${readings.length}` });
//   const frame = await waitFor('a PUBLISH', () => nextFrame(), { signal: onData, label: 'peer' });

/** Resolves after `ms` (to give something the chance to happen, never to time it). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What a check returns while the awaited thing has not happened yet. */
type NotYet = undefined | null | false;

export interface WaitOptions {
  /** Give up after this long (default 5000 ms). */
  timeoutMs?: number;
  /**
   * Check again each time one of these callbacks is called (the owner of the
   * set calls every member when something changed) instead of polling. The
   * check must then be synchronous.
   */
  signal?: Set<() => void>;
  /** Without a signal: check this often (default 20 ms). */
  intervalMs?: number;
  /** Starts the timeout message ("peer", "conn 3"). */
  label?: string;
  /** Read at the timeout and added to its message: what there was instead. */
  detail?: () => string;
}

/**
 * Resolves with the first result of `check` that is not undefined, null or
 * false. `check` runs at once, then on every signal (or every intervalMs),
 * until the deadline; then the promise rejects with
 * "<label>: timed out after <timeoutMs> ms waiting for <what>; <detail>".
 * An exception from `check` rejects at once with that exception.
 */
export function waitFor<T>(
  what: string,
  check: () => T | NotYet | Promise<T | NotYet>,
  o: WaitOptions = {},
): Promise<T> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const timedOut = () => {
    const detail = o.detail ? `; ${o.detail()}` : '';
    return new Error(`${o.label ? `${o.label}: ` : ''}timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
  };
  return o.signal
    ? onSignal(o.signal, check as () => T | NotYet, timeoutMs, timedOut)
    : polling(check, timeoutMs, o.intervalMs ?? 20, timedOut);
}

const ready = <T>(v: T | NotYet): v is T => v !== undefined && v !== null && v !== false;

function onSignal<T>(signal: Set<() => void>, check: () => T | NotYet, timeoutMs: number, timedOut: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const attempt = (): boolean => {
      let v: T | NotYet;
      try {
        v = check();
        if (v instanceof Promise) throw new TypeError(`waitFor: a check driven by a signal must be synchronous`);
      } catch (e) {
        done();
        reject(e);
        return true;
      }
      if (!ready(v)) return false;
      done();
      resolve(v);
      return true;
    };
    const wake = () => { attempt(); };
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      signal.delete(wake);
    };
    if (attempt()) return;
    timer = setTimeout(() => {
      done();
      reject(timedOut());
    }, timeoutMs);
    signal.add(wake);
  });
}

async function polling<T>(
  check: () => T | NotYet | Promise<T | NotYet>,
  timeoutMs: number,
  intervalMs: number,
  timedOut: () => Error,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (ready(v)) return v;
    const left = deadline - Date.now();
    if (left <= 0) throw timedOut();
    await sleep(Math.min(intervalMs, left));
  }
}
