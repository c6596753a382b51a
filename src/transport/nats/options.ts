/**
 * Options of the NATS transport, each validated with the field named on refusal.
 */
import { invalidField } from '../../errors.js';
import type { EventStore } from '../../store/event-store.js';
import { validateStreamName, validateSubjectPrefix } from './names.js';

/** A non-fatal condition of the NATS transport (it keeps running). */
export interface NatsTransportStatus {
  /**
   * `activity_lost`: counts of acks and naks could not be written to the store's recent
   * activity (the dashboard's Consumed and Failed miss them); delivery is not affected.
   */
  readonly type: 'recorder_failed' | 'recorder_dropped' | 'activity_lost' | 'disconnected' | 'reconnected';
  readonly error?: Error;
}

/** The recorder's settings. */
export interface NatsRecorderOptions {
  /** Durable consumer name; processes sharing one store share it. @default "agentbus-recorder" */
  readonly name?: string;
  /** Most events appended in one store transaction. @default 500 */
  readonly batch?: number;
}

/** Options of {@link createNatsTransport}. */
export interface NatsTransportOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  readonly servers: string | readonly string[];
  /**
   * Where history (the recorder), dead letters and handler-failure counts are kept. The
   * transport does not close it. Processes that share a subscription should share it
   * (PostgreSQL), so failure counts are exact across machines.
   */
  readonly store: EventStore;
  /** JetStream stream name, created when missing. @default "AGENTBUS" */
  readonly stream?: string;
  /** Subjects are `<subjectPrefix>.<topic>`; the stream captures `<subjectPrefix>.>`. @default "agentbus" */
  readonly subjectPrefix?: string;
  /** Record every event into `store` (history, correlation queries). `false`: another process does. @default true */
  readonly recorder?: boolean | NatsRecorderOptions;
  /** Window in which a repeated event id (`Nats-Msg-Id`) is dropped, for a new stream. @default 120000 */
  readonly duplicateWindowMs?: number;
  /** JetStream `max_deliver` of new consumers: a safety net above the bus's retry policy. @default 25 */
  readonly maxDeliver?: number;
  /** JetStream `max_ack_pending` of new consumers (deliveries unacknowledged at once, all members). @default 10000 */
  readonly maxAckPending?: number;
  /** Storage of a new stream. @default "file" */
  readonly storage?: 'file' | 'memory';
  /** Replicas of a new stream (clustered servers). @default 1 */
  readonly replicas?: number;
  /** Longest age of a message in a new stream, in ms; 0 keeps them all. @default 0 */
  readonly maxAgeMs?: number;
  /** How long a fetch's long poll waits at the server before it is renewed (ms, at least 1000). @default 30000 */
  readonly longPollMs?: number;
  /** Connection name the server shows. @default "agentbus" */
  readonly name?: string;
  /** User of user/password authentication. */
  readonly user?: string;
  /** Password of user/password authentication. */
  readonly pass?: string;
  /** Token authentication. */
  readonly token?: string;
  /** Receives non-fatal conditions (recorder failures, disconnects). */
  readonly onStatus?: (status: NatsTransportStatus) => void;
}

function int(value: unknown, field: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidField('OPTIONS_INVALID', field, `must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw invalidField('OPTIONS_INVALID', field, 'must be a non-empty string');
  return value;
}

/** Schemes the Node transport connects with; a server without one is `nats://`. */
const SERVER_SCHEMES = new Set(['nats', 'tls']);

/**
 * Why `server` is not a NATS server address (`nats://host:port`, `tls://host:port`,
 * `host:port` or `host`), or undefined when it is one.
 */
export function serverUrlProblem(server: string): string | undefined {
  if (server.trim() === '') return 'is empty';
  if (/\s/.test(server.trim())) return `${JSON.stringify(server)} contains white space`;
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(server.trim());
  if (match && !SERVER_SCHEMES.has((match[1] as string).toLowerCase())) {
    return `${JSON.stringify(server)} has the scheme ${match[1]}:// (use nats:// or tls://)`;
  }
  const rest = match ? (match[2] as string) : server.trim();
  try {
    if (new URL(`nats://${rest}`).hostname === '') return `${JSON.stringify(server)} names no host`;
  } catch {
    return `${JSON.stringify(server)} is not a server URL (nats://host:port)`;
  }
  return undefined;
}

/** The server list of `servers`. @throws `OPTIONS_INVALID` naming `field` */
function serverList(servers: unknown, field: string): readonly string[] {
  const list = typeof servers === 'string' ? [servers] : servers;
  if (!Array.isArray(list) || list.length === 0 || list.some((s) => typeof s !== 'string' || s === '')) {
    throw invalidField('OPTIONS_INVALID', field, 'must be a server URL or a non-empty list of them');
  }
  for (const server of list as string[]) {
    const problem = serverUrlProblem(server);
    if (problem !== undefined) throw invalidField('OPTIONS_INVALID', field, problem);
  }
  return list as string[];
}

/** Validates and completes the options. @throws `OPTIONS_INVALID` naming the field */
export function resolveNatsOptions(options: NatsTransportOptions) {
  if (typeof options !== 'object' || options === null) throw invalidField('OPTIONS_INVALID', 'options', 'must be an object');
  const store = options.store;
  if (typeof store !== 'object' || store === null || typeof store.append !== 'function') {
    throw invalidField('OPTIONS_INVALID', 'store', 'must be an EventStore (openSqliteStore, openPostgresStore)');
  }
  return { ...resolveNatsSettings(options), store };
}

/**
 * Validates and completes every option but the store: what can be checked before the store
 * is opened. @throws `OPTIONS_INVALID` naming the field
 */
export function resolveNatsSettings(options: Omit<NatsTransportOptions, 'store'>) {
  if (typeof options !== 'object' || options === null) throw invalidField('OPTIONS_INVALID', 'options', 'must be an object');
  const servers = serverList(options.servers, 'servers');
  const recorderInput = options.recorder ?? true;
  if (typeof recorderInput !== 'boolean' && (typeof recorderInput !== 'object' || recorderInput === null)) {
    throw invalidField('OPTIONS_INVALID', 'recorder', 'must be true, false or { name, batch }');
  }
  const recorderOptions = typeof recorderInput === 'object' ? recorderInput : {};
  const recorderName = recorderOptions.name ?? 'agentbus-recorder';
  if (typeof recorderName !== 'string' || !/^[A-Za-z0-9_-]{1,200}$/.test(recorderName)) {
    throw invalidField('OPTIONS_INVALID', 'recorder.name', 'must be 1 to 200 characters of letters, digits, _ and -');
  }
  const storage = options.storage ?? 'file';
  if (storage !== 'file' && storage !== 'memory') throw invalidField('OPTIONS_INVALID', 'storage', 'must be "file" or "memory"');
  if (options.onStatus !== undefined && typeof options.onStatus !== 'function') {
    throw invalidField('OPTIONS_INVALID', 'onStatus', 'must be a function');
  }
  return {
    servers,
    stream: validateStreamName(options.stream ?? 'AGENTBUS'),
    subjectPrefix: validateSubjectPrefix(options.subjectPrefix ?? 'agentbus'),
    recorder:
      recorderInput === false
        ? undefined
        : { name: recorderName, batch: int(recorderOptions.batch, 'recorder.batch', 500, 1, 10_000) },
    duplicateWindowMs: int(options.duplicateWindowMs, 'duplicateWindowMs', 120_000, 1_000, 7 * 86_400_000),
    maxDeliver: int(options.maxDeliver, 'maxDeliver', 25, 2, 1_000_000),
    maxAckPending: int(options.maxAckPending, 'maxAckPending', 10_000, 1, 1_000_000),
    storage: storage as 'file' | 'memory',
    replicas: int(options.replicas, 'replicas', 1, 1, 5),
    maxAgeMs: int(options.maxAgeMs, 'maxAgeMs', 0, 0, Number.MAX_SAFE_INTEGER),
    longPollMs: int(options.longPollMs, 'longPollMs', 30_000, 1_000, 600_000),
    name: optionalString(options.name, 'name') ?? 'agentbus',
    user: optionalString(options.user, 'user'),
    pass: optionalString(options.pass, 'pass'),
    token: optionalString(options.token, 'token'),
    onStatus: options.onStatus,
  };
}
