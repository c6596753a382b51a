/**
 * Non-fatal conditions, reported as typed status events rather than thrown: a handler
 * failed (and will be retried or dead-lettered), a settlement was refused, the backend was
 * unreachable for a moment.
 */

/** One status event. `type` tells which. */
export type BusStatus =
  | {
      readonly type: 'handler_failed';
      readonly subscription: string;
      readonly seq: number;
      readonly attempt: number;
      readonly reason: string;
      readonly message: string;
      readonly willRetry: boolean;
    }
  | { readonly type: 'settle_failed'; readonly subscription: string; readonly seq: number; readonly error: Error }
  | { readonly type: 'fetch_failed'; readonly subscription: string; readonly error: Error }
  | { readonly type: 'lease_renewal_failed'; readonly subscription: string; readonly error: Error }
  /** A fetched delivery was not started: its lease was taken over or lapsed while it waited. */
  | { readonly type: 'lease_lost'; readonly subscription: string; readonly seq: number }
  /**
   * Events committed with a workflow transition or a fired timer could not be published to
   * the transport's own log (NATS) yet; they stay in the outbox and are retried.
   */
  | { readonly type: 'outbox_retry'; readonly error: Error }
  /** A background prune (the `retention` option) deleted events; `heldBy` when something held it back. */
  | {
      readonly type: 'retention_pruned';
      readonly pruned: number;
      readonly firstRetained: number;
      readonly heldBy?: { readonly kind: string; readonly name: string; readonly seq: number };
    }
  /** A background prune failed; the next one (a timer away) tries again. */
  | { readonly type: 'retention_failed'; readonly error: Error };

/** Receives status events. */
export type StatusListener = (status: BusStatus) => void;
