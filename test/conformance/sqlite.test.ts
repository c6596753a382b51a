import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Clock } from '../../src/time.js';
import { describeEventStoreContract } from './event-store.contract.js';
import { describeTransportContract } from './transport.contract.js';
import { createStoreBackedTransport } from '../../src/transport/index.js';

async function sqliteStore(options: { clock?: Clock } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-contract-'));
  const store = await openSqliteStore({ path: join(dir, 'agentbus.db'), ...options });
  return {
    store,
    dispose: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describeEventStoreContract('sqlite', sqliteStore);

describeTransportContract('store-backed on sqlite', async () => {
  const { store, dispose } = await sqliteStore();
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
