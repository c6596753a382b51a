import { describe, expect, it } from 'vitest';
import { AgentbusError, NonRetryableError, RetryAfterError } from '../errors.js';
import { DEFAULT_RETRY_POLICY, backoffDelay, classifyError, decideRetry, parseRetryPolicy } from './retry-policy.js';

describe('parseRetryPolicy', () => {
  it("defaults to the seed's policy", () => {
    expect(parseRetryPolicy({})).toEqual(DEFAULT_RETRY_POLICY);
    expect(DEFAULT_RETRY_POLICY).toMatchObject({
      maxRetries: 3,
      backoffType: 'exponential',
      initialDelayMs: 1000,
      maxDelayMs: 30000,
      retryOn: ['timeout', 'temporary_failure'],
      noRetryOn: ['invalid_payload', 'unauthorized'],
    });
  });

  it("reads the seed's JSON with durations as text or milliseconds", () => {
    const policy = parseRetryPolicy({
      max_retries: 5,
      backoff_type: 'linear',
      initial_delay: '500ms',
      max_delay: 120000,
      jitter: 0.2,
    });
    expect(policy).toMatchObject({ maxRetries: 5, backoffType: 'linear', initialDelayMs: 500, maxDelayMs: 120000, jitter: 0.2 });
    expect(parseRetryPolicy({ initial_delay: '2h', max_delay: '1d' }).initialDelayMs).toBe(7_200_000);
  });

  it.each([
    [{ max_retries: -1 }, 'retry.max_retries'],
    [{ max_retries: 1.5 }, 'retry.max_retries'],
    [{ backoff_type: 'random' }, 'retry.backoff_type'],
    [{ initial_delay: 'soon' }, 'retry.initial_delay'],
    [{ max_delay: '5 minutes' }, 'retry.max_delay'],
    [{ initial_delay: '10s', max_delay: '1s' }, 'retry.max_delay'],
    [{ jitter: 2 }, 'retry.jitter'],
    [{ retry_on: 'timeout' }, 'retry.retry_on'],
    [{ maxRetries: 3 }, 'retry.maxRetries'],
    [{ retry_on: ['timeout', ''] }, 'retry.retry_on[1]'],
  ])('refuses %j naming %s', (input, field) => {
    try {
      parseRetryPolicy(input);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(AgentbusError);
      expect((error as AgentbusError).code).toBe('OPTIONS_INVALID');
      expect((error as AgentbusError).details.field).toBe(field);
    }
  });
});

describe('refusal wording', () => {
  it('says "unknown key" and drops zod\'s "Invalid input" prefix', () => {
    expect(() => parseRetryPolicy({ maxRetries: 3 })).toThrow('retry.maxRetries: unknown key');
    expect(() => parseRetryPolicy({ max_retries: '3' })).toThrow('retry.max_retries: expected number, received string');
  });
});

describe('backoff schedule', () => {
  it("follows the seed's timeline: immediately, then after 1s, 2s, 4s, then the dead-letter queue", () => {
    // A fake clock: each failure happens at `now`, the retry is due at now + delay.
    let now = 0;
    const timeline: number[] = [now];
    const failure = classifyError(new Error('down'));
    for (let attempt = 1; ; attempt++) {
      const decision = decideRetry(DEFAULT_RETRY_POLICY, attempt, failure);
      if (decision.kind === 'dead') break;
      now += decision.delayMs;
      timeline.push(now);
    }
    expect(timeline).toEqual([0, 1000, 3000, 7000]);
  });

  it('doubles up to max_delay and stays there', () => {
    const policy = parseRetryPolicy({ max_retries: 10 });
    expect(Array.from({ length: 8 }, (_, i) => backoffDelay(policy, i + 1))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
  });

  it('grows linearly or stays fixed when asked', () => {
    const linear = parseRetryPolicy({ backoff_type: 'linear', max_retries: 5 });
    const fixed = parseRetryPolicy({ backoff_type: 'fixed', initial_delay: '250ms' });
    expect([1, 2, 3].map((r) => backoffDelay(linear, r))).toEqual([1000, 2000, 3000]);
    expect([1, 2, 3].map((r) => backoffDelay(fixed, r))).toEqual([250, 250, 250]);
  });

  it('jitter only shortens a delay, by at most its fraction', () => {
    const policy = parseRetryPolicy({ jitter: 0.5 });
    expect(backoffDelay(policy, 2, 0)).toBe(2000);
    expect(backoffDelay(policy, 2, 0.999)).toBeGreaterThanOrEqual(1000);
    expect(backoffDelay(policy, 2, 0.5)).toBe(1500);
  });
});

describe('classification and decision', () => {
  const policy = DEFAULT_RETRY_POLICY;
  it('plain errors are temporary failures and are retried', () => {
    expect(classifyError(new Error('x'))).toMatchObject({ reason: 'temporary_failure', retryable: true });
    expect(decideRetry(policy, 1, classifyError(new Error('x')))).toEqual({ kind: 'retry', delayMs: 1000 });
  });
  it('NonRetryableError goes to the dead-letter queue at once', () => {
    expect(decideRetry(policy, 1, classifyError(new NonRetryableError('bad payload')))).toEqual({ kind: 'dead' });
    expect(classifyError(new NonRetryableError('no', { code: 'unauthorized' })).reason).toBe('unauthorized');
  });
  it('RetryAfterError sets the delay', () => {
    expect(decideRetry(policy, 1, classifyError(new RetryAfterError(5000)))).toEqual({ kind: 'retry', delayMs: 5000 });
  });
  it('a handler timeout is classified as timeout and retried', () => {
    const failure = classifyError(new AgentbusError('TIMEOUT', 'slow'));
    expect(failure.reason).toBe('timeout');
    expect(decideRetry(policy, 1, failure).kind).toBe('retry');
  });
  it('errors carrying a code: no_retry_on wins, unknown codes retry only when listed or with "*"', () => {
    const coded = (code: string) => classifyError(Object.assign(new Error(code), { code }));
    expect(decideRetry(policy, 1, coded('unauthorized'))).toEqual({ kind: 'dead' });
    expect(decideRetry(policy, 1, coded('rate_limited'))).toEqual({ kind: 'dead' });
    const wide = parseRetryPolicy({ retry_on: ['*'] });
    expect(decideRetry(wide, 1, coded('rate_limited')).kind).toBe('retry');
    expect(decideRetry(wide, 1, coded('invalid_payload')).kind).toBe('dead');
  });
});
