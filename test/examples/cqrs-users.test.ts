/**
 * Runs examples/cqrs-users/main.mjs against the built package, as a reader of its README would.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const EXAMPLE = fileURLToPath(new URL('../../examples/cqrs-users/main.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

it('the cqrs-users example prints the command result, the query answer, the notification and the conflict', () => {
  expect(existsSync(DIST), 'run `npx tsc -p tsconfig.build.json` first').toBe(true);
  const run = spawnSync(process.execPath, [EXAMPLE], { encoding: 'utf8', timeout: 60_000 });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  expect(run.stdout.trim().split('\n')).toEqual([
    'CreateUserCommand -> {"id":"ada","version":1}',
    'UserCreatedEvent at version 1 of stream user-ada',
    'GetUserQuery -> {"id":"ada","name":"Ada Lovelace","email":"ada@example.com"}',
    'UserNotification (notification) -> Welcome, Ada Lovelace!',
    'CreateUserCommand again -> CONCURRENCY_CONFLICT: command CreateUserCommand: user ada already exists',
    'projection users: position 6, lag 0',
  ]);
});
