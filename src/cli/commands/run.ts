/**
 * `agentbus run file.yaml`: runs a declarative workflow (agents, routes, aggregators, sagas)
 * on the database until Ctrl-C (SIGINT) or SIGTERM, then stops cleanly: running handlers
 * finish, durable subscriptions, instances and timers remain for the next run.
 */
import type { Command } from 'commander';
import { createBus } from '../../bus/index.js';
import { loadWorkflow, runWorkflow } from '../../workflows/index.js';
import { busOptionsOf, globalOptions } from '../context.js';
import { note } from '../output.js';

/** Adds `run` to `program`. */
export function registerRun(program: Command): void {
  program
    .command('run')
    .summary('run a YAML workflow (agents, routes, aggregators, sagas) until Ctrl-C')
    .description(
      'Validates the workflow file (errors name the line and the YAML path), starts its agents, routes, aggregators, sagas and compensation coordinator on --db, and runs until SIGINT or SIGTERM. See docs/workflows.md.',
    )
    .argument('<file>', 'workflow file (YAML)')
    .action(async (file: string, _flags: unknown, command: Command) => {
      const { target } = globalOptions(command);
      // Refuse a bad file before opening (or creating) the database.
      const workflow = await loadWorkflow(file);
      const bus = await createBus((await busOptionsOf(target)).options);
      let stopping: (() => void) | undefined;
      const stopped = new Promise<void>((resolve) => {
        stopping = resolve;
      });
      const onSignal = () => stopping?.();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const running = await runWorkflow(bus, workflow);
        note(`agentbus: running ${workflow.name}: ${running.summary()} (Ctrl-C to stop)`);
        await stopped;
        note('agentbus: stopping');
        await running.close();
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await bus.close();
      }
    });
}
