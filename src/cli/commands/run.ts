/**
 * `agentbus run file.yaml`: runs a declarative workflow (agents, routes, aggregators, sagas)
 * on the database until Ctrl-C (SIGINT) or SIGTERM, then stops cleanly: running handlers
 * finish, durable subscriptions, instances and timers remain for the next run.
 */
import type { Command } from 'commander';
import { followEvents } from '../../bus/follow.js';
import { loadWorkflow, runWorkflow } from '../../workflows/index.js';
import { globalOptions, openBus } from '../context.js';
import type { StoredEvent } from '../../store/event-store.js';
import { note } from '../output.js';

/** A progress line of `agentbus run`: `  #seq HH:MM:SS.mmm type  source -> topic  [correlation_id]`. */
export function formatProgressLine({ seq, envelope: { event, routing } }: StoredEvent): string {
  return `  #${seq} ${event.timestamp.slice(11, 23)} ${event.type}  ${event.source} -> ${routing.topic}  [${event.correlation_id}]`;
}

/** Adds `run` to `program`. */
export function registerRun(program: Command): void {
  program
    .command('run')
    .summary('run a YAML workflow (agents, routes, aggregators, sagas) until Ctrl-C')
    .description(
      'Validates the workflow file (errors name the line and the YAML path), starts its agents, routes, aggregators, sagas and compensation coordinator on --db, and runs until SIGINT or SIGTERM. See docs/workflows.md.',
    )
    .argument('<file>', 'workflow file (YAML)')
    .option('--quiet', 'no progress line per event')
    .action(async (file: string, flags: { quiet?: boolean }, command: Command) => {
      const { target } = globalOptions(command);
      // Refuse a bad file before opening (or creating) the database.
      const workflow = await loadWorkflow(file);
      const { bus } = await openBus(target);
      let stopping: (() => void) | undefined;
      const stopped = new Promise<void>((resolve) => {
        stopping = resolve;
      });
      const onSignal = () => stopping?.();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const progress = new AbortController();
      let following: Promise<void> | undefined;
      try {
        const fromSeq = (await bus.store.head()) + 1;
        const running = await runWorkflow(bus, workflow);
        note(`agentbus: running ${workflow.name}: ${running.summary()} (Ctrl-C to stop)`);
        // Live progress: one line per event appended while the workflow runs.
        if (!flags.quiet) {
          following = followEvents(bus, {
            fromSeq,
            signal: progress.signal,
            onEvent: (e) => {
              // Heartbeats would drown the workflow's own events.
              if (e.envelope.event.type !== 'AgentHealthEvent') note(formatProgressLine(e));
            },
          });
        }
        await stopped;
        note('agentbus: stopping');
        await running.close();
      } finally {
        progress.abort();
        await following?.catch(() => {});
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await bus.close();
      }
    });
}
