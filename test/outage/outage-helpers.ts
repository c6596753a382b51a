/**
 * Helpers of the outage suite: publishers whose every call is accounted for (resolved,
 * rejected with which error, or hung), and waiting on conditions rather than sleeping.
 * Errors nobody handled are recorded by `../support/process-errors.ts`.
 */
import { isAgentbusError } from '../../src/errors.js';

/** What happened to the publishes of a run. */
export interface PublishOutcomes {
  /** Keys (payload indexes) of events whose publish resolved, in the order they resolved. */
  readonly resolved: number[];
  /** Publishes that rejected, with the keys of the events they carried. */
  readonly rejected: Array<{ readonly keys: readonly number[]; readonly error: unknown }>;
  /** Publishes that neither resolved nor rejected within the watchdog's time. */
  readonly hung: Array<{ readonly keys: readonly number[] }>;
}

/**
 * Publish calls watched: each resolves, rejects, or is counted as hung after `hangMs` (it is
 * still followed: a late answer is recorded as it comes).
 */
export class PublishLedger implements PublishOutcomes {
  readonly resolved: number[] = [];
  readonly rejected: Array<{ readonly keys: readonly number[]; readonly error: unknown }> = [];
  readonly hung: Array<{ readonly keys: readonly number[] }> = [];
  #inFlight = 0;

  constructor(private readonly hangMs: number) {}

  /** Publishes in flight right now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Runs `publish` (which publishes the events of `keys`), recording its outcome; never rejects. */
  async track(keys: readonly number[], publish: () => Promise<unknown>): Promise<void> {
    this.#inFlight++;
    let timer: NodeJS.Timeout | undefined;
    let hung = false;
    const watchdog = new Promise<'hung'>((resolve) => {
      timer = setTimeout(() => resolve('hung'), this.hangMs);
    });
    const call = publish().then(
      () => 'resolved' as const,
      (error: unknown) => ({ error }),
    );
    try {
      const first = await Promise.race([call, watchdog]);
      if (first === 'hung') {
        hung = true;
        this.hung.push({ keys });
      }
      const outcome = await call;
      if (outcome === 'resolved') this.resolved.push(...keys);
      else this.rejected.push({ keys, error: outcome.error });
    } finally {
      clearTimeout(timer);
      if (!hung) this.#inFlight--;
    }
  }

  /** Rejections that are not an `AgentbusError` with one of `codes` and a message, as text. */
  unclearRejections(codes: readonly string[]): string[] {
    return this.rejected
      .filter(({ error }) => !(isAgentbusError(error) && codes.includes(error.code) && error.message.length > 0))
      .map(({ error }) => String((error as Error)?.stack ?? error));
  }

  /** Rejection messages grouped, for the log line. */
  rejectionSummary(): string {
    const counts = new Map<string, number>();
    for (const { error } of this.rejected) {
      const code = isAgentbusError(error) ? error.code : 'not-AgentbusError';
      const message = (error as Error)?.message?.replace(/evt-[\w-]+/g, 'evt-…').slice(0, 140) ?? String(error);
      const key = `${code}: ${message}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].map(([key, n]) => `${n}x ${key}`).join('; ');
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 25 ms; throws naming `what` after `ms`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string | (() => string | Promise<string>),
  ms = 60_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : await what()}`);
    }
    await sleep(25);
  }
}

/** Resolves with `promise`'s value, or rejects naming `what` after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** How often each value occurs in `values`. */
export function tally<T>(values: Iterable<T>): Map<T, number> {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}
