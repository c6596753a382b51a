/**
 * The `events` table on PostgreSQL: the append phase of a flush (one multi-row insert for
 * every append of the flush, under the log-head lock) and history reads by keyset pages.
 */
import type { Envelope, Priority } from '../../envelope/envelope.js';
import { AgentbusError } from '../../errors.js';
import { compileTopicPattern, isLiteralPattern } from '../../routing/index.js';
import { bucketOf } from '../activity.js';
import type { AppendedEvent, HistoryQuery, StoredEvent } from '../event-store.js';
import type { Sql, Statement } from './connection.js';
import type { AppendRequest, Flush } from './group-commit.js';
import type { PostgresLagAccounting } from './lag-accounting.js';
import { streamConflict } from '../stream-version.js';
import type { Tables } from './tables.js';

const PRIORITY_RANK: Record<Priority, number> = { high: 0, normal: 1, low: 2 };
const PAGE_SIZE = 500;

/** A row as selected for reading. */
export interface EventRow {
  seq: number;
  stored_at: number;
  body: string;
}

/** Turns a row into a stored event (one JSON.parse, nothing else). */
export function toStoredEvent(row: EventRow): StoredEvent {
  return { seq: Number(row.seq), storedAt: Number(row.stored_at), envelope: JSON.parse(row.body) as Envelope };
}

/** The log head as locked by an append. */
interface HeadRow {
  last_seq: number;
  stored_at: number;
  consumers_version: number;
}

/** What an append phase did. */
export interface AppendOutcome {
  /** The log's head after it. */
  readonly head: number;
  /** Events inserted (duplicates excluded). */
  readonly inserted: number;
}

export class PostgresEventLog {
  readonly #s: Record<'lockHead' | 'existing' | 'streamVersions' | 'insert' | 'byId' | 'head' | 'firstAt' | 'start', Statement>;
  readonly #reads = new Map<string, Statement>();

  constructor(
    private readonly t: Tables,
    private readonly lag: PostgresLagAccounting,
  ) {
    this.#s = {
      lockHead: {
        name: 'ab_log_lock_head',
        text: `SELECT last_seq, stored_at, consumers_version FROM ${t.logHead} WHERE id = 1 FOR UPDATE`,
      },
      existing: {
        name: 'ab_log_existing',
        text: `SELECT id, seq, stored_at, body FROM ${t.events} WHERE id = ANY($1::text[])`,
      },
      streamVersions: {
        name: 'ab_log_stream_versions',
        text: `SELECT stream, max(version) AS version FROM ${t.streamEvents} WHERE stream = ANY($1::text[]) GROUP BY stream`,
      },
      insert: {
        name: 'ab_log_insert',
        text: `WITH inserted AS (
            INSERT INTO ${t.events} (seq, id, topic, type, correlation_id, causation_id, partition_key, priority, ts, expires_at, stored_at, target, body)
            SELECT u.seq, u.id, u.topic, u.type, u.correlation_id, u.causation_id, u.partition_key, u.priority, u.ts, u.expires_at, $12, u.target, u.body
            FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::smallint[],
                        $9::bigint[], $10::bigint[], $11::text[], $13::text[])
              AS u(seq, id, topic, type, correlation_id, causation_id, partition_key, priority, ts, expires_at, target, body)
          ), streamed AS (
            INSERT INTO ${t.streamEvents} (stream, version, seq)
            SELECT * FROM unnest($14::text[], $15::integer[], $16::bigint[])
          ), counted AS (
            INSERT INTO ${t.eventCounts} AS c (topic, source, events, last_seq)
            SELECT u.topic, u.source, count(*), max(u.seq) FROM unnest($1::bigint[], $3::text[], $20::text[]) AS u(seq, topic, source)
            GROUP BY u.topic, u.source
            ON CONFLICT (topic, source) DO UPDATE SET events = c.events + excluded.events, last_seq = greatest(c.last_seq, excluded.last_seq)
          ), active AS (
            INSERT INTO ${t.activity} AS a (bucket, topic, kind, n)
            SELECT $21, u.topic, 'published', count(*) FROM unnest($3::text[]) AS u(topic) GROUP BY u.topic
            ON CONFLICT (bucket, topic, kind) DO UPDATE SET n = a.n + excluded.n
          )
          UPDATE ${t.logHead} SET last_seq = $17, stored_at = $12 WHERE id = 1
          RETURNING pg_notify($18, $19)`,
      },
      byId: { name: 'ab_log_by_id', text: `SELECT seq, stored_at, body FROM ${t.events} WHERE id = $1` },
      head: { name: 'ab_log_head', text: `SELECT last_seq FROM ${t.logHead} WHERE id = 1` },
      start: { name: 'ab_log_start', text: `SELECT pruned_through + 1 AS start FROM ${t.retention} WHERE id = 1` },
      firstAt: {
        name: 'ab_log_first_at',
        text: `SELECT seq FROM ${t.events} WHERE ts >= $1 ORDER BY seq LIMIT 1`,
      },
    };
  }

  /**
   * Inserts every queued append of a flush (or a transaction) in one statement, under the
   * log-head lock, in request order. Ids already stored, or repeated in the batch, return the
   * first copy. Stream requests whose expected version does not match are refused and write
   * nothing. Notifies `channel` when something was inserted.
   */
  async appendPhase(
    sql: Sql,
    requests: readonly AppendRequest[],
    now: number,
    flush: Pick<Flush, 'lag'>,
    notify: { channel: string; payload: (head: number) => string },
  ): Promise<AppendOutcome> {
    const [head] = await sql.rows<HeadRow>(this.#s.lockHead);
    if (!head) throw new AgentbusError('STORE_CORRUPT', `${this.t.logHead} has no row: the schema is damaged`);
    await this.lag.refresh(sql, Number(head.consumers_version));
    const storedAt = Math.max(now, Number(head.stored_at));
    const ids = new Set<string>();
    const streams = new Set<string>();
    for (const request of requests) {
      for (const item of request.items) ids.add(item.envelope.event.id);
      if (request.stream) streams.add(request.stream.name);
    }
    const known = new Map<string, StoredEvent>();
    if (ids.size > 0) {
      for (const row of await sql.rows<EventRow & { id: string }>(this.#s.existing, [[...ids]])) {
        known.set(row.id, toStoredEvent(row));
      }
    }
    const versions = new Map<string, number>();
    if (streams.size > 0) {
      for (const row of await sql.rows<{ stream: string; version: number }>(this.#s.streamVersions, [[...streams]])) {
        versions.set(row.stream, Number(row.version));
      }
    }
    const columns = new Rows();
    const fresh: Envelope[] = [];
    let seq = Number(head.last_seq);
    for (const request of requests) {
      let version = 0;
      if (request.stream) {
        version = versions.get(request.stream.name) ?? 0;
        const refused = streamConflict(request.stream.name, request.stream.expected, version);
        if (refused) {
          request.refused = refused;
          continue;
        }
      }
      const out: AppendedEvent[] = [];
      for (const { envelope, text } of request.items) {
        const first = known.get(envelope.event.id);
        if (first) {
          out.push({ ...first, duplicate: true });
          continue;
        }
        seq += 1;
        const stored: StoredEvent = { seq, storedAt, envelope };
        known.set(envelope.event.id, stored);
        columns.add(seq, envelope, text);
        fresh.push(envelope);
        if (request.stream) {
          version += 1;
          columns.stream(request.stream.name, version, seq);
        }
        out.push({ ...stored, duplicate: false });
      }
      if (request.stream) {
        versions.set(request.stream.name, version);
        request.version = version;
      }
      request.result = out;
    }
    if (fresh.length > 0) {
      await sql.rows(this.#s.insert, [
        ...columns.values(storedAt, seq),
        notify.channel,
        notify.payload(seq),
        columns.source,
        bucketOf(now),
      ]);
      this.lag.appended(fresh, flush);
    }
    return { head: seq, inserted: fresh.length };
  }

  async get(sql: Sql, id: string): Promise<StoredEvent | undefined> {
    const [row] = await sql.rows<EventRow>(this.#s.byId, [id]);
    return row ? toStoredEvent(row) : undefined;
  }

  async head(sql: Sql): Promise<number> {
    const [row] = await sql.rows<{ last_seq: number }>(this.#s.head);
    return Number(row?.last_seq ?? 0);
  }

  /**
   * The log start: the first position from which history is complete (1 until a prune).
   * Below it only events kept for streams and dead letters remain (ADR 0018).
   */
  async start(sql: Sql): Promise<number> {
    const [row] = await sql.rows<{ start: number }>(this.#s.start);
    return Number(row?.start ?? 1);
  }

  /** First position whose event time is at or after `time`; head + 1 when none. */
  async firstSeqAtOrAfter(sql: Sql, time: number): Promise<number> {
    const [row] = await sql.rows<{ seq: number }>(this.#s.firstAt, [time]);
    return row ? Number(row.seq) : (await this.head(sql)) + 1;
  }

  /** Streams matching events page by page (keyset on `seq`); no cursor stays open. */
  async *read(sql: Sql, query: HistoryQuery = {}): AsyncGenerator<StoredEvent> {
    const backward = query.direction === 'backward';
    const where: string[] = [];
    const params: Array<string | number> = [];
    const param = (value: string | number) => {
      params.push(value);
      return `$${params.length}`;
    };
    const topicMatches = query.topic && !isLiteralPattern(query.topic) ? compileTopicPattern(query.topic) : undefined;
    if (query.topic) {
      if (!topicMatches) {
        where.push(`topic = ${param(query.topic)}`);
      } else {
        // Narrow to the literal prefix before the first wildcard; the pattern decides the rest.
        const prefix = literalPrefix(query.topic);
        if (prefix) where.push(`topic >= ${param(prefix)} AND topic < ${param(`${prefix.slice(0, -1)}/`)}`);
      }
    }
    if (query.type !== undefined) where.push(`type = ${param(query.type)}`);
    if (query.correlationId !== undefined) where.push(`correlation_id = ${param(query.correlationId)}`);
    if (query.causationId !== undefined) where.push(`causation_id = ${param(query.causationId)}`);
    if (query.since !== undefined) where.push(`ts >= ${param(query.since)}`);
    if (query.until !== undefined) where.push(`ts < ${param(query.until)}`);
    if (query.fromSeq !== undefined) where.push(`seq >= ${param(query.fromSeq)}`);
    if (query.toSeq !== undefined) where.push(`seq <= ${param(query.toSeq)}`);
    const cursorIndex = params.length + 1;
    where.push(backward ? `seq < $${cursorIndex}` : `seq > $${cursorIndex}`);
    const statement = this.#read(
      `SELECT seq, stored_at, body${topicMatches ? ', topic' : ''} FROM ${this.t.events} WHERE ${where.join(' AND ')}
       ORDER BY seq ${backward ? 'DESC' : 'ASC'} LIMIT ${PAGE_SIZE}`,
    );
    let remaining = query.limit ?? Number.POSITIVE_INFINITY;
    let cursor = backward ? Number.MAX_SAFE_INTEGER : 0;
    while (remaining > 0) {
      const rows = await sql.rows<EventRow & { topic?: string }>(statement, [...params, cursor]);
      for (const row of rows) {
        if (topicMatches && !topicMatches(row.topic as string)) continue;
        yield toStoredEvent(row);
        if (--remaining <= 0) return;
      }
      if (rows.length < PAGE_SIZE) return;
      cursor = Number((rows[rows.length - 1] as EventRow).seq);
    }
  }

  /** A named statement per distinct query shape (a small, fixed set). */
  #read(text: string): Statement {
    let statement = this.#reads.get(text);
    if (!statement) {
      statement = { name: `ab_log_read_${this.#reads.size}`, text };
      this.#reads.set(text, statement);
    }
    return statement;
  }
}

/** Column arrays of a multi-row insert (one `unnest` parameter per column). */
class Rows {
  readonly seq: number[] = [];
  readonly id: string[] = [];
  readonly topic: string[] = [];
  readonly type: string[] = [];
  readonly correlation: string[] = [];
  readonly causation: Array<string | null> = [];
  readonly partition: Array<string | null> = [];
  readonly priority: number[] = [];
  readonly ts: number[] = [];
  readonly expires: Array<number | null> = [];
  readonly target: Array<string | null> = [];
  readonly body: string[] = [];
  readonly source: string[] = [];
  readonly streams: string[] = [];
  readonly versions: number[] = [];
  readonly streamSeqs: number[] = [];

  add(seq: number, envelope: Envelope, text: string): void {
    const { event, routing } = envelope;
    this.seq.push(seq);
    this.id.push(event.id);
    this.topic.push(routing.topic);
    this.type.push(event.type);
    this.correlation.push(event.correlation_id);
    this.causation.push(event.causation_id ?? null);
    this.partition.push(routing.partition_key ?? null);
    this.priority.push(PRIORITY_RANK[routing.priority] ?? 1);
    this.ts.push(Date.parse(event.timestamp));
    this.expires.push(event.expires_at === undefined ? null : Date.parse(event.expires_at));
    this.target.push(routing.deliver_to ?? null);
    this.body.push(text);
    this.source.push(event.source ?? '');
  }

  stream(name: string, version: number, seq: number): void {
    this.streams.push(name);
    this.versions.push(version);
    this.streamSeqs.push(seq);
  }

  /** Parameters $1..$17 of the insert statement. */
  values(storedAt: number, lastSeq: number): unknown[] {
    return [
      this.seq,
      this.id,
      this.topic,
      this.type,
      this.correlation,
      this.causation,
      this.partition,
      this.priority,
      this.ts,
      this.expires,
      this.target,
      storedAt,
      this.body,
      this.streams,
      this.versions,
      this.streamSeqs,
      lastSeq,
    ];
  }
}

/** `project.tasks.` for `project.tasks.*`; empty when the pattern starts with a wildcard. */
function literalPrefix(pattern: string): string {
  const literal: string[] = [];
  for (const token of pattern.split('.')) {
    if (token === '*' || token === '>') break;
    literal.push(token);
  }
  return literal.length === 0 ? '' : `${literal.join('.')}.`;
}
