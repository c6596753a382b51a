/**
 * Waiting a bounded time for what a close flushes to the server (a subscription's drain, the
 * connection's): a server that does not answer within {@link CLOSE_DRAIN_MS} is treated as
 * gone, and what it did not get is redelivered by it after `ack_wait`.
 */

/** How long a close waits for the server to confirm a drain (ms). */
export const CLOSE_DRAIN_MS = 1_000;

/**
 * Resolves true once `promise` settles (whichever way), or false after `ms`; never rejects.
 * The timer is cleared as soon as the promise settles.
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = promise.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
