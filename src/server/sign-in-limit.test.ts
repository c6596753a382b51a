import { describe, expect, it } from 'vitest';
import { createManualClock } from '../testing.js';
import { clientKey, createSignInLimiter } from './sign-in-limit.js';

describe('createSignInLimiter', () => {
  it('locks a client out on its maxFailures-th failure within the window, until the lockout ends', () => {
    const clock = createManualClock();
    const limiter = createSignInLimiter({ maxFailures: 3, windowMs: 60_000, lockoutMs: 300_000 }, clock);
    expect(limiter.failed('a')).toBe(0);
    expect(limiter.failed('a')).toBe(0);
    expect(limiter.retryAfterMs('a')).toBe(0);
    expect(limiter.failed('a')).toBe(300_000);
    expect(limiter.retryAfterMs('a')).toBe(300_000);
    expect(limiter.retryAfterMs('b')).toBe(0);
    clock.advance(299_999);
    expect(limiter.retryAfterMs('a')).toBe(1);
    clock.advance(1);
    expect(limiter.retryAfterMs('a')).toBe(0);
    // The count starts again after a lockout.
    expect(limiter.failed('a')).toBe(0);
  });

  it('forgets failures older than the window (sliding, not fixed)', () => {
    const clock = createManualClock();
    const limiter = createSignInLimiter({ maxFailures: 3, windowMs: 60_000 }, clock);
    limiter.failed('a');
    clock.advance(40_000);
    limiter.failed('a');
    clock.advance(30_000);
    // The first failure is 70 s old: two in the window.
    expect(limiter.failed('a')).toBe(0);
    clock.advance(1_000);
    expect(limiter.failed('a')).toBeGreaterThan(0);
  });

  it('tracks at most maxClients clients, forgetting the least recently failing first', () => {
    const clock = createManualClock();
    const limiter = createSignInLimiter({ maxFailures: 2, maxClients: 2 }, clock);
    limiter.failed('a');
    limiter.failed('b');
    limiter.failed('a');
    limiter.failed('c');
    expect(limiter.size).toBe(2);
    expect(limiter.retryAfterMs('a')).toBeGreaterThan(0);
    // b was forgotten: its next failure is its first.
    expect(limiter.failed('b')).toBe(0);
  });

  it('does nothing when disabled', () => {
    const limiter = createSignInLimiter({ enabled: false, maxFailures: 1 }, createManualClock());
    expect(limiter.failed('a')).toBe(0);
    expect(limiter.retryAfterMs('a')).toBe(0);
    expect(limiter.size).toBe(0);
  });
});

describe('clientKey', () => {
  it('counts IPv4 as it is, IPv4-mapped as IPv4, and IPv6 by its /64', () => {
    expect(clientKey('10.0.0.1')).toBe('10.0.0.1');
    expect(clientKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(clientKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:ffff::9')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:3::1')).not.toBe(clientKey('2001:db8:1:2::1'));
    expect(clientKey('unknown')).toBe('unknown');
  });
});
