/**
 * The EventStore and Transport contracts on PostgreSQL, against the real server: one
 * database per run (dropped afterwards), one fresh schema per case.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import type { Clock } from '../../src/time.js';
import { createStoreBackedTransport } from '../../src/transport/index.js';
import { type TestDatabase, dropSchema, testPostgres } from '../support/postgres.js';
import { describeEventStoreContract } from './event-store.contract.js';
import { describeTransportContract } from './transport.contract.js';

const server = await testPostgres();

describe.skipIf(!server.available)(`PostgreSQL ${server.skipReason}`, () => {
  let db: TestDatabase;
  let schemas = 0;
  beforeAll(async () => {
    db = await server.createDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function postgresStore(options: { clock?: Clock } = {}) {
    const schema = `contract_${++schemas}`;
    const store = await openPostgresStore({ url: db.url, schema, poolSize: 4, ...options });
    return {
      store,
      dispose: async () => {
        await store.close();
        await dropSchema(db.url, schema);
      },
    };
  }

  describeEventStoreContract('postgres', postgresStore);

  describeTransportContract('store-backed on postgres', async () => {
    const { store, dispose } = await postgresStore();
    const transport = createStoreBackedTransport(store);
    return {
      transport,
      store,
      dispose: async () => {
        await transport.close();
        await dispose();
      },
    };
  });
});
