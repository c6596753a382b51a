/**
 * Retry policy: the seed's JSON, error classification, and the decision "retry after N ms
 * or dead-letter". Pure: randomness for jitter is passed in.
 */
import { z } from 'zod';
import { AgentbusError, NonRetryableError, RetryAfterError } from '../errors.js';
import { describeIssue, formatFieldPath } from '../schema-issues.js';
import { MAX_TIMER_MS, parseDuration } from '../time.js';

/** The seed's retry JSON, as users write it (snake_case, durations as text or ms). */
export interface RetryPolicyInput {
  /** Retries after the first attempt. @default 3 */
  max_retries?: number;
  /** @default "exponential" */
  backoff_type?: 'fixed' | 'linear' | 'exponential';
  /** @default "1s" */
  initial_delay?: string | number;
  /** @default "30s" */
  max_delay?: string | number;
  /** Failure reasons that are retried; `"*"` retries every reason not in `no_retry_on`. @default ["timeout", "temporary_failure"] */
  retry_on?: string[];
  /** Failure reasons never retried; wins over `retry_on`. @default ["invalid_payload", "unauthorized"] */
  no_retry_on?: string[];
  /** Fraction (0 to 1) of each delay that is randomised downward. @default 0 */
  jitter?: number;
}

/** A validated retry policy. */
export interface RetryPolicy {
  readonly maxRetries: number;
  readonly backoffType: 'fixed' | 'linear' | 'exponential';
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly retryOn: readonly string[];
  readonly noRetryOn: readonly string[];
  readonly jitter: number;
}

/** The seed's default policy. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 3,
  backoffType: 'exponential',
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  retryOn: ['timeout', 'temporary_failure'],
  noRetryOn: ['invalid_payload', 'unauthorized'],
  jitter: 0,
};

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value, MAX_TIMER_MS);
  if (typeof ms === 'number') return ms;
  ctx.addIssue({ code: 'custom', message: ms.error });
  return z.NEVER;
});

const schema = z.strictObject({
  max_retries: z.int().min(0).max(1000).optional(),
  backoff_type: z.enum(['fixed', 'linear', 'exponential']).optional(),
  initial_delay: duration.optional(),
  max_delay: duration.optional(),
  retry_on: z.array(z.string().min(1)).optional(),
  no_retry_on: z.array(z.string().min(1)).optional(),
  jitter: z.number().min(0).max(1).optional(),
});

/**
 * Validates the seed's retry JSON over a base policy.
 * @throws AgentbusError `OPTIONS_INVALID` naming the field and the reason.
 */
export function parseRetryPolicy(input: unknown, base: RetryPolicy = DEFAULT_RETRY_POLICY, field = 'retry'): RetryPolicy {
  if (input === undefined) return base;
  const result = schema.safeParse(input);
  if (!result.success) {
    const { path: at, reason } = describeIssue(result.error.issues[0] as z.core.$ZodIssue);
    const path = formatFieldPath(at, field);
    throw new AgentbusError('OPTIONS_INVALID', `${path}: ${reason}`, { field: path, reason });
  }
  const v = result.data;
  const policy: RetryPolicy = {
    maxRetries: v.max_retries ?? base.maxRetries,
    backoffType: v.backoff_type ?? base.backoffType,
    initialDelayMs: v.initial_delay ?? base.initialDelayMs,
    maxDelayMs: v.max_delay ?? base.maxDelayMs,
    retryOn: v.retry_on ?? base.retryOn,
    noRetryOn: v.no_retry_on ?? base.noRetryOn,
    jitter: v.jitter ?? base.jitter,
  };
  if (policy.maxDelayMs < policy.initialDelayMs) {
    const path = `${field}.max_delay`;
    throw new AgentbusError('OPTIONS_INVALID', `${path}: must not be shorter than initial_delay`, {
      field: path,
      reason: 'must not be shorter than initial_delay',
    });
  }
  return policy;
}

/** A failure as the retry decision sees it. */
export interface ClassifiedFailure {
  /** `timeout`, `temporary_failure`, `invalid_payload`, `unauthorized`, or a custom code. */
  readonly reason: string;
  readonly message: string;
  readonly stack?: string;
  /** False when the error said "never retry me". */
  readonly retryable: boolean;
  /** A delay the error asked for. */
  readonly delayMs?: number;
}

/** Classifies what a handler threw. Plain errors are `temporary_failure`. */
export function classifyError(error: unknown): ClassifiedFailure {
  const base = describe(error);
  if (error instanceof NonRetryableError) return { ...base, reason: error.code, retryable: false };
  if (error instanceof RetryAfterError) return { ...base, reason: 'temporary_failure', retryable: true, delayMs: error.delayMs };
  if (error instanceof AgentbusError && error.code === 'TIMEOUT') return { ...base, reason: 'timeout', retryable: true };
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[a-z][a-z0-9_]*$/.test(code)) return { ...base, reason: code, retryable: true };
  return { ...base, reason: 'temporary_failure', retryable: true };
}

function describe(error: unknown): { message: string; stack?: string } {
  if (error instanceof Error) return { message: error.message || error.name, ...(error.stack ? { stack: error.stack } : {}) };
  return { message: typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error)) };
}

/** What to do with a failed delivery. */
export type RetryDecision = { readonly kind: 'retry'; readonly delayMs: number } | { readonly kind: 'dead' };

/**
 * Decides after failed attempt number `attempt` (1-based). With the seed's policy the
 * retries come after 1 s, 2 s, 4 s, and the fourth failure is dead-lettered.
 * @param random a number in [0, 1) for jitter
 */
export function decideRetry(policy: RetryPolicy, attempt: number, failure: ClassifiedFailure, random = 0): RetryDecision {
  if (!failure.retryable || policy.noRetryOn.includes(failure.reason)) return { kind: 'dead' };
  if (!policy.retryOn.includes(failure.reason) && !policy.retryOn.includes('*')) return { kind: 'dead' };
  if (attempt > policy.maxRetries) return { kind: 'dead' };
  if (failure.delayMs !== undefined) return { kind: 'retry', delayMs: Math.max(0, failure.delayMs) };
  return { kind: 'retry', delayMs: backoffDelay(policy, attempt, random) };
}

/** The delay before retry number `retry` (1-based), capped at `maxDelayMs`. */
export function backoffDelay(policy: RetryPolicy, retry: number, random = 0): number {
  const { initialDelayMs: initial, backoffType } = policy;
  const raw =
    backoffType === 'fixed' ? initial : backoffType === 'linear' ? initial * retry : initial * 2 ** Math.min(retry - 1, 52);
  const capped = Math.min(raw, policy.maxDelayMs);
  return Math.round(capped * (1 - policy.jitter * random));
}
