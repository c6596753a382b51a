/**
 * Webhook signatures: HMAC-SHA256 over `<timestamp>.<body>` with a shared secret, as Stripe
 * and Slack sign theirs. The timestamp (Unix seconds) is signed too, so a captured request
 * cannot be replayed later than the receiver's tolerance.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Request headers of a webhook delivery. */
export const WEBHOOK_HEADERS = {
  /** Unix time in seconds when the request was signed. */
  timestamp: 'x-agentbus-timestamp',
  /** `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`; present when the runner has a secret. */
  signature: 'x-agentbus-signature',
  /** The event's id: a receiver may use it to drop redeliveries it already handled. */
  eventId: 'x-agentbus-event-id',
  eventType: 'x-agentbus-event-type',
  /** 1 for the first delivery, 2 for the first retry, ... */
  attempt: 'x-agentbus-attempt',
  /** The agent's name. */
  agent: 'x-agentbus-agent',
} as const;

/** The signature header value for `body` sent at `timestamp` (Unix seconds). */
export function signWebhook(secret: string, timestamp: number | string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What {@link verifyWebhookSignature} checks. */
export interface VerifyWebhookOptions {
  secret: string;
  /** The raw request body, exactly as received (before any JSON parsing). */
  body: string;
  /** The `x-agentbus-timestamp` header. A header sent twice (Node gives an array) is refused. */
  timestamp: string | readonly string[] | null | undefined;
  /** The `x-agentbus-signature` header. A header sent twice (Node gives an array) is refused. */
  signature: string | readonly string[] | null | undefined;
  /** Largest accepted distance between the timestamp and now, in seconds. @default 300 */
  toleranceSeconds?: number;
  /** Now, in ms since the epoch. @default Date.now() */
  now?: number;
}

/**
 * Verifies a webhook delivery on the receiving side: the signature matches the body and
 * timestamp (compared in constant time) and the timestamp is within the tolerance.
 * @example
 * const ok = verifyWebhookSignature({ secret, body: rawBody,
 *   timestamp: req.headers['x-agentbus-timestamp'], signature: req.headers['x-agentbus-signature'] })
 * if (!ok) return res.writeHead(401).end()
 */
export function verifyWebhookSignature(options: VerifyWebhookOptions): boolean {
  const { secret, body, timestamp, signature } = options;
  if (typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp) || typeof signature !== 'string') return false;
  const now = options.now ?? Date.now();
  if (Math.abs(now / 1000 - Number(timestamp)) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
