/**
 * Bearer tokens and what each may do: per-topic publish and subscribe rules (deny wins, no
 * rule means deny), an admin scope for the dead-letter queue and subscription management,
 * and a metrics scope for `/metrics`. Tokens are compared in constant time and never leave
 * this module: logs and errors name a token by its `name`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TokenConfig, TopicRules } from '../config/index.js';
import { AgentbusError } from '../errors.js';
import { compileTopicPattern, patternCovers, patternsOverlap } from '../routing/index.js';

/** Who is calling and what they may do. */
export interface Principal {
  /** The token's name (`anonymous` when no tokens are configured). */
  readonly name: string;
  /** May publish to `topic`. */
  canPublish(topic: string): boolean;
  /** May read events of `topic`. */
  canSubscribe(topic: string): boolean;
  /**
   * May read events of every topic `pattern` matches: one allow pattern covers it and no
   * deny pattern overlaps it. What shows a subscription (its topic, filter and counts) to a
   * token. For a pattern without wildcards, the same as {@link canSubscribe}.
   */
  canSubscribePattern(pattern: string): boolean;
  /** May work the dead-letter queue and manage subscriptions; implies {@link metrics}. */
  readonly admin: boolean;
  /** May read `/metrics`, whose series are labelled with every topic and subscription. */
  readonly metrics: boolean;
}

/** Resolves credentials to principals. */
export interface Authenticator {
  /** False when no tokens are configured: every caller is {@link ANONYMOUS}. */
  readonly enabled: boolean;
  /** The principal of a presented token, or undefined when it matches none. */
  authenticate(token: string | undefined): Principal | undefined;
}

/** The caller when no tokens are configured: everything is allowed (loopback only). */
export const ANONYMOUS: Principal = {
  name: 'anonymous',
  canPublish: () => true,
  canSubscribe: () => true,
  canSubscribePattern: () => true,
  admin: true,
  metrics: true,
};

/** Compiles rules once: allowed when some allow pattern matches and no deny pattern does. */
export function compileRules(rules: TopicRules): (topic: string) => boolean {
  const allow = rules.allow.map(compileTopicPattern);
  const deny = rules.deny.map(compileTopicPattern);
  return (topic) => !deny.some((m) => m(topic)) && allow.some((m) => m(topic));
}

/**
 * The rules of {@link compileRules} applied to a pattern: allowed when one allow pattern
 * covers every topic it matches and no deny pattern matches any of them. Conservative: allow
 * patterns that cover it only together (`a.*` and `a.*.>` for `a.>`) do not.
 */
export function compilePatternRules(rules: TopicRules): (pattern: string) => boolean {
  return (pattern) => !rules.deny.some((d) => patternsOverlap(d, pattern)) && rules.allow.some((a) => patternCovers(a, pattern));
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Builds the authenticator of `tokens`. Every configured token is compared (in constant
 * time, over SHA-256 digests so lengths leak nothing) on every request.
 */
export function createAuthenticator(tokens: readonly TokenConfig[]): Authenticator {
  const entries = tokens.map((t) => ({
    digest: digest(t.token),
    principal: {
      name: t.name,
      canPublish: compileRules(t.publish),
      canSubscribe: compileRules(t.subscribe),
      canSubscribePattern: compilePatternRules(t.subscribe),
      admin: t.admin,
      metrics: t.admin || t.metrics === true,
    } satisfies Principal,
  }));
  return {
    enabled: entries.length > 0,
    authenticate(token) {
      if (entries.length === 0) return ANONYMOUS;
      if (token === undefined || token === '') return undefined;
      const presented = digest(token);
      let found: Principal | undefined;
      for (const entry of entries) if (timingSafeEqual(entry.digest, presented)) found ??= entry.principal;
      return found;
    },
  };
}

/** The token of an `Authorization: Bearer ...` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return match?.[1];
}

/** A 401 (no or unknown token); the presented token is never echoed. */
export function unauthenticated(): AgentbusError {
  return new AgentbusError('UNAUTHORIZED', 'a valid bearer token is required (Authorization: Bearer <token>)', {
    status: 401,
  });
}

/** A 403 naming what was refused and to which token name. */
export function forbidden(principal: Principal, what: string): AgentbusError {
  return new AgentbusError('UNAUTHORIZED', `token "${principal.name}" may not ${what}`, { status: 403 });
}

/** Throws 403 unless `principal` has the admin scope. */
export function requireAdmin(principal: Principal, what: string): void {
  if (!principal.admin) throw forbidden(principal, `${what} (needs the admin scope)`);
}

/** Throws 403 unless `principal` has the metrics (or admin) scope. */
export function requireMetrics(principal: Principal): void {
  if (!principal.metrics) throw forbidden(principal, 'read /metrics (needs the metrics or admin scope)');
}
