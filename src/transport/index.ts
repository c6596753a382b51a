export { createStoreBackedTransport, DEFAULT_LEASE_MS } from './store-backed/store-backed-transport.js';
export type {
  ConsumerOptions,
  Delivery,
  SubscriptionBacklog,
  Transport,
  TransportConsumer,
  TransportSubscriptionAdmin,
} from './transport.js';
