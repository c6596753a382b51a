// The user model of the example: a pure decider for the aggregate and the `users` projection.
// `agentbus projections rebuild users --module examples/cqrs-users/users.mjs` rebuilds it.
import { AgentbusError, defineProjection } from '../../dist/index.js';

/** The aggregate's state before any event. */
export const initialUser = () => ({ exists: false, name: null, email: null });

/** Pure: the user after one of its events. */
export function evolveUser(user, event) {
  switch (event.event.type) {
    case 'UserCreatedEvent':
      return { exists: true, name: event.payload.name, email: event.payload.email };
    default:
      return user;
  }
}

/** Pure: the events a CreateUserCommand produces, or a refusal. */
export function decideCreateUser(user, command) {
  if (user.exists) throw new AgentbusError('CONCURRENCY_CONFLICT', `user ${command.id} already exists`, { id: command.id });
  if (typeof command.email !== 'string' || !command.email.includes('@')) {
    throw new AgentbusError('OPTIONS_INVALID', 'email: must be an email address', { field: 'email' });
  }
  return [{ type: 'UserCreatedEvent', payload: { id: command.id, name: command.name, email: command.email } }];
}

/** The read model: users by id. */
export const usersProjection = defineProjection({
  name: 'users',
  topics: ['streams.user'],
  init: {},
  apply: (users, event) =>
    event.event.type === 'UserCreatedEvent' ? { ...users, [event.payload.id]: { ...event.payload } } : users,
});
