/**
 * Subscriptions whose positions the transport keeps rather than the store (NATS JetStream
 * consumers), as the status views read them: through the bus's transport, one engine read
 * per view (the transport shares it among views taken together). A bare store has none.
 */
import type { SubscriptionBacklog } from '../transport/transport.js';
import type { StoreSource } from './status.js';

/** The transport's subscription backlogs for `source` (a bus on NATS); [] for a store or a store-backed transport. */
export async function transportBacklog(source: StoreSource): Promise<SubscriptionBacklog[]> {
  if ('deliveries' in source) return [];
  const admin = source.transport?.subscriptions;
  return admin ? admin.backlog() : [];
}
