/**
 * Pull requests to one durable JetStream consumer, shaped for `TransportConsumer.fetch`:
 * "1..max as soon as any are available". nats.js's `fetch()` waits to fill its batch and its
 * `consume()` prefetches without bound, and JetStream 2.9 cannot cancel a pull request, so
 * this issues the two requests the server offers:
 *
 * - a `no_wait` request for up to `max` messages, answered at once (404 when there are none,
 *   408 after the last one);
 * - when that found nothing, one long poll for a single message (`expires`), which is the
 *   wake-up: the server answers it as soon as a message is available. At most one is
 *   outstanding, so a member never has more than one message in transit it did not ask for.
 *
 * A message that arrives for a long poll after its fetch returned (abort) is buffered for
 * the next fetch. No timer of ours polls: waiting is JetStream's own long poll.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { AgentbusError } from '../../errors.js';
import { CLOSE_DRAIN_MS, settlesWithin } from './bounded-wait.js';

/** How long the long poll waits at the server before it is renewed. @default 30000 */
export const DEFAULT_LONG_POLL_MS = 30_000;
/** Extra time granted to the server to answer a request before it is given up locally. */
const GRACE_MS = 5_000;

/** A message of a pull, stamped with the time it arrived (its lease runs from then). */
export interface Pulled {
  readonly msg: Msg;
  readonly receivedAt: number;
}

interface Request {
  readonly done: () => void;
  readonly timer: NodeJS.Timeout;
  /** Messages still to come: a request filled to its batch gets no closing status. */
  remaining: number;
}

export class Puller {
  readonly #nc: NatsConnection;
  readonly #api: string;
  readonly #longPollMs: number;
  readonly #inbox: string;
  readonly #sub: Subscription;
  readonly #buffer: Pulled[] = [];
  readonly #requests = new Map<string, Request>();
  #ids = 0;
  #longPoll: string | undefined;
  #waiters: Array<() => void> = [];
  #failure: AgentbusError | undefined;
  #closed = false;
  #giveBack: ((pulled: Pulled) => Promise<void> | void) | undefined;
  readonly #late: Array<Promise<void>> = [];
  readonly #connected: () => boolean;

  /**
   * @param connected whether the connection is up now (the transport follows its status); a
   *   close while it is down does not wait for the server. @default always true
   */
  constructor(
    nc: NatsConnection,
    inbox: string,
    stream: string,
    durable: string,
    longPollMs = DEFAULT_LONG_POLL_MS,
    connected: () => boolean = () => true,
  ) {
    this.#nc = nc;
    this.#connected = connected;
    this.#api = `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`;
    this.#longPollMs = longPollMs;
    this.#inbox = inbox;
    this.#sub = nc.subscribe(`${inbox}.*`, { callback: (_error, msg) => this.#receive(msg) });
  }

  /** Messages received and not yet handed out (they are leased to this member). */
  get buffered(): number {
    return this.#buffer.length;
  }

  /**
   * Resolves with 1..max messages as soon as any are available, or with [] when `signal`
   * aborts or the puller closes.
   * @throws AgentbusError `BACKEND_UNAVAILABLE` when the server refuses pulls (consumer deleted).
   */
  async pull(max: number, signal?: AbortSignal): Promise<Pulled[]> {
    while (!this.#closed && !signal?.aborted) {
      if (this.#buffer.length > 0) return this.#buffer.splice(0, max);
      this.#throwFailure();
      // With a long poll outstanding, its message is the news (and data messages carry no
      // request id, so only one request may be outstanding at a time).
      if (this.#longPoll === undefined) {
        await this.#noWait(max, signal);
        if (this.#buffer.length > 0) return this.#buffer.splice(0, max);
        this.#throwFailure();
        if (this.#closed || signal?.aborted) break;
        this.#longPoll = this.#send({ batch: 1, expires: this.#longPollMs * 1e6 }, 1, this.#longPollMs, () => {
          this.#longPoll = undefined;
        });
      }
      await this.#news(signal);
    }
    return [];
  }

  /**
   * Gives up the requests this member has outstanding and wakes a waiting fetch, which asks
   * afresh. For after a reconnect: the server that held them restarted (or this is another
   * server of the cluster), so no answer will come, and a fetch would otherwise wait for its
   * long poll's local deadline (`longPollMs` + 5 s) before asking again. A message still sent
   * for an old request is buffered like any other.
   */
  renew(): void {
    if (this.#closed) return;
    this.#endRequests();
  }

  /** Ends every waiting pull request (a fetch awaiting its answer returns []) and wakes the fetchers. */
  #endRequests(): void {
    const requests = [...this.#requests.values()];
    this.#requests.clear();
    for (const request of requests) {
      clearTimeout(request.timer);
      request.done();
    }
    this.#wakeAll();
  }

  /**
   * Stops pulling and gives back (through `giveBack`) every message this member holds unseen:
   * those buffered, and one already on its way when the member closed. Unsubscribing makes
   * the server drop this member's waiting pull request; draining the subscription keeps
   * receiving until the server has processed that, so a message it sent just before is
   * caught and given back at once instead of coming back only after ack_wait. The drain waits
   * for the server's answer at most {@link CLOSE_DRAIN_MS}, and not at all while the
   * connection is down (it would wait for a reconnect; the server dropped the request with the
   * connection anyway). Resolves once every message received was given back.
   */
  async close(giveBack: (pulled: Pulled) => Promise<void> | void): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#giveBack = giveBack;
    // A fetch awaiting a request's answer returns [] (what still comes is given back below).
    this.#endRequests();
    for (const pulled of this.#buffer.splice(0)) this.#late.push(this.#return(pulled));
    if (this.#connected()) await settlesWithin(this.#sub.drain(), CLOSE_DRAIN_MS);
    else this.#sub.unsubscribe();
    await Promise.all(this.#late);
  }

  async #return(pulled: Pulled): Promise<void> {
    try {
      await this.#giveBack?.(pulled);
    } catch {
      // The store or the connection is gone: the server redelivers after ack_wait.
    }
  }

  /**
   * A `no_wait` request for up to `max`, awaited until answered, or until `signal` aborts (a
   * member closing): then it is given up here, as no answer may come while the connection is
   * down, and a message it still brings is buffered like any other.
   */
  #noWait(max: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const giveUp = () => this.#finish(id);
      const id = this.#send({ batch: max, no_wait: true }, max, 0, () => {
        signal?.removeEventListener('abort', giveUp);
        resolve();
      });
      signal?.addEventListener('abort', giveUp, { once: true });
    });
  }

  /** Publishes a pull request; `done` runs once it is answered in full, or given up. */
  #send(body: object, batch: number, expiresMs: number, done: () => void): string {
    const id = String(++this.#ids);
    const timer = setTimeout(() => this.#finish(id), expiresMs + GRACE_MS);
    this.#requests.set(id, { done, timer, remaining: batch });
    this.#nc.publish(this.#api, JSON.stringify(body), { reply: `${this.#inbox}.${id}` });
    return id;
  }

  /** The one outstanding request's id (the oldest, should there ever be two). */
  #outstanding(): string | undefined {
    for (const id of this.#requests.keys()) return id;
    return undefined;
  }

  #finish(id: string): void {
    const request = this.#requests.get(id);
    if (!request) return;
    this.#requests.delete(id);
    clearTimeout(request.timer);
    request.done();
    this.#wakeAll();
  }

  #receive(msg: Msg): void {
    if (this.#closed) {
      // On its way before the server dropped our request (see close): give it back now.
      if (msg.reply) this.#late.push(this.#return({ msg, receivedAt: Date.now() }));
      return;
    }
    if (msg.reply) {
      this.#buffer.push({ msg, receivedAt: Date.now() });
      // Data messages carry no request id; at most one request is outstanding at a time.
      const id = this.#outstanding();
      const request = id === undefined ? undefined : this.#requests.get(id);
      if (id !== undefined && request && --request.remaining <= 0) this.#finish(id);
      this.#wakeAll();
      return;
    }
    // Status messages (no reply) are addressed to the request they end.
    const id = msg.subject.slice(this.#inbox.length + 1);
    const code = msg.headers?.code ?? 0;
    if (code === 100) return; // idle heartbeat
    if (code === 409 && !/Exceeded Max/i.test(msg.headers?.description ?? '')) {
      this.#failure = new AgentbusError(
        'BACKEND_UNAVAILABLE',
        `JetStream refused a pull on ${this.#api}: ${msg.headers?.description ?? 'conflict'}`,
        { api: this.#api },
      );
    }
    this.#finish(id);
  }

  #throwFailure(): void {
    const failure = this.#failure;
    if (failure) {
      this.#failure = undefined;
      throw failure;
    }
  }

  #news(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      if (signal?.aborted || this.#closed) return resolve();
      signal?.addEventListener('abort', wake, { once: true });
      this.#waiters.push(wake);
    });
  }

  #wakeAll(): void {
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
