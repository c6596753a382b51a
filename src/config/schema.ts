/**
 * The shape of an agentbus config file (YAML or JSON), validated with zod. Field names are
 * the file's own; {@link loadConfig} resolves tokens and reports errors by field path.
 */
import { z } from 'zod';
import { parseNetwork } from '../routing/cidr.js';
import { isValidTopicPattern } from '../routing/index.js';
import { MAX_TIMER_MS, parseDuration } from '../time.js';

/** Default `server.host`: loopback only. */
export const DEFAULT_HOST = '127.0.0.1';
/** Default `server.port`. */
export const DEFAULT_PORT = 7070;
/** Default `server.bodyLimit`: 1 MiB. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  kib: 1024,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Bytes of a size: a whole number, or `"512KiB"`, `"1MiB"`, `"2MB"`; undefined when it is neither. */
export function parseByteSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (!match) return undefined;
  const unit = SIZE_UNITS[(match[2] || 'b').toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return bytes > 0 ? bytes : undefined;
}

/** `10.0.0.0/8`, `fd00::/8`: an address and a prefix length its family allows. */
const isNetwork = (value: string): boolean => parseNetwork(value) !== undefined;

const topicPattern = z.string().refine(isValidTopicPattern, {
  message: 'not a topic pattern (dot-separated tokens of A-Z a-z 0-9 _ -, with * and a final >)',
});

const rules = z.strictObject({
  /** Topic patterns this token may use; no rule means nothing is allowed. */
  allow: z.array(topicPattern).default([]),
  /** Topic patterns refused even when allowed: deny wins. */
  deny: z.array(topicPattern).default([]),
});

const tokenEntry = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.@/-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . @ / -'),
    token: z.string().optional(),
    token_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
      .optional(),
    token_file: z.string().min(1).optional(),
    publish: rules.default({ allow: [], deny: [] }),
    subscribe: rules.default({ allow: [], deny: [] }),
    admin: z.boolean().default(false),
    /** May read `/metrics` (every topic's and subscription's series); admin implies it. */
    metrics: z.boolean().default(false),
  })
  .refine((t) => [t.token, t.token_env, t.token_file].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of token, token_env, token_file',
  });

/** `"1m"`, `"30s"`, or ms: a positive duration up to Node's timer limit, in ms. */
const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value, MAX_TIMER_MS);
  if (typeof ms !== 'number' || ms <= 0) {
    ctx.addIssue({
      code: 'custom',
      message: typeof ms === 'number' ? 'must be longer than zero' : ms.error,
    });
    return z.NEVER;
  }
  return ms;
});

const serverSection = z.strictObject({
  host: z.string().min(1).default(DEFAULT_HOST),
  port: z.number().int().min(0).max(65535).default(DEFAULT_PORT),
  bodyLimit: z
    .union([z.number(), z.string()])
    .transform((value, ctx) => {
      const bytes = parseByteSize(value);
      if (bytes === undefined) {
        ctx.addIssue({ code: 'custom', message: 'must be a positive size: bytes, or like "512KiB", "1MiB"' });
        return z.NEVER;
      }
      return bytes;
    })
    .default(DEFAULT_BODY_LIMIT),
  tokens: z.array(tokenEntry).default([]),
  /** Networks (CIDR) webhook subscriptions created over HTTP may not target; replaces the default list. */
  webhookDeny: z.array(z.string().refine(isNetwork, { message: 'not a network like 10.0.0.0/8 or fd00::/8' })).optional(),
  /** Failed sign-ins per client address before a lockout (absent values take the server's defaults). */
  signInLimit: z
    .strictObject({
      enabled: z.boolean().optional(),
      maxFailures: z.number().int().min(1).max(1_000_000).optional(),
      window: duration.optional(),
      lockout: duration.optional(),
      maxClients: z.number().int().min(1).max(10_000_000).optional(),
    })
    .optional(),
  /** Caps on concurrent live streams (absent values take the server's defaults). */
  streams: z
    .strictObject({
      max: z.number().int().min(1).max(1_000_000).optional(),
      perToken: z.number().int().min(1).max(1_000_000).optional(),
      perAddress: z.number().int().min(1).max(1_000_000).optional(),
    })
    .optional(),
  /** Behind a reverse proxy: the header whose last entry is the client's address. */
  clientAddressHeader: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name such as x-forwarded-for')
    .optional(),
});

/** How much history to keep (the bus's `retention` option); values are checked by `resolveRetention`. */
const retentionSection = z.strictObject({
  /** `"30d"`, `"12h"`, or ms. */
  maxAge: z.union([z.string(), z.number()]).optional(),
  maxEvents: z.number().optional(),
  /** How often to prune. @default "5m" */
  interval: z.union([z.string(), z.number()]).optional(),
});

/** Settings of the PostgreSQL store (used when the store is a postgres:// URL). */
const postgresSection = z.strictObject({
  /** How long a statement may run or wait for a lock, in ms; 0: no limit. @default 60000 */
  statementTimeoutMs: z
    .number()
    .int()
    .min(0)
    .max(2_000_000_000)
    .refine((ms) => ms === 0 || ms >= 10, { message: 'must be 0 (no limit) or at least 10 ms' })
    .optional(),
  /** How long establishing a connection may take, in ms. @default 10000 */
  connectTimeoutMs: z.number().int().min(100).max(600_000).optional(),
});

/** The config file's schema. Unknown keys are refused, so a typo never passes silently. */
export const CONFIG_SCHEMA = z.strictObject({
  /** A SQLite file path, or a `postgres://` URL (passed through to the store). */
  store: z.string().min(1).optional(),
  /** NATS server URL(s) for the JetStream transport (passed through). */
  nats: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** Event-log retention of the bus the CLI and server open. @default none: keep everything */
  retention: retentionSection.optional(),
  /** Timeouts of the PostgreSQL store. @default the store's */
  postgres: postgresSection.optional(),
  server: serverSection.default({ host: DEFAULT_HOST, port: DEFAULT_PORT, bodyLimit: DEFAULT_BODY_LIMIT, tokens: [] }),
});

/** The config file as parsed, before tokens are resolved. */
export type ConfigFile = z.output<typeof CONFIG_SCHEMA>;
