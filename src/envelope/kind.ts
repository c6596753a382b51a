/**
 * The seed's four message kinds, recognised by the type's suffix.
 *
 * Pure.
 */
import type { EventKind } from './envelope.js';

/**
 * Infers a message kind from its type name: `...Command` is a command, `...Query` a query,
 * `...Notification` a notification, anything else an event. The match is case-sensitive.
 *
 * @example inferKind('CreateUserCommand') // "command"
 * @example inferKind('UserCreatedEvent') // "event"
 */
export function inferKind(type: string): EventKind {
  if (type.endsWith('Command')) return 'command';
  if (type.endsWith('Query')) return 'query';
  if (type.endsWith('Notification')) return 'notification';
  return 'event';
}
