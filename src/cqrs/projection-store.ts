/**
 * A projection's read model and checkpoint in the state area, always written in one
 * transaction: a crash between applying an event and recording it leaves neither, so no
 * event is ever applied twice (exactly-once on the SQL stores).
 *
 * Keys in namespace `agentbus.projections`: `checkpoint/<name>` and `model/<name>`.
 */
import { compileTopicPattern } from '../routing/index.js';
import type { EventStore, HistoryQuery, StateRecord, StoredEvent } from '../store/event-store.js';
import { AgentbusError } from '../errors.js';
import { PROJECTION_CHECKPOINT_PREFIX, PROJECTION_NAMESPACE } from '../store/retention.js';
import type { Projection } from './projection.js';

/** State namespace of read models and checkpoints; retention keeps what a checkpoint has not reached. */
export { PROJECTION_NAMESPACE } from '../store/retention.js';

/** A projection's checkpoint as stored. */
export interface ProjectionCheckpoint {
  /** Every event at or below this position was folded (or did not match). */
  position: number;
  /** Events folded into the read model since it was last (re)built. */
  applied: number;
  topics: string[];
  updated_at: number;
  rebuilt_at?: number;
  /** The last failure of `apply`, until a later batch succeeds. */
  error?: { seq: number; message: string } | null;
}

/** A projection as `list` reports it. */
export interface ProjectionInfo {
  readonly name: string;
  readonly topics: readonly string[];
  readonly position: number;
  readonly head: number;
  /** `head - position`: positions written to the log and not yet looked at. */
  readonly lag: number;
  readonly applied: number;
  readonly updatedAt: number;
  readonly rebuiltAt?: number;
  readonly error?: { readonly seq: number; readonly message: string };
}

export const checkpointKey = (name: string) => `${PROJECTION_CHECKPOINT_PREFIX}${name}`;
export const modelKey = (name: string) => `model/${name}`;

/** The events after `position` up to `head` that a projection folds, at most a batch. */
async function nextBatch(
  store: EventStore,
  projection: { readonly topics: readonly string[] },
  position: number,
  head: number,
  limit: number,
): Promise<{ events: StoredEvent[]; upTo: number }> {
  const single = projection.topics.length === 1 ? projection.topics[0] : undefined;
  const query: HistoryQuery = { fromSeq: position + 1, toSeq: head, limit, ...(single ? { topic: single } : {}) };
  const matchers = projection.topics.map((t) => compileTopicPattern(t));
  const events: StoredEvent[] = [];
  let last = position;
  let read = 0;
  for await (const event of store.read(query)) {
    read++;
    last = event.seq;
    if (single || matchers.some((m) => m(event.envelope.routing.topic))) events.push(event);
  }
  return { events, upTo: read === limit ? last : head };
}

function conflict(name: string): AgentbusError {
  return new AgentbusError('CONCURRENCY_CONFLICT', `projection ${name}: its checkpoint moved meanwhile`, { projection: name });
}

/**
 * Folds the next batch and commits read model and checkpoint together. Returns false when the
 * projection had already reached the head.
 * @throws AgentbusError `CONCURRENCY_CONFLICT` when another runner or a rebuild moved the checkpoint meanwhile.
 */
export async function advanceProjection<S>(store: EventStore, projection: Projection<S>, now: () => number): Promise<boolean> {
  const name = projection.name;
  const seen = await store.state.get<ProjectionCheckpoint>(PROJECTION_NAMESPACE, checkpointKey(name));
  const position = seen?.value.position ?? 0;
  const head = await store.head();
  if (position >= head) return false;
  const { events, upTo } = await nextBatch(store, projection, position, head, projection.batchSize);
  await store.transaction(async (tx) => {
    const current = await tx.state.get<ProjectionCheckpoint>(PROJECTION_NAMESPACE, checkpointKey(name));
    if (current?.version !== seen?.version) throw conflict(name);
    let model: S;
    if (events.length > 0) {
      const stored = await tx.state.get<S>(PROJECTION_NAMESPACE, modelKey(name));
      model = stored ? stored.value : projection.init();
      for (const event of events) model = projection.apply(model, event.envelope, { seq: event.seq });
      await tx.state.put(PROJECTION_NAMESPACE, modelKey(name), model);
    }
    const checkpoint: ProjectionCheckpoint = {
      ...(seen?.value ?? { applied: 0 }),
      position: upTo,
      applied: (seen?.value.applied ?? 0) + events.length,
      topics: [...projection.topics],
      updated_at: now(),
      error: null,
    };
    await tx.state.put(PROJECTION_NAMESPACE, checkpointKey(name), checkpoint, seen?.version ?? 'absent');
  });
  return true;
}

/** Records that `apply` failed at `seq`, for `list` to show; the checkpoint does not move. */
export async function recordProjectionError(
  store: EventStore,
  projection: { readonly name: string; readonly topics: readonly string[] },
  message: string,
  now: () => number,
) {
  const seen = await store.state.get<ProjectionCheckpoint>(PROJECTION_NAMESPACE, checkpointKey(projection.name));
  const position = seen?.value.position ?? 0;
  const value: ProjectionCheckpoint = {
    applied: 0,
    ...(seen?.value ?? {}),
    position,
    topics: [...projection.topics],
    updated_at: now(),
    error: { seq: position + 1, message },
  };
  await store.state.put(PROJECTION_NAMESPACE, checkpointKey(projection.name), value, seen?.version ?? 'absent').catch(() => 0);
}

/** Creates the checkpoint of a projection that has none (so `list` shows it at once). */
export async function ensureCheckpoint(
  store: EventStore,
  projection: { readonly name: string; readonly topics: readonly string[] },
  now: () => number,
): Promise<void> {
  const value: ProjectionCheckpoint = { position: 0, applied: 0, topics: [...projection.topics], updated_at: now() };
  await store.state.put(PROJECTION_NAMESPACE, checkpointKey(projection.name), value, 'absent').catch(() => 0);
}

/** Progress of a rebuild: events looked at so far, out of the head at its start. */
export type RebuildProgress = (position: number, head: number) => void;

/** What a rebuild produced. */
export interface RebuildResult<S = unknown> {
  readonly state: S;
  /** The head the rebuild read up to; the live projection continues from here. */
  readonly position: number;
  readonly applied: number;
}

/**
 * Replays history into a fresh read model, then replaces the read model and checkpoint in one
 * transaction. A live runner of the same projection continues from the rebuilt checkpoint.
 */
export async function rebuildProjection<S>(
  store: EventStore,
  projection: Projection<S>,
  now: () => number,
  onProgress?: RebuildProgress,
): Promise<RebuildResult<S>> {
  const head = await store.head();
  let state = projection.init();
  let position = 0;
  let applied = 0;
  onProgress?.(0, head);
  while (position < head) {
    const { events, upTo } = await nextBatch(store, projection, position, head, projection.batchSize);
    for (const event of events) state = projection.apply(state, event.envelope, { seq: event.seq });
    applied += events.length;
    position = upTo;
    onProgress?.(position, head);
  }
  const time = now();
  await store.transaction(async (tx) => {
    await tx.state.put(PROJECTION_NAMESPACE, modelKey(projection.name), state);
    const checkpoint: ProjectionCheckpoint = {
      position: head,
      applied,
      topics: [...projection.topics],
      updated_at: time,
      rebuilt_at: time,
      error: null,
    };
    await tx.state.put(PROJECTION_NAMESPACE, checkpointKey(projection.name), checkpoint);
  });
  return { state, position: head, applied };
}

/**
 * Sets a projection back to the start: checkpoint 0 and no read model, in one transaction.
 * The process running it rebuilds it live.
 * @throws AgentbusError `NOT_FOUND` for a projection that never ran.
 */
export async function resetProjection(store: EventStore, name: string, now: () => number): Promise<void> {
  await store.transaction(async (tx) => {
    const seen = await tx.state.get<ProjectionCheckpoint>(PROJECTION_NAMESPACE, checkpointKey(name));
    if (!seen) throw notFound(name);
    const time = now();
    const checkpoint: ProjectionCheckpoint = {
      ...seen.value,
      position: 0,
      applied: 0,
      updated_at: time,
      rebuilt_at: time,
      error: null,
    };
    await tx.state.put(PROJECTION_NAMESPACE, checkpointKey(name), checkpoint, seen.version);
    await tx.state.delete(PROJECTION_NAMESPACE, modelKey(name));
  });
}

/**
 * Forgets a projection: its checkpoint and read model go in one transaction, so that it no
 * longer holds retention back nor shows in `list`. A process still running it starts it
 * again from the beginning.
 */
export async function deleteProjection(store: EventStore, name: string): Promise<void> {
  await store.transaction(async (tx) => {
    const seen = await tx.state.get<ProjectionCheckpoint>(PROJECTION_NAMESPACE, checkpointKey(name));
    if (!seen) throw notFound(name);
    await tx.state.delete(PROJECTION_NAMESPACE, checkpointKey(name), seen.version);
    await tx.state.delete(PROJECTION_NAMESPACE, modelKey(name));
  });
}

export function notFound(name: string): AgentbusError {
  return new AgentbusError('NOT_FOUND', `no projection named ${name} (it has never run on this store)`, { projection: name });
}

/** Every projection that has a checkpoint, with its lag. */
export async function listProjections(store: EventStore): Promise<ProjectionInfo[]> {
  const head = await store.head();
  const out: ProjectionInfo[] = [];
  for await (const record of store.state.list<ProjectionCheckpoint>(PROJECTION_NAMESPACE, { prefix: 'checkpoint/' })) {
    out.push(toInfo(record, head));
  }
  return out;
}

/** One projection's info. */
export async function getProjectionInfo(store: EventStore, name: string): Promise<ProjectionInfo | undefined> {
  const [record, head] = await Promise.all([
    store.state.get<ProjectionCheckpoint>(PROJECTION_NAMESPACE, checkpointKey(name)),
    store.head(),
  ]);
  return record ? toInfo(record, head) : undefined;
}

function toInfo(record: StateRecord<ProjectionCheckpoint>, head: number): ProjectionInfo {
  const c = record.value;
  return {
    name: record.key.slice('checkpoint/'.length),
    topics: c.topics ?? [],
    position: c.position,
    head,
    lag: Math.max(0, head - c.position),
    applied: c.applied,
    updatedAt: c.updated_at,
    ...(c.rebuilt_at === undefined ? {} : { rebuiltAt: c.rebuilt_at }),
    ...(c.error ? { error: c.error } : {}),
  };
}
