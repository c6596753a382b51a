export { createNatsTransport } from './nats-transport.js';
export { durableName, subjectOf, subscriptionOfDurable, topicOf } from './names.js';
export type { NatsTransport } from './nats-transport.js';
export type { NatsRecorderOptions, NatsTransportOptions, NatsTransportStatus } from './options.js';
