/**
 * Who is on the other end of a request, as the limits count clients: the socket's address,
 * or, behind a reverse proxy, the last address of the header the proxy sets
 * (`clientAddressHeader`), counted by {@link clientKey}.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { AgentbusError } from '../errors.js';
import type { ServerEnv } from './env.js';
import { type SignInLimiter, clientKey } from './sign-in-limit.js';

/** The client key of a request when no address is known (`app.request()` without a socket). */
export const UNKNOWN_CLIENT = 'unknown';

/**
 * The client key of `c`. With `header` (e.g. `x-forwarded-for`), the last entry of that header
 * is the client: the one the proxy in front appended; the entries before it are the client's
 * own word and are not trusted. Without the header, the socket's remote address.
 */
export function clientOf(c: Context<ServerEnv>, header: string | undefined): string {
  if (header !== undefined) {
    const value = c.req.header(header);
    const last = value?.split(',').pop()?.trim();
    if (last) return clientKey(last);
  }
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const address = incoming?.socket?.remoteAddress;
  return address === undefined ? UNKNOWN_CLIENT : clientKey(address);
}

/** Whole seconds of a wait, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * The 429 of a locked-out client, naming the limit; undefined when `client` is not locked out.
 * Carries `retry_after` (seconds), which the app sends as `Retry-After`.
 */
export function lockedOut(limiter: SignInLimiter, client: string): AgentbusError | undefined {
  const wait = limiter.retryAfterMs(client);
  if (wait === 0) return undefined;
  const seconds = retryAfterSeconds(wait);
  const { maxFailures, windowMs } = limiter.options;
  return new AgentbusError(
    'UNAUTHORIZED',
    `too many failed sign-ins from this address (${maxFailures} within ${Math.round(windowMs / 1000)} s, server.signInLimit); try again in ${seconds} s`,
    { status: 429, limit: maxFailures, retry_after: seconds },
  );
}
