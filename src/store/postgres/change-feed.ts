/**
 * Wake-ups across processes with LISTEN/NOTIFY. A notification only says "look again": it
 * carries the writer's id and the log head, never data, and every reader reads the tables.
 * Notifications can be lost (a dropped listener connection, a failover), so the feed checks
 * the log head on reconnect and every few seconds while anything listens; that check is one
 * indexed read of a one-row table, never a write.
 */
import type { Client, ClientConfig, Notification } from 'pg';
import type { PgModule } from './connection.js';

/** Called with the log's head after events were appended (or deliveries became due). */
export type ChangeListener = (head: number) => void;

/** How often the log head is checked for notifications that got lost. */
export const SAFETY_CHECK_MS = 5_000;
const RECONNECT_MS = [100, 500, 1_000, 2_000, 5_000];

export class PostgresChangeFeed {
  readonly #listeners = new Set<ChangeListener>();
  #client: Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reconnect: NodeJS.Timeout | undefined;
  #failures = 0;
  #head = 0;
  #closed = false;

  constructor(
    private readonly pg: PgModule,
    private readonly config: ClientConfig,
    private readonly channel: string,
    /** This store's id: its own notifications are skipped (its listeners are called directly). */
    private readonly instance: string,
    private readonly readHead: () => Promise<number>,
    private readonly safetyCheckMs: number = SAFETY_CHECK_MS,
  ) {}

  /** The payload of this store's notifications. */
  payload(head: number): string {
    return `${this.instance} ${head}`;
  }

  onAppend(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1 && !this.#closed) this.#start();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stop();
    };
  }

  /** Tells this process's listeners (after a commit of this store). */
  fire(head: number): void {
    this.#head = Math.max(this.#head, head);
    for (const listener of [...this.#listeners]) listener(this.#head);
  }

  /** Stops listening for good. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#stop();
  }

  #start(): void {
    this.#timer ??= setInterval(() => void this.#check(), this.safetyCheckMs);
    this.#timer.unref();
    void this.#connect();
  }

  async #stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#reconnect) clearTimeout(this.#reconnect);
    this.#timer = undefined;
    this.#reconnect = undefined;
    const client = this.#client;
    this.#client = undefined;
    if (client) await client.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    if (this.#client || this.#closed || this.#listeners.size === 0) return;
    const client = new this.pg.Client(this.config);
    this.#client = client;
    const lost = () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.end().catch(() => {});
      this.#scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (message: Notification) => this.#notified(message));
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
      this.#failures = 0;
    } catch {
      lost();
      return;
    }
    if (this.#client !== client) {
      await client.end().catch(() => {});
      return;
    }
    // Whatever was committed while no connection listened is picked up now.
    await this.#check(true);
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#listeners.size === 0 || this.#reconnect) return;
    const delay = RECONNECT_MS[Math.min(this.#failures++, RECONNECT_MS.length - 1)] as number;
    this.#reconnect = setTimeout(() => {
      this.#reconnect = undefined;
      void this.#connect();
    }, delay);
    this.#reconnect.unref();
  }

  #notified(message: Notification): void {
    if (message.channel !== this.channel) return;
    const [writer, head] = (message.payload ?? '').split(' ');
    if (writer === this.instance) return;
    this.fire(Number(head) || this.#head);
  }

  /** Reads the head; wakes listeners when it moved (or always, after a reconnect). */
  async #check(always = false): Promise<void> {
    if (this.#listeners.size === 0 || this.#closed) return;
    let head: number;
    try {
      head = await this.readHead();
    } catch {
      return;
    }
    if (always || head > this.#head) this.fire(head);
  }
}
