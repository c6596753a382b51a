/**
 * Durable timers: an event to append at a due time, kept in the store's state area
 * (namespace `timers`), so timeouts and delayed events survive restarts.
 *
 * - Fired exactly once across processes: firing deletes the timer with compare-and-set and
 *   appends its event in one store transaction; whoever deletes it appends it.
 * - Never early: a timer fires only when the bus clock has reached its due time.
 * - One in-memory `setTimeout` for the earliest timer, no polling loop. Timers set in this
 *   process re-arm it directly; timers set by another process are noticed through the
 *   store's change feed (which also has its own slow safety check), throttled to one scan
 *   per {@link RESCAN_THROTTLE_MS}.
 */
import type { Envelope, PublishInput } from '../envelope/envelope.js';
import { isEventId } from '../envelope/ids.js';
import { type EnvelopeLimits, type EnvelopeWithText, parseEnvelopeWithText } from '../envelope/validate.js';
import { parseTimestamp } from '../envelope/timestamp.js';
import { AgentbusError, invalidField } from '../errors.js';
import type { AppendItem, EventStore, StateArea, StoreTransaction } from '../store/event-store.js';
import { type Clock, MAX_TIME_MS, parseDuration } from '../time.js';
import { Outbox, type OutboxStatus } from './outbox.js';

/** State-area namespace of the timers. */
export const TIMERS_NAMESPACE = 'timers';
/** Most often a process re-scans the timers after a commit of another process (ms). */
export const RESCAN_THROTTLE_MS = 100;
/** Longest single `setTimeout` (Node's limit is 2^31 - 1 ms); longer waits re-arm. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A timer as the state area keeps it (snake_case, like the wire). */
export interface TimerValue {
  /** Due time, ms since the epoch. */
  readonly due_at: number;
  /** The event appended when the timer fires. */
  readonly envelope: Envelope;
}

/** A timer to set: the event to append, and when. */
export interface TimerInput {
  /** When to append the event: ms since the epoch, a Date, or an RFC 3339 time. */
  readonly dueAt: number | Date | string;
  /**
   * The event, a whole envelope (as `createEnvelope` returns it); its id makes the timer's
   * key, so setting the same timer twice keeps one.
   */
  readonly envelope: unknown;
}

/** A timer not fired yet, as `bus.timers` lists it. */
export interface PendingTimer {
  /** The timer's key: its due time and event id (`001764426600000/evt-...`); what cancel takes. */
  readonly key: string;
  /** Due time, ms since the epoch. */
  readonly dueAt: number;
  /** The event appended when the timer fires. */
  readonly envelope: Envelope;
}

/** A timer the runtime built itself (valid by construction). */
export interface ValidTimer {
  readonly dueAt: number;
  readonly item: AppendItem;
}

/**
 * The key of a timer: its due time (zero-padded, so keys sort by due time) and its event id.
 * @example timerKey(1764426600000, 'evt-1') // "001764426600000/evt-1"
 */
export function timerKey(dueAt: number, eventId: string): string {
  return `${String(Math.max(0, Math.trunc(dueAt))).padStart(15, '0')}/${eventId}`;
}

/**
 * Sets a timer inside your own store transaction (`tx.state`), atomically with your other
 * writes: the event is appended when due, by a process of the bus that fires timers (one
 * that subscribes, `agentbus run` or `agentbus serve`). Returns the timer's key, for
 * {@link cancelTimer}. Setting a timer that exists already changes nothing.
 *
 * @throws AgentbusError `OPTIONS_INVALID` naming `dueAt`, or `ENVELOPE_INVALID` naming the
 *   envelope's field; nothing is written.
 * @example
 * await store.transaction(async (tx) => {
 *   await tx.state.put('orders', 'o-1', { status: 'awaiting-payment' }, 'absent')
 *   const key = await putTimer(tx.state, { dueAt: Date.now() + 15 * 60_000, envelope: createEnvelope({ topic: 'orders', type: 'PaymentTimedOut' }) })
 * })
 */
export async function putTimer(state: StateArea, timer: TimerInput, limits?: EnvelopeLimits): Promise<string> {
  const raw = timer?.dueAt;
  const dueAt = raw instanceof Date ? raw.getTime() : typeof raw === 'string' ? parseTimestamp(raw) : raw;
  if (typeof dueAt !== 'number' || !Number.isFinite(dueAt) || dueAt < 0 || dueAt > MAX_TIME_MS) {
    throw invalidField('OPTIONS_INVALID', 'dueAt', 'must be ms since the epoch, a Date or an RFC 3339 time, in years 1970-9999');
  }
  return setTimer(state, { dueAt, item: parseEnvelopeWithText(timer.envelope, limits) });
}

/** {@link putTimer} for a timer the runtime built (no validation). */
export async function setTimer(state: StateArea, timer: ValidTimer): Promise<string> {
  const key = timerKey(timer.dueAt, timer.item.envelope.event.id);
  if (await state.get(TIMERS_NAMESPACE, key)) return key;
  const value: TimerValue = { due_at: timer.dueAt, envelope: timer.item.envelope };
  await state.put(TIMERS_NAMESPACE, key, value, 'absent');
  return key;
}

/**
 * Deletes a timer by key from `state` (inside your own transaction: `tx.state`); false when
 * it already fired or was cancelled.
 * @throws AgentbusError `OPTIONS_INVALID` naming `key` when it is not a timer key.
 */
export function cancelTimer(state: StateArea, key: string): Promise<boolean> {
  if (typeof key !== 'string' || !TIMER_KEY.test(key)) {
    return Promise.reject(invalidField('OPTIONS_INVALID', 'key', 'must be a timer key as putTimer returns it'));
  }
  return state.delete(TIMERS_NAMESPACE, key);
}

const TIMER_KEY = /^\d{15}\/./;

/**
 * True for a timer key as {@link timerKey} makes it: 15 digits of due time, `/`, an event id.
 * @example isTimerKey('001764426600000/evt-1') // true
 */
export function isTimerKey(value: unknown): value is string {
  return typeof value === 'string' && /^\d{15}\//.test(value) && isEventId(value.slice(16));
}

/** `value` when it is a timer key. @throws AgentbusError `OPTIONS_INVALID` naming `field` */
export function validateTimerKey(value: unknown, field = 'key'): string {
  if (!isTimerKey(value)) {
    throw invalidField(
      'OPTIONS_INVALID',
      field,
      'must be a timer key as bus.timers.list() gives it: 15 digits of due time, "/", the event id (001764426600000/evt-...)',
    );
  }
  return value;
}

/** The delay options of `bus.publish`: at most one of them. */
export interface DelayOptions {
  /** Append the event this long from now (`"30s"`, `"2h"`, or ms). */
  delay?: string | number;
  /** Append the event at this instant (RFC 3339, Date, or ms since the epoch). */
  deliverAt?: string | number | Date;
}

/**
 * The due time of a delayed publish, or undefined for an immediate one.
 * @throws AgentbusError `ENVELOPE_INVALID` naming `delay` or `deliverAt`.
 */
export function resolveDueAt(options: DelayOptions, now: number): number | undefined {
  const { delay, deliverAt } = options;
  if (delay !== undefined && deliverAt !== undefined) {
    throw invalidField('ENVELOPE_INVALID', 'delay', 'give either delay or deliverAt, not both');
  }
  if (delay !== undefined) {
    const ms = parseDuration(delay);
    if (typeof ms !== 'number') throw invalidField('ENVELOPE_INVALID', 'delay', ms.error);
    if (now + ms > MAX_TIME_MS) throw invalidField('ENVELOPE_INVALID', 'delay', 'ends after the year 9999');
    return now + ms;
  }
  if (deliverAt === undefined) return undefined;
  const at =
    deliverAt instanceof Date
      ? deliverAt.getTime()
      : typeof deliverAt === 'number'
        ? deliverAt
        : typeof deliverAt === 'string'
          ? parseTimestamp(deliverAt)
          : undefined;
  if (at === undefined || !Number.isFinite(at) || at < 0 || at > MAX_TIME_MS) {
    throw invalidField(
      'ENVELOPE_INVALID',
      'deliverAt',
      'must be an RFC 3339 time, a Date or ms since the epoch, in years 1970-9999',
    );
  }
  return at;
}

/**
 * The timers of one bus: sets them, fires them when due, and wakes up for timers that
 * other processes set. Reach it as `bus.timers`.
 */
export class Timers {
  readonly clock: Clock;
  readonly #store: EventStore;
  readonly #create: (input: PublishInput) => EnvelopeWithText;
  readonly #relay: (items: readonly AppendItem[]) => Promise<unknown>;
  readonly #outbox: Outbox | undefined;
  #timer: NodeJS.Timeout | undefined;
  #armedFor: number | undefined;
  #unsubscribe: (() => void) | undefined;
  #firing: Promise<number> | undefined;
  /** The one round queued behind {@link #firing} for the calls made while it runs. */
  #queued: Promise<number> | undefined;
  #again = false;
  #throttle: NodeJS.Timeout | undefined;
  #closed = false;
  #fired = 0;

  /** @internal the bus creates it */
  constructor(
    store: EventStore,
    clock: Clock,
    create: (input: PublishInput) => EnvelopeWithText,
    relay: (items: readonly AppendItem[]) => Promise<unknown> = async () => {},
    /** The transport keeps a log of its own (NATS): relay through the outbox. */
    outbox?: { readonly onStatus: (status: OutboxStatus) => void },
  ) {
    this.#store = store;
    this.clock = clock;
    this.#create = create;
    this.#relay = relay;
    this.#outbox = outbox ? new Outbox(store, clock, relay, outbox.onStatus) : undefined;
  }

  /**
   * Inside a store transaction: appends events that must also reach the transport (fired
   * timers, workflow effects) and, for a transport with a log of its own, records them in
   * the outbox in the same transaction. Hand them to {@link relay} after the commit.
   */
  async append(tx: StoreTransaction, items: readonly AppendItem[]): Promise<void> {
    if (items.length === 0) return;
    await tx.append(items);
    await this.#outbox?.record(tx.state, items);
  }

  /**
   * Hands events committed by {@link append} to the transport too. A no-op for the
   * store-backed transport (the append is idempotent by id); a transport with its own log
   * (NATS) delivers them from there, and a publish that fails is retried from the outbox
   * (reported as `outbox_retry`), not thrown.
   */
  relay(items: readonly AppendItem[]): Promise<unknown> {
    if (items.length === 0) return Promise.resolve();
    return this.#outbox ? this.#outbox.relay(items) : this.#relay(items);
  }

  /** Publishes what the outbox holds from earlier processes (runs when timers start). */
  drainOutbox(): Promise<number> {
    return this.#outbox ? this.#outbox.drain() : Promise.resolve(0);
  }

  /** How many timers this process fired (won the race for) since the bus opened. */
  get fired(): number {
    return this.#fired;
  }

  /** True once {@link start} ran: this process fires due timers. */
  get running(): boolean {
    return this.#unsubscribe !== undefined;
  }

  /**
   * Makes this process fire due timers (the bus starts it on `subscribe` and on a delayed
   * publish). Idempotent.
   */
  start(): void {
    if (this.#closed || this.#unsubscribe) return;
    this.#unsubscribe = this.#store.changes.onAppend(() => this.#rescanSoon());
    this.wake();
    void this.drainOutbox().catch(() => {
      // The store is unavailable or closing; the outbox keeps its records for the next start.
    });
  }

  /**
   * Builds and validates `input` now (a refusal writes nothing) and sets a timer that
   * appends it at `dueAt`. Its `event.timestamp` is the due time unless given.
   */
  async publishAt(input: PublishInput, dueAt: number): Promise<Envelope> {
    const item = this.#create({ ...input, timestamp: input.timestamp ?? new Date(dueAt).toISOString() });
    await setTimer(this.#store.state, { dueAt, item });
    this.start();
    this.wake();
    return item.envelope;
  }

  /** Builds an event to give to {@link putTimer} (inside a transaction). */
  prepare(input: PublishInput): AppendItem {
    return this.#create(input);
  }

  /** Timers not fired yet, earliest first (streamed: stop early to read only the first ones). */
  async *list(): AsyncIterable<PendingTimer> {
    for await (const record of this.#store.state.list<TimerValue>(TIMERS_NAMESPACE)) {
      yield { key: record.key, dueAt: record.value.due_at, envelope: record.value.envelope };
    }
  }

  /**
   * The timer of `key`; undefined when it fired, was cancelled or never existed.
   * @throws AgentbusError `OPTIONS_INVALID` naming `key` when it is not a timer key
   */
  async get(key: string): Promise<PendingTimer | undefined> {
    const record = await this.#store.state.get<TimerValue>(TIMERS_NAMESPACE, validateTimerKey(key));
    return record && { key, dueAt: record.value.due_at, envelope: record.value.envelope };
  }

  /** Cancels a timer by key; false when it fired or was cancelled already. */
  cancel(key: string): Promise<boolean> {
    return cancelTimer(this.#store.state, key);
  }

  /**
   * Cancels several timers together, in one store transaction: when any of them is no longer
   * pending (it fired, was cancelled, or never existed), none is cancelled.
   * @returns the timers cancelled, in the order given.
   * @throws AgentbusError `OPTIONS_INVALID` naming `keys[i]` for a key that is not a timer key
   *   or is given twice; `NOT_FOUND` naming every key that is not pending. Nothing is
   *   cancelled then.
   * @example const [timer] = await bus.timers.cancelMany(['001764426600000/evt-1'])
   */
  async cancelMany(keys: readonly string[]): Promise<PendingTimer[]> {
    if (!Array.isArray(keys) || keys.length === 0) {
      throw invalidField('OPTIONS_INVALID', 'keys', 'give one or more timer keys');
    }
    const seen = new Set<string>();
    keys.forEach((key, i) => {
      validateTimerKey(key, `keys[${i}]`);
      if (seen.has(key)) throw invalidField('OPTIONS_INVALID', `keys[${i}]`, `${key} is given twice`);
      seen.add(key);
    });
    const notPending = (missing: readonly string[]) =>
      new AgentbusError(
        'NOT_FOUND',
        `no pending timer ${missing.join(', ')} (fired or cancelled already, or never set); nothing was cancelled`,
        { field: 'keys', missing },
      );
    return this.#store.transaction(async (tx) => {
      const found: Array<PendingTimer & { version: number }> = [];
      const missing: string[] = [];
      for (const key of keys) {
        const record = await tx.state.get<TimerValue>(TIMERS_NAMESPACE, key);
        if (record) found.push({ key, dueAt: record.value.due_at, envelope: record.value.envelope, version: record.version });
        else missing.push(key);
      }
      if (missing.length > 0) throw notPending(missing);
      // Compare-and-set, as firing does: a timer another process fired meanwhile is not
      // reported cancelled (the throw rolls the others back).
      for (const timer of found) {
        if (!(await tx.state.delete(TIMERS_NAMESPACE, timer.key, timer.version))) throw notPending([timer.key]);
      }
      return found.map(({ version: _version, ...timer }) => timer);
    });
  }

  /** Re-reads the earliest timer and fires or re-arms (call after setting timers in a transaction). */
  wake(): void {
    if (this.#closed || !this.#unsubscribe) return;
    void this.fireDue().catch(() => {
      // The store is unavailable or closing; the next wake-up or change notification retries.
    });
  }

  /**
   * Fires every timer due by the bus clock, then arms one `setTimeout` for the next.
   * Resolves with how many this call fired (handy with a manual clock in tests).
   */
  fireDue(): Promise<number> {
    if (!this.#firing) return this.#startRound();
    // Calls made during a round share one round after it (it sees what they were called
    // for): never a round, or a promise, per call. One per call piled up without bound
    // whenever wake-ups came faster than rounds ended (PostgreSQL under load).
    this.#again = true;
    if (!this.#queued) {
      const next = () => {
        this.#queued = undefined;
        // A round started since (by a call after the current one ended) serves these calls.
        return this.#firing ?? this.#startRound();
      };
      this.#queued = this.#firing.then(next, next);
    }
    return this.#queued;
  }

  #startRound(): Promise<number> {
    const round = this.#fireLoop().finally(() => {
      if (this.#firing === round) this.#firing = undefined;
    });
    this.#firing = round;
    return round;
  }

  /** Stops firing in this process; the timers stay in the store. */
  close(): void {
    this.#closed = true;
    this.#outbox?.close();
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearTimeout(this.#timer);
    clearTimeout(this.#throttle);
  }

  async #fireLoop(): Promise<number> {
    let fired = 0;
    for (;;) {
      this.#again = false;
      const next = await this.#earliest();
      if (next === undefined) {
        this.#arm(undefined);
        return fired;
      }
      if (next.dueAt > this.clock.now()) {
        this.#arm(next.dueAt);
        if (!this.#again) return fired;
        continue;
      }
      if (await this.#fire(next.key)) {
        fired++;
        this.#fired++;
      }
      if (this.#closed) return fired;
    }
  }

  async #earliest(): Promise<{ key: string; dueAt: number } | undefined> {
    for await (const record of this.#store.state.list<TimerValue>(TIMERS_NAMESPACE)) {
      return { key: record.key, dueAt: record.value.due_at };
    }
    return undefined;
  }

  /** Deletes the timer and appends its event atomically; false when another process won. */
  async #fire(key: string): Promise<boolean> {
    const item = await this.#store.transaction(async (tx) => {
      const record = await tx.state.get<TimerValue>(TIMERS_NAMESPACE, key);
      if (!record || record.value.due_at > this.clock.now()) return undefined;
      await tx.state.delete(TIMERS_NAMESPACE, key, record.version);
      const { envelope } = record.value;
      const appended: AppendItem = { envelope, text: JSON.stringify(envelope) };
      await this.append(tx, [appended]);
      return appended;
    });
    if (!item) return false;
    await this.relay([item]);
    return true;
  }

  #arm(dueAt: number | undefined): void {
    if (dueAt === this.#armedFor && this.#timer) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = dueAt;
    if (dueAt === undefined || this.#closed || !this.#unsubscribe) return;
    // At least 1 ms: a timer that fires a little early by the clock re-arms for the rest.
    const wait = Math.min(MAX_TIMEOUT_MS, Math.max(1, dueAt - this.clock.now()));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#armedFor = undefined;
      this.wake();
    }, wait);
    // Timers never keep a process alive on their own; running subscriptions do.
    this.#timer.unref();
  }

  #rescanSoon(): void {
    if (this.#throttle || this.#closed) return;
    this.#throttle = setTimeout(() => {
      this.#throttle = undefined;
      this.wake();
    }, RESCAN_THROTTLE_MS);
    this.#throttle.unref();
  }
}
