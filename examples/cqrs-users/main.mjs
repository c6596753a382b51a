// CQRS in one file, as in the seed's Event Types table:
// CreateUserCommand -> UserCreatedEvent -> GetUserQuery, with a UserNotification.
// Usage: node examples/cqrs-users/main.mjs [database file]   (after `npm run build`)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBus } from '../../dist/index.js';
import { decideCreateUser, evolveUser, initialUser, usersProjection } from './users.mjs';

const temp = process.argv[2] ? undefined : mkdtempSync(join(tmpdir(), 'agentbus-cqrs-users-'));
const bus = await createBus({ path: process.argv[2] ?? join(temp, 'agentbus.db') });

// Command side: load the aggregate, decide, append with optimistic concurrency.
await bus.commands.register('CreateUserCommand', async (command) => {
  const stream = `user-${command.payload.id}`;
  const { state, version } = await bus.streams.load(stream, { init: initialUser, evolve: evolveUser });
  const events = decideCreateUser(state, command.payload);
  const next = await bus.streams.append(stream, events, { expectedVersion: version === 0 ? 'no_stream' : version });
  return { id: command.payload.id, version: next };
});

// Read side: a persistent projection, and a query answered from it.
const users = await bus.projections.start(usersProjection);
await bus.queries.register('GetUserQuery', async ({ id }) => (await bus.projections.state('users'))?.[id] ?? null);

// A reaction: every new user gets a UserNotification (kind notification).
const notified = new Promise((resolve) => {
  void bus.subscribe({
    name: '/notifier',
    topic: 'streams.user',
    filter: 'type=UserCreatedEvent',
    start: 'earliest',
    handler: async (event, ctx) => {
      const notification = await ctx.publish(
        'UserNotification',
        { user_id: event.payload.id, text: `Welcome, ${event.payload.name}!` },
        { topic: 'notifications' },
      );
      resolve(notification);
    },
  });
});

const created = await bus.commands.send(
  'CreateUserCommand',
  { id: 'ada', name: 'Ada Lovelace', email: 'ada@example.com' },
  { timeout: '10s' },
);
console.log(`CreateUserCommand -> ${JSON.stringify(created)}`);
const [stored] = await collect(bus.streams.read('user-ada'));
console.log(`${stored.envelope.event.type} at version ${stored.version} of stream ${stored.stream}`);

await users.caughtUp();
const user = await bus.queries.ask('GetUserQuery', { id: 'ada' }, { timeout: '5s' });
console.log(`GetUserQuery -> ${JSON.stringify(user)}`);

const notification = await notified;
console.log(`${notification.event.type} (${notification.event.kind}) -> ${notification.payload.text}`);

try {
  await bus.commands.send('CreateUserCommand', { id: 'ada', name: 'Ada again', email: 'ada@example.com' }, { timeout: '10s' });
} catch (error) {
  console.log(`CreateUserCommand again -> ${error.code}: ${error.message}`);
}

await users.caughtUp();
const [info] = await bus.projections.list();
console.log(`projection ${info.name}: position ${info.position}, lag ${info.lag}`);

await bus.close();
if (temp) rmSync(temp, { recursive: true, force: true });

async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}
