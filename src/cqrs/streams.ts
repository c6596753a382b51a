/**
 * Event-sourced aggregates at `bus.streams`: append with optimistic concurrency, load by
 * folding the stream's events with a pure `evolve`, snapshots every N events in the state
 * area, used transparently by `load`.
 */
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { createEnvelopeWithText } from '../envelope/create.js';
import type { Envelope, JsonValue, PublishInput } from '../envelope/envelope.js';
import type { EnvelopeLimits, EnvelopeWithText } from '../envelope/validate.js';
import { AgentbusError, invalidField, isAgentbusError } from '../errors.js';
import type { EventStore, StreamEvent, StreamExpectedVersion } from '../store/event-store.js';
import { positiveInteger, streamCategory, validateStreamName } from './names.js';

/** State namespace of snapshots. */
export const SNAPSHOT_NAMESPACE = 'agentbus.snapshots';

/** An event to append: publish input whose topic defaults to `streams.<category>`. */
export type StreamEventInput<P extends JsonValue = JsonValue> = Omit<PublishInput<P>, 'topic'> & { topic?: string };

/** Options of `streams.append`. */
export interface StreamAppendOptions {
  /** `no_stream`, `any`, `exists`, or the version the caller last saw. @default "any" */
  expectedVersion?: StreamExpectedVersion;
}

/** Where an event sits in its stream, given to `evolve`. */
export interface StreamPosition {
  readonly version: number;
  readonly seq: number;
}

/**
 * How to fold a stream into state.
 * @typeParam P - What the stream's payloads hold (a union when they differ): a promise the
 *   caller makes, not checked at run time. @default JsonValue
 */
export interface LoadOptions<S, P = JsonValue> {
  /** The state before the first event: a value (copied) or a function returning one. */
  init: S | (() => S);
  /** Pure: the state after `event`. */
  evolve: (state: S, event: Envelope<P>, position: StreamPosition) => S;
  /**
   * Store a snapshot once this many events were folded past the last one; 0 turns snapshots
   * off. The state must be JSON for snapshots. @default the bus's `streams.snapshotEvery`, 100
   */
  snapshotEvery?: number;
  /**
   * Names this fold's snapshots, to keep several folds of one stream apart. A snapshot is
   * also ignored when the source of `evolve` or `init` changed. @default "default"
   */
  snapshotKey?: string;
}

/** A folded stream. */
export interface LoadResult<S> {
  readonly state: S;
  /** The version of the last event folded; 0 for a stream with no events. */
  readonly version: number;
}

/** Streams for event-sourced aggregates, at `bus.streams`. */
export interface EventStreams {
  /**
   * Appends events to `stream` if its version matches `expectedVersion`; returns the new version.
   * @throws AgentbusError `CONCURRENCY_CONFLICT` with `{ stream, expected, actual }` (nothing written),
   *   `ENVELOPE_INVALID` naming `events[i].<field>`, `OPTIONS_INVALID` for a bad stream or expected version.
   * @example const version = await bus.streams.append('user-42', [{ type: 'UserCreatedEvent', payload: { name: 'Ada' } }], { expectedVersion: 'no_stream' })
   */
  append(stream: string, events: readonly StreamEventInput[], options?: StreamAppendOptions): Promise<number>;
  /**
   * Folds the stream, starting from its latest snapshot when there is one.
   * @example const { state, version } = await bus.streams.load('user-42', { init: { exists: false }, evolve })
   */
  load<S, P = JsonValue>(stream: string, options: LoadOptions<S, P>): Promise<LoadResult<S>>;
  /** The stream's events in version order. */
  read(stream: string, options?: { fromVersion?: number; toVersion?: number; limit?: number }): AsyncIterable<StreamEvent>;
  /** The stream's current version; 0 when it has no events. */
  version(stream: string): Promise<number>;
}

interface Snapshot {
  version: number;
  fingerprint: string;
  state: JsonValue;
}

/** Settings of the streams API. */
export interface StreamsSettings {
  readonly snapshotEvery: number;
  readonly now: () => number;
  readonly newId: () => string;
  readonly defaultSource: string;
  readonly limits: EnvelopeLimits | undefined;
}

/** Creates `bus.streams` on `store`. */
export function createEventStreams(store: EventStore, settings: StreamsSettings): EventStreams {
  const clock = { now: settings.now };

  const toItem = (stream: string, input: StreamEventInput, index: number): EnvelopeWithText => {
    if (typeof input !== 'object' || input === null)
      throw invalidField('ENVELOPE_INVALID', `events[${index}]`, 'must be an object');
    try {
      return createEnvelopeWithText(
        { partitionKey: stream, ...input, topic: input.topic ?? `streams.${streamCategory(stream)}` } as PublishInput,
        {
          clock,
          newId: settings.newId,
          defaultSource: settings.defaultSource,
          ...(settings.limits ? { limits: settings.limits } : {}),
        },
      );
    } catch (error) {
      if (isAgentbusError(error) && typeof error.details.field === 'string') {
        const field = `events[${index}].${error.details.field}`;
        throw new AgentbusError(error.code, `${field}: ${error.details.reason ?? error.message}`, { ...error.details, field });
      }
      throw error;
    }
  };

  return {
    async append(stream, events, options = {}) {
      const name = validateStreamName(stream);
      if (!Array.isArray(events)) throw invalidField('OPTIONS_INVALID', 'events', 'must be an array of events');
      if (typeof options !== 'object' || options === null) throw invalidField('OPTIONS_INVALID', 'options', 'must be an object');
      const items = events.map((e, i) => toItem(name, e, i));
      const result = await store.streams.append(name, items, options.expectedVersion ?? 'any');
      return result.version;
    },

    async load<S, P>(stream: string, options: LoadOptions<S, P>): Promise<LoadResult<S>> {
      const name = validateStreamName(stream);
      if (typeof options !== 'object' || options === null) throw invalidField('OPTIONS_INVALID', 'options', 'must be an object');
      if (typeof options.evolve !== 'function') throw invalidField('OPTIONS_INVALID', 'evolve', 'must be a function');
      if (options.init === undefined) throw invalidField('OPTIONS_INVALID', 'init', 'must be a value or a function');
      const every = positiveInteger(options.snapshotEvery, 'snapshotEvery', settings.snapshotEvery, 0);
      const key = `${options.snapshotKey ?? 'default'}/${name}`;
      const fingerprint = fingerprintOf(options.init, options.evolve);
      const snapshot = every > 0 ? await store.state.get<Snapshot>(SNAPSHOT_NAMESPACE, key) : undefined;
      const usable = snapshot && snapshot.value.fingerprint === fingerprint ? snapshot.value : undefined;
      let state: S = usable ? (usable.state as S) : initial(options.init);
      let version = usable?.version ?? 0;
      for await (const event of store.streams.read(name, { fromVersion: version + 1 })) {
        // The payload type is the caller's promise (LoadOptions' P): events are passed as stored.
        state = options.evolve(state, event.envelope as Envelope<P>, { version: event.version, seq: event.seq });
        version = event.version;
      }
      if (every > 0 && version - (usable?.version ?? 0) >= every) {
        await saveSnapshot(store, key, { version, fingerprint, state: state as JsonValue }, snapshot?.version);
      }
      return { state, version };
    },

    read(stream, options) {
      return store.streams.read(validateStreamName(stream), options);
    },

    version(stream) {
      return store.streams.version(validateStreamName(stream));
    },
  };
}

/** Writes a snapshot unless another load wrote one meanwhile; a snapshot is only a cache. */
async function saveSnapshot(store: EventStore, key: string, snapshot: Snapshot, seenVersion: number | undefined) {
  let text: string | undefined;
  try {
    text = JSON.stringify(snapshot.state);
  } catch {
    return;
  }
  if (text === undefined) return;
  const copy = JSON.parse(text) as JsonValue;
  // A state that JSON cannot carry (a Map, a Date, a class) is never snapshotted.
  if (!isDeepStrictEqual(copy, snapshot.state)) return;
  await store.state
    .put(SNAPSHOT_NAMESPACE, key, { ...snapshot, state: copy }, seenVersion ?? 'absent')
    .catch((error: unknown) => {
      if (!isAgentbusError(error, 'CONCURRENCY_CONFLICT')) throw error;
    });
}

function initial<S>(init: S | (() => S)): S {
  return typeof init === 'function' ? (init as () => S)() : structuredClone(init);
}

/** Changes when the code of the fold changes, so an old snapshot is not reused. */
function fingerprintOf(init: unknown, evolve: (...args: never[]) => unknown): string {
  const initText = typeof init === 'function' ? String(init) : JSON.stringify(init);
  return createHash('sha256')
    .update(`${String(evolve)}\u0000${initText}`)
    .digest('hex')
    .slice(0, 16);
}
