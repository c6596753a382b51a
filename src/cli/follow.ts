/**
 * A read-only follower of the log: reads history from a position, then waits for appends
 * (this process's and other processes') and reads on. It creates no durable subscription
 * and writes nothing, so any number of them can watch a database.
 */
import type { Bus } from '../bus/index.js';
import type { StoredEvent } from '../store/event-store.js';

/** Options of {@link followEvents}. */
export interface FollowOptions {
  /** First position to read. */
  readonly fromSeq: number;
  /** Topic pattern (already validated). @default every topic */
  readonly topic?: string;
  /** Content filter; events it refuses are skipped. */
  readonly match?: (event: StoredEvent) => boolean;
  /** Stops following; the promise then resolves. */
  readonly signal: AbortSignal;
  /** Called in log order for every matching event; awaited before the next one. */
  readonly onEvent: (event: StoredEvent) => void | Promise<void>;
  /** Called once, after the history up to the head was read and appends are being watched. */
  readonly onReady?: (nextSeq: number) => void;
}

/**
 * A safety net, not the wake-up path: appends wake the follower at once through the
 * store's change feed; this slow check only covers file systems whose change notifications
 * get lost, and keeps the process alive while it waits.
 */
const FALLBACK_CHECK_MS = 1000;

/** Follows the log until `signal` aborts. */
export async function followEvents(bus: Bus, options: FollowOptions): Promise<void> {
  const { signal } = options;
  let next = options.fromSeq;
  let dirty = true;
  let wake: (() => void) | undefined;
  const poke = () => {
    dirty = true;
    wake?.();
  };
  // Watch before the first read, so nothing appended in between is missed.
  const stopWatching = bus.store.changes.onAppend((head) => {
    if (head >= next) poke();
  });
  const fallback = setInterval(() => {
    bus.store.head().then(
      (head) => {
        if (head >= next) poke();
      },
      () => {},
    );
  }, FALLBACK_CHECK_MS);
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort);
  try {
    let ready = false;
    while (!signal.aborted) {
      if (!dirty) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
        continue;
      }
      dirty = false;
      // Every position up to the head is committed, so reading up to it and moving past it
      // skips the events of other topics for good.
      const head = await bus.store.head();
      if (head >= next) {
        const topic = options.topic ? { topic: options.topic } : {};
        for await (const event of bus.events({ fromSeq: next, toSeq: head, ...topic })) {
          if (signal.aborted) break;
          if (!options.match || options.match(event)) await options.onEvent(event);
        }
        next = head + 1;
      }
      if (!ready) {
        ready = true;
        options.onReady?.(next);
      }
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    clearInterval(fallback);
    stopWatching();
  }
}
