/**
 * A limit on failed sign-ins per client address: bearer tokens, dashboard cookies and the
 * sign-in form all count. A client with `maxFailures` failures within `windowMs` (a sliding
 * window) is locked out for `lockoutMs`: every request of it that carries a token is refused
 * with 429 before the token is checked, so guessing cannot go on behind the lockout. Other
 * addresses are never affected, and a valid token does not clear the count (a low-privilege
 * token would otherwise buy an attacker fresh guesses at the admin token).
 *
 * Bounded: each tracked client holds at most `maxFailures` times, at most `maxClients`
 * clients are tracked (the least recently failing is forgotten first), and no timer runs per
 * client: expiry is decided when a client is next seen. Pure: the clock is injected.
 */
import { parseIp } from '../routing/cidr.js';
import type { Clock } from '../time.js';

/** Options of {@link createSignInLimiter}. */
export interface SignInLimitOptions {
  /** False turns the limit off. @default true */
  readonly enabled?: boolean;
  /** Failures within `windowMs` that lock a client out. @default 10 */
  readonly maxFailures?: number;
  /** The sliding window failures are counted in, ms. @default 60000 (1 minute) */
  readonly windowMs?: number;
  /** How long a locked-out client is refused, ms. @default 300000 (5 minutes) */
  readonly lockoutMs?: number;
  /** Most clients tracked at once; the least recently failing is forgotten first. @default 10000 */
  readonly maxClients?: number;
}

/** Defaults of {@link SignInLimitOptions}. */
export const DEFAULT_SIGN_IN_LIMIT = {
  enabled: true,
  maxFailures: 10,
  windowMs: 60_000,
  lockoutMs: 300_000,
  maxClients: 10_000,
} as const;

/** Failed sign-ins per client. */
export interface SignInLimiter {
  /** The options in force, defaults filled in. */
  readonly options: Required<SignInLimitOptions>;
  /** Ms until `client` may try again: 0 unless it is locked out. */
  retryAfterMs(client: string): number;
  /** Records a failed attempt of `client`; returns the lockout it started in ms, else 0. */
  failed(client: string): number;
  /** Clients tracked now (at most `maxClients`). */
  readonly size: number;
}

interface Entry {
  /** Times of the failures still inside the window, oldest first (at most `maxFailures`). */
  failures: number[];
  lockedUntil: number;
}

/**
 * Builds a limiter over `clock`.
 * @example
 * const limiter = createSignInLimiter({ maxFailures: 5 }, { now: () => Date.now() })
 * if (limiter.retryAfterMs(clientKey(address)) > 0) refuse()
 */
export function createSignInLimiter(options: SignInLimitOptions, clock: Clock): SignInLimiter {
  const o: Required<SignInLimitOptions> = { ...DEFAULT_SIGN_IN_LIMIT, ...options };
  const clients = new Map<string, Entry>();

  const retryAfterMs = (client: string): number => {
    if (!o.enabled) return 0;
    const entry = clients.get(client);
    if (entry === undefined) return 0;
    const now = clock.now();
    if (entry.lockedUntil > now) return entry.lockedUntil - now;
    return 0;
  };

  return {
    options: o,
    retryAfterMs,
    failed(client) {
      if (!o.enabled) return 0;
      const now = clock.now();
      const entry = clients.get(client) ?? { failures: [], lockedUntil: 0 };
      // Most recently failing last: Map order is insertion order, so the first key is the
      // one to forget when the map is full.
      clients.delete(client);
      entry.failures = entry.failures.filter((at) => at > now - o.windowMs);
      entry.failures.push(now);
      let started = 0;
      if (entry.failures.length >= o.maxFailures) {
        entry.lockedUntil = now + o.lockoutMs;
        entry.failures = [];
        started = o.lockoutMs;
      }
      clients.set(client, entry);
      while (clients.size > o.maxClients) {
        const oldest = clients.keys().next().value;
        if (oldest === undefined) break;
        clients.delete(oldest);
      }
      return started;
    },
    get size() {
      return clients.size;
    },
  };
}

/**
 * The key a client address is counted under: an IPv4 address as it is (also when written
 * IPv4-mapped, `::ffff:10.0.0.1`), an IPv6 address by its /64 network (one host commonly has
 * a whole /64 to pick from), anything else as it is.
 */
export function clientKey(address: string): string {
  const bytes = parseIp(address);
  if (bytes === undefined) return address;
  if (bytes.length === 4) return bytes.join('.');
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return bytes.slice(12).join('.');
  const words: string[] = [];
  for (let i = 0; i < 8; i += 2) words.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return `${words.join(':')}::/64`;
}
