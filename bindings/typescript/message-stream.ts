// A bounded async iterator over pushed items, with inbound flow control:
// when the consumer falls behind by `highWaterMark` items, event delivery
// is held (delivery-hold.ts), so the addon stops reading the sockets once its
// own backlog bound is reached; when the consumer has taken the queue down
// to half the mark, delivery resumes. Nothing is dropped, and what waits
// in memory is at most the mark plus the addon's bounded backlog.
// The hold is passed in (delivery-hold.ts), so this module imports nothing.

/** Holds and releases event delivery (counted). */
export interface Hold {
  pause(): void;
  resume(): void;
}

export class MessageStream<T> implements AsyncIterableIterator<T> {
  private items: T[] = [];
  private head = 0;
  private readers: ((r: IteratorResult<T>) => void)[] = [];
  private holding = false;
  private ended = false;

  /** `onClose` runs once, when the stream ends (by end(), return() or break). */
  constructor(private readonly highWaterMark: number, private readonly hold: Hold, private readonly onClose: () => void) {}

  /** Items queued and not yet taken by the consumer. */
  get queued(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.ended) return;
    const reader = this.readers.shift();
    if (reader !== undefined) {
      reader({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (!this.holding && this.queued >= this.highWaterMark) {
      this.holding = true;
      this.hold.pause();
    }
  }

  /** No more items: the consumer gets what is queued, then the end. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.release();
    for (const reader of this.readers.splice(0)) reader({ value: undefined, done: true });
    this.onClose();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queued > 0) {
      const value = this.items[this.head];
      (this.items as (T | undefined)[])[this.head] = undefined; // let it go now
      this.head++;
      if (this.head >= 1024 && this.head * 2 >= this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      if (this.holding && this.queued <= this.highWaterMark >> 1) this.release();
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.readers.push(resolve));
  }

  /** `break` out of the loop: the stream ends and drops what was queued. */
  return(): Promise<IteratorResult<T>> {
    this.items = [];
    this.head = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private release(): void {
    if (this.holding) {
      this.holding = false;
      this.hold.resume();
    }
  }
}

/** Does the topic name match the MQTT filter (`+` one level, `#` the rest)? */
export function topicMatches(filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1] wildcards at the first level do not match `$` topics.
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Why `filter` is not a valid MQTT topic filter, or null. */
export function badFilter(filter: string): string | null {
  if (filter.length === 0) return 'a topic filter must not be empty';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return `"#" must be a whole last level in "${filter}"`;
    if (l.includes('+') && l !== '+') return `"+" must be a whole level in "${filter}"`;
  }
  return null;
}
