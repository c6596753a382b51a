import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { describeCqrsContract } from './cqrs.contract.js';

describeCqrsContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-cqrs-'));
  const path = join(dir, 'agentbus.db');
  const store = await openSqliteStore({ path });
  return {
    store,
    open: () => openSqliteStore({ path }),
    dispose: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
