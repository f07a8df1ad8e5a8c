// Holds on event delivery for this JavaScript thread (internal: used by the
// messages() iterators). While any hold is on, mqtt.ts's pull() takes no
// batch and dispatch() stops between records, so the addon's backlog fills
// and it stops reading the sockets: inbound flow control, per thread (every
// connection of the thread waits alike).

/** Read by dispatch() once per record: a property load, nothing more. */
export const hold = { count: 0 };

let wake: () => void = () => {};

/** mqtt.ts registers how delivery goes on (schedulePull). */
export function onRelease(f: () => void): void {
  wake = f;
}

/** One more hold (counted: each needs its resumeEvents()). */
export function pauseEvents(): void {
  hold.count++;
}

/** Releases one hold; delivery goes on when none is left. */
export function resumeEvents(): void {
  if (hold.count > 0 && --hold.count === 0) wake();
}

/** For MessageStream. */
export const deliveryHold = { pause: pauseEvents, resume: resumeEvents };
