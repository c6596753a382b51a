/**
 * `bus.projections`: run projections live in this process, read their read models, list them
 * with their lag, rebuild or reset them.
 *
 * A running projection folds the events after its checkpoint in batches, each batch one
 * transaction (read model + checkpoint); it is woken by the store's change feed, which also
 * notices a reset made by another process (the CLI), and then rebuilds from the start.
 */
import type { EventStore } from '../store/event-store.js';
import { AgentbusError, invalidField, isAgentbusError } from '../errors.js';
import { type Projection, isProjection, validateProjectionName } from './projection.js';
import {
  PROJECTION_NAMESPACE,
  type ProjectionCheckpoint,
  type ProjectionInfo,
  type RebuildProgress,
  type RebuildResult,
  advanceProjection,
  checkpointKey,
  deleteProjection,
  ensureCheckpoint,
  getProjectionInfo,
  listProjections,
  modelKey,
  notFound,
  rebuildProjection,
  recordProjectionError,
  resetProjection,
} from './projection-store.js';

/** A projection running in this process. */
export interface RunningProjection<S = unknown> {
  readonly name: string;
  /** The read model as last committed. */
  state(): Promise<S>;
  /**
   * Resolves once the projection has looked at every event written before the call.
   * @throws the error of `apply` when the projection is stuck on an event.
   */
  caughtUp(): Promise<void>;
  /** Stops the live projection; its read model and checkpoint stay. */
  close(): Promise<void>;
}

/** Options of `projections.rebuild`. */
export interface RebuildOptions {
  /** Called as history is replayed: positions looked at so far, out of the head at the start. */
  onProgress?: RebuildProgress;
}

/** Projections at `bus.projections`. */
export interface Projections {
  /**
   * Runs `projection` live in this process: catches up from its checkpoint, then follows.
   * @throws AgentbusError `OPTIONS_INVALID` when it is not from `defineProjection`, or already runs here.
   * @example const users = await bus.projections.start(usersProjection); await users.caughtUp()
   */
  start<S>(projection: Projection<S>): Promise<RunningProjection<S>>;
  /** The read model of a projection by name; undefined before its first event. */
  state<S = unknown>(name: string): Promise<S | undefined>;
  /** Every projection of the store, with position, head and lag. */
  list(): Promise<ProjectionInfo[]>;
  get(name: string): Promise<ProjectionInfo | undefined>;
  /**
   * Replays history into a fresh read model and replaces the stored one (a name must be of a
   * projection started in this process).
   * @throws AgentbusError `NOT_FOUND` for an unknown name.
   */
  rebuild<S>(projection: Projection<S> | string, options?: RebuildOptions): Promise<RebuildResult<S>>;
  /**
   * Sets a projection back to the start (checkpoint 0, no read model): every process running
   * it rebuilds it live. @throws AgentbusError `NOT_FOUND`
   */
  reset(name: string): Promise<void>;
  /**
   * Forgets a projection no process runs any more: its checkpoint and read model are deleted,
   * so it stops holding retention back. A process still running it starts again from the
   * beginning. @throws AgentbusError `NOT_FOUND`
   */
  delete(name: string): Promise<void>;
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 30_000;

class ProjectionRunner<S> {
  readonly #store: EventStore;
  readonly #projection: Projection<S>;
  readonly #now: () => number;
  #stopFeed: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryMs = RETRY_MIN_MS;
  #error: Error | undefined;
  #cycleWaiters: Array<() => void> = [];

  constructor(store: EventStore, projection: Projection<S>, now: () => number) {
    this.#store = store;
    this.#projection = projection;
    this.#now = now;
  }

  async start(): Promise<void> {
    await ensureCheckpoint(this.#store, this.#projection, this.#now);
    this.#stopFeed = this.#store.changes.onAppend(() => this.kick());
    this.kick();
  }

  kick(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
      const waiters = this.#cycleWaiters;
      this.#cycleWaiters = [];
      for (const w of waiters) w();
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  async #loop(): Promise<void> {
    while (!this.#closed) {
      try {
        if (!(await advanceProjection(this.#store, this.#projection, this.#now))) return;
        this.#error = undefined;
        this.#retryMs = RETRY_MIN_MS;
      } catch (error) {
        if (isAgentbusError(error, 'CONCURRENCY_CONFLICT')) continue;
        if (this.#closed || isAgentbusError(error, 'CLOSED')) return;
        const failure = error instanceof Error ? error : new Error(String(error));
        // Recorded before `caughtUp` can report it, so whoever sees the error also finds it in `get`.
        await recordProjectionError(this.#store, this.#projection, failure.message, this.#now).catch(() => undefined);
        this.#error = failure;
        // A failing apply is retried with a growing delay; new events also wake it.
        clearTimeout(this.#retryTimer);
        this.#retryTimer = setTimeout(() => this.kick(), this.#retryMs);
        this.#retryTimer.unref();
        this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
        return;
      }
    }
  }

  async caughtUp(): Promise<void> {
    const target = await this.#store.head();
    for (;;) {
      const checkpoint = await this.#store.state.get<ProjectionCheckpoint>(
        PROJECTION_NAMESPACE,
        checkpointKey(this.#projection.name),
      );
      if ((checkpoint?.value.position ?? 0) >= target) return;
      if (this.#error) throw this.#error;
      if (this.#closed) throw new AgentbusError('CLOSED', `projection ${this.#projection.name} was stopped`);
      const cycle = new Promise<void>((resolve) => this.#cycleWaiters.push(resolve));
      this.kick();
      await cycle;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopFeed?.();
    clearTimeout(this.#retryTimer);
    await this.#running;
  }
}

/** Creates `bus.projections` on `store`. */
export function createProjections(store: EventStore, now: () => number): Projections & { close(): Promise<void> } {
  const running = new Map<string, { projection: Projection<unknown>; runner: ProjectionRunner<unknown> }>();

  const readState = async <S>(name: string): Promise<S | undefined> =>
    (await store.state.get<S>(PROJECTION_NAMESPACE, modelKey(validateProjectionName(name))))?.value;

  return {
    async start<S>(projection: Projection<S>): Promise<RunningProjection<S>> {
      if (!isProjection(projection)) throw invalidField('OPTIONS_INVALID', 'projection', 'must come from defineProjection');
      const name = projection.name;
      if (running.has(name)) throw invalidField('OPTIONS_INVALID', 'projection', `${name} already runs in this process`);
      const runner = new ProjectionRunner(store, projection, now);
      running.set(name, { projection: projection as Projection<unknown>, runner: runner as ProjectionRunner<unknown> });
      await runner.start();
      return {
        name,
        state: async () => (await readState<S>(name)) ?? projection.init(),
        caughtUp: () => runner.caughtUp(),
        close: async () => {
          if (running.get(name)?.runner === runner) running.delete(name);
          await runner.close();
        },
      };
    },
    state: readState,
    list: () => listProjections(store),
    get: async (name) => getProjectionInfo(store, validateProjectionName(name)),
    async rebuild<S>(projection: Projection<S> | string, options: RebuildOptions = {}): Promise<RebuildResult<S>> {
      let definition: Projection<S>;
      if (typeof projection === 'string') {
        const entry = running.get(validateProjectionName(projection));
        if (!entry) throw notFound(projection);
        definition = entry.projection as Projection<S>;
      } else if (isProjection(projection)) {
        definition = projection;
      } else {
        throw invalidField('OPTIONS_INVALID', 'projection', 'must be a name or come from defineProjection');
      }
      const result = await rebuildProjection(store, definition, now, options.onProgress);
      running.get(definition.name)?.runner.kick();
      return result;
    },
    reset: async (name) => resetProjection(store, validateProjectionName(name), now),
    delete: async (name) => deleteProjection(store, validateProjectionName(name)),
    async close() {
      const runners = [...running.values()].map((r) => r.runner);
      running.clear();
      await Promise.all(runners.map((r) => r.close()));
    },
  };
}
