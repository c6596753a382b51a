/**
 * Acknowledgements sent together, once per turn of the event loop.
 *
 * nats.js writes its outbound buffer to the socket in a microtask queued by the first command
 * after a write. A dispatcher settles its deliveries one by one, each in a microtask chain of
 * its own, so each `+ACK` went out in a write (and a server wake-up) of its own: one socket
 * write per event, the largest single cost of a delivery. Queued here and published together
 * in `setImmediate`, the acks of a whole fetched batch leave in one write.
 *
 * Only acks are batched: a delivery is settled (and its lease checked) when `ack` is called,
 * the send follows within the same turn of the event loop (at once when the lease is about to end). `flush()` sends what is queued at
 * once (before a consumer closes or the connection drains).
 */
import type { Msg } from '@nats-io/transport-node';

const ACK = new TextEncoder().encode('+ACK');

export class AckBatch {
  #queue: Msg[] = [];
  #scheduled = false;

  /**
   * Queues `+ACK` for `msg`, sent within this turn of the event loop; with `urgent` (a lease
   * about to end) it is sent at once, so no wait here can carry it past the server's deadline.
   */
  ack(msg: Msg, urgent = false): void {
    if (urgent) {
      msg.respond(ACK);
      return;
    }
    this.#queue.push(msg);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Sends every queued ack now. */
  readonly flush = (): void => {
    this.#scheduled = false;
    const queue = this.#queue;
    if (queue.length === 0) return;
    this.#queue = [];
    for (const msg of queue) {
      try {
        msg.respond(ACK);
      } catch {
        // The connection is closed: the server redelivers after ack_wait (at least once).
      }
    }
  };
}
