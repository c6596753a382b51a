/**
 * `agentbus demo`: on a fresh temporary database, publishes the seed's example envelope,
 * runs a three-agent chain reaction and prints its correlation table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createBus } from '../../bus/index.js';
import type { StoredEvent } from '../../store/event-store.js';
import { globalOptions } from '../context.js';
import { SEED_EXAMPLE } from '../../envelope/index.js';
import { CHAIN_CORRELATION_ID, runChain } from '../demo-chain.js';
import { formatClockMillis, printJson, storedEventJson, writeLine } from '../output.js';
import { formatTable } from '../table.js';

/**
 * The seed's correlation table (`## Event Correlation`), with times as `HH:MM:SS.mmm`
 * (UTC) since the demo runs in milliseconds.
 */
export function formatCorrelationTable(correlationId: string, events: readonly StoredEvent[]): string {
  const rows = events.map(({ envelope: { event } }) => [
    formatClockMillis(event.timestamp),
    event.type,
    event.source,
    event.correlation_id,
  ]);
  return [
    '## Event Correlation',
    '',
    `**Correlation ID:** ${correlationId}`,
    '',
    formatTable(['Time', 'Event', 'Agent', 'Correlation ID'], rows),
  ].join('\n');
}

async function demoAction(flags: { keep?: boolean }, command: Command): Promise<void> {
  const { json } = globalOptions(command);
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-demo-'));
  const db = join(dir, 'agentbus.db');
  const say = (text: string) => {
    if (!json) writeLine(text);
  };
  try {
    say(`agentbus demo: fresh database ${db}\n`);
    const bus = await createBus({ path: db });
    try {
      say("1. The seed's example envelope, published with bus.publishEnvelope:\n");
      const example = await bus.publishEnvelope(structuredClone(SEED_EXAMPLE));
      if (!json) printJson(example, false);
      say(`\n2. A reactive chain: /product-strategist, /backend-architect and /python-pro subscribe to project.> and react:\n`);
      const chain = await runChain(bus, (event, causeType) => {
        const { source, type } = event.envelope.event;
        say(`  → ${source} published ${type}${causeType ? ` (caused by ${causeType})` : ' (root)'}`);
      });
      say(`\n${formatCorrelationTable(CHAIN_CORRELATION_ID, chain)}\n`);
      if (json) printJson({ database: db, kept: flags.keep === true, example, chain: chain.map(storedEventJson) }, true);
    } finally {
      await bus.close();
    }
  } finally {
    if (flags.keep) say(`kept ${db}; look at it with: agentbus events --db ${db}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** Adds `demo` to `program`. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .summary("run the seed's example and a three-agent chain on a temporary database")
    .description(
      "Run a demo on a fresh temporary database (ignores --db): publish the seed's example envelope, then a chain " +
        'FeatureStarted → UserStoryApproved → APIDesign* → Implementation* across three agents, and print its correlation table. ' +
        'With --json: one object {database, kept, example, chain}.',
    )
    .option('--keep', 'keep the temporary database instead of deleting it')
    .action(demoAction);
}
