/**
 * How agentbus names map onto JetStream names: topics onto subjects under a prefix,
 * subscription names onto durable consumer names. Pure: no I/O.
 *
 * Durable names may not contain `.`, `*`, `>`, `/`, `\` or whitespace, while subscription
 * names (agent names such as `/frontend-specialist`) may hold `/`, `.` and `:`. The mapping
 * escapes reversibly: letters, digits and `-` stay, `_` becomes `__`, `/` `_s`, `.` `_d`,
 * `:` `_c`, and any other character `_x` plus its code point in hex and `_`.
 */
import { invalidField } from '../../errors.js';

/** Stream names: what JetStream allows in a name that is also a file name. */
const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** A subject prefix: one or more tokens of letters, digits, `_` and `-`. */
const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** Longest durable name produced by escaping; longer names are hashed (see `durableName`). */
export const MAX_DURABLE_LENGTH = 200;

const ESCAPES: Record<string, string> = { _: '__', '/': '_s', '.': '_d', ':': '_c' };
const UNESCAPES: Record<string, string> = { _: '_', s: '/', d: '.', c: ':' };

/**
 * The durable consumer name of a subscription, reversible with {@link subscriptionOfDurable}.
 * Names whose escaped form exceeds {@link MAX_DURABLE_LENGTH} are given `hash` of the name
 * instead (prefixed `h-`); the real name is then only in the consumer's description.
 *
 * @example durableName('/frontend-specialist') // '_sfrontend-specialist'
 */
export function durableName(subscription: string, hash: (text: string) => string): string {
  let out = '';
  for (const ch of subscription) {
    if (/[A-Za-z0-9-]/.test(ch)) out += ch;
    else out += ESCAPES[ch] ?? `_x${(ch.codePointAt(0) as number).toString(16)}_`;
  }
  return out.length <= MAX_DURABLE_LENGTH ? out : `h-${hash(subscription)}`;
}

/** The subscription name a durable name was escaped from; undefined for hashed or foreign names. */
export function subscriptionOfDurable(durable: string): string | undefined {
  let out = '';
  for (let i = 0; i < durable.length; i++) {
    const ch = durable[i] as string;
    if (ch !== '_') {
      if (!/[A-Za-z0-9-]/.test(ch)) return undefined;
      out += ch;
      continue;
    }
    const next = durable[i + 1];
    if (next === 'x') {
      const end = durable.indexOf('_', i + 2);
      const code = end > i + 2 ? Number.parseInt(durable.slice(i + 2, end), 16) : Number.NaN;
      if (!Number.isInteger(code)) return undefined;
      out += String.fromCodePoint(code);
      i = end;
      continue;
    }
    const plain = next === undefined ? undefined : UNESCAPES[next];
    if (plain === undefined) return undefined;
    out += plain;
    i++;
  }
  return out === '' ? undefined : out;
}

/** The subject a topic is published on. */
export function subjectOf(prefix: string, topic: string): string {
  return `${prefix}.${topic}`;
}

/** The topic of a subject under `prefix`; undefined when the subject lies outside it. */
export function topicOf(prefix: string, subject: string): string | undefined {
  return subject.startsWith(`${prefix}.`) ? subject.slice(prefix.length + 1) : undefined;
}

/** Checks a stream name. @throws `OPTIONS_INVALID` naming `field` */
export function validateStreamName(name: unknown, field = 'stream'): string {
  if (typeof name !== 'string' || !STREAM_NAME.test(name)) {
    throw invalidField('OPTIONS_INVALID', field, 'must be 1 to 64 characters of letters, digits, _ and -');
  }
  return name;
}

/** Checks a subject prefix. @throws `OPTIONS_INVALID` naming `field` */
export function validateSubjectPrefix(prefix: unknown, field = 'subjectPrefix'): string {
  if (typeof prefix !== 'string' || prefix.length > 100 || !PREFIX.test(prefix)) {
    throw invalidField('OPTIONS_INVALID', field, 'must be dot-separated tokens of letters, digits, _ and - (no wildcards)');
  }
  return prefix;
}

/** What a JetStream ack subject says about one delivery. */
export interface AckReplyInfo {
  /** Deliveries of this message to this consumer so far, this one included. */
  readonly deliveryCount: number;
  /** The message's stream sequence. */
  readonly streamSeq: number;
  /** When the stream stored the message (ms since the epoch). */
  readonly storedAt: number;
}

/**
 * What names one stored copy of a message for one consumer, the same on every redelivery of
 * it: `<stream>.<consumer>.<stream seq>.<nanos>` from its ack subject (the stored time keeps a
 * stream deleted and made again, whose sequences start over, from naming an old copy).
 * Undefined when `reply` is not an ack subject.
 *
 * @example copyOfAckReply('$JS.ACK.S.c.3.17.20.1795485488117446834.4') // "S.c.17.1795485488117446834"
 */
export function copyOfAckReply(reply: string): string | undefined {
  const tokens = reply.split('.');
  if (tokens[0] !== '$JS' || tokens[1] !== 'ACK') return undefined;
  const at = tokens.length === 9 ? 4 : tokens.length >= 11 ? 6 : -1;
  if (at < 0) return undefined;
  return `${tokens[at - 2]}.${tokens[at - 1]}.${tokens[at + 1]}.${tokens[at + 3]}`;
}

/**
 * Parses the reply subject of a consumer delivery:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<nanos>.<pending>`
 * (nats-server 2.9), or the longer form of later servers with domain and account hash
 * after `$JS.ACK`. Undefined for anything else.
 */
export function parseAckReply(reply: string): AckReplyInfo | undefined {
  const tokens = reply.split('.');
  if (tokens[0] !== '$JS' || tokens[1] !== 'ACK') return undefined;
  const at = tokens.length === 9 ? 4 : tokens.length >= 11 ? 6 : -1;
  if (at < 0) return undefined;
  const deliveryCount = Number(tokens[at]);
  const streamSeq = Number(tokens[at + 1]);
  const nanos = tokens[at + 3] as string;
  if (!Number.isSafeInteger(deliveryCount) || !Number.isSafeInteger(streamSeq) || !/^\d+$/.test(nanos)) return undefined;
  return { deliveryCount, streamSeq, storedAt: nanos.length > 6 ? Number(nanos.slice(0, -6)) : 0 };
}
