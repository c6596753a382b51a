/**
 * A read-only follower of the log: reads history from a position, then waits for appends
 * (this process's and other processes') and reads on. It creates no durable subscription
 * and writes nothing, so any number of them can watch a database.
 */
import type { Bus } from './bus.js';
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
 * The store's change feed wakes the follower (this process's appends at once, other
 * processes' through file-system notification, backed by the store's own data_version
 * safety check). Nothing in it keeps the process alive, so the follower holds a handle that
 * does while it waits.
 */
const KEEP_ALIVE_MS = 2 ** 30;

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
  const keepAlive = setInterval(() => {}, KEEP_ALIVE_MS);
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
    clearInterval(keepAlive);
    stopWatching();
  }
}
