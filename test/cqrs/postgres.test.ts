/**
 * The CQRS suite on PostgreSQL: one database per run (dropped afterwards), one fresh schema
 * per case.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { type TestDatabase, dropSchema, testPostgres } from '../support/postgres.js';
import { describeCqrsContract } from './cqrs.contract.js';

const server = await testPostgres();

describe.skipIf(!server.available)(`PostgreSQL ${server.skipReason}`, () => {
  let db: TestDatabase;
  let schemas = 0;
  beforeAll(async () => {
    db = await server.createDatabase('agentbus_cqrs');
  });
  afterAll(async () => {
    await db?.drop();
  });

  describeCqrsContract('postgres', async () => {
    const schema = `cqrs_${++schemas}`;
    const open = () => openPostgresStore({ url: db.url, schema, poolSize: 4 });
    const store = await open();
    return {
      store,
      open,
      dispose: async () => {
        await store.close();
        await dropSchema(db.url, schema);
      },
    };
  });
});
