/**
 * `agentbus aggregators [ID] [--correlation-id C]`: aggregator instances, and for one
 * aggregator the seed's status table (Event | Status | Received At) with its line
 * "Aggregation Status: 2/3 events received, waiting for TestPlanCompleted".
 */
import type { Command } from 'commander';
import { AgentbusError } from '../../errors.js';
import {
  type AggregatorInstance,
  aggregatorStatusLine,
  aggregatorStatusRows,
  listAggregatorInstances,
  statusCell,
} from '../../workflows/index.js';
import { globalOptions, withBus } from '../context.js';
import { parseNonEmpty } from '../parse.js';
import { formatTimeColumn, note, printJson, writeLine } from '../output.js';
import { formatTable } from '../table.js';

/** An instance as `--json` prints it (without the collected envelopes). */
export function aggregatorJson(instance: AggregatorInstance) {
  return {
    aggregator_id: instance.aggregator_id,
    correlation_id: instance.correlation_id,
    status: instance.status,
    status_line: aggregatorStatusLine(instance),
    received: instance.received.length,
    needed: instance.count,
    events: aggregatorStatusRows(instance),
    started_at: instance.started_at,
    updated_at: instance.updated_at,
    ...(instance.deadline ? { deadline: instance.deadline } : {}),
  };
}

/** The seed's status table and line of one instance. */
export function formatAggregatorStatus(instance: AggregatorInstance): string {
  const rows = aggregatorStatusRows(instance);
  const received = rows.flatMap((r) => (r.received_at ? [r.received_at] : []));
  const times = formatTimeColumn(received);
  const table = formatTable(
    ['Event', 'Status', 'Received At'],
    rows.map((r) => [r.event, statusCell(r), r.received_at ? (times[received.indexOf(r.received_at)] as string) : '-']),
  );
  return `${table}\n\nAggregation Status: ${aggregatorStatusLine(instance)}`;
}

/** The list of instances: one row each. */
export function formatAggregatorList(instances: readonly AggregatorInstance[]): string {
  const started = formatTimeColumn(instances.map((i) => i.started_at));
  // When a waiting instance gives up (its on_timeout event); none without a timeout.
  const deadlines = instances.flatMap((i) => (i.status === 'waiting' && i.deadline ? [i.deadline] : []));
  const deadlineCells = formatTimeColumn(deadlines);
  return formatTable(
    ['Aggregator', 'Correlation ID', 'Status', 'Received', 'Started', 'Deadline', 'Waiting For'],
    instances.map((i, n) => [
      i.aggregator_id,
      i.correlation_id,
      i.status,
      `${i.received.length}/${i.count}`,
      started[n] as string,
      i.status === 'waiting' && i.deadline ? (deadlineCells[deadlines.indexOf(i.deadline)] as string) : '-',
      i.status === 'waiting' ? (aggregatorStatusLine(i).split('waiting for ')[1] ?? '') : '-',
    ]),
  );
}

/** Adds `aggregators` to `program`. */
export function registerAggregators(program: Command): void {
  program
    .command('aggregators')
    .summary('aggregator instances and their status (2/3 events received, waiting for ...)')
    .description(
      "Without ID: a table of aggregator instances (one per correlation id). With ID: per instance the seed's table Event | Status | Received At and its Aggregation Status line.",
    )
    .argument('[id]', 'aggregator_id', parseNonEmpty)
    .option('--correlation-id <id>', 'only the instance of this correlation id', parseNonEmpty)
    .action(async (id: string | undefined, flags: { correlationId?: string }, command: Command) => {
      const { target, json } = globalOptions(command);
      const instances = await withBus(
        target,
        (bus) =>
          listAggregatorInstances(bus.store, {
            ...(id !== undefined ? { aggregatorId: id } : {}),
            ...(flags.correlationId !== undefined ? { correlationId: flags.correlationId } : {}),
          }),
        { mustExist: true },
      );
      if (json) return printJson(instances.map(aggregatorJson), true);
      if (instances.length === 0) {
        if (id === undefined && flags.correlationId === undefined) return note('no aggregator instances');
        const what = [id && `aggregator ${id}`, flags.correlationId && `correlation id ${flags.correlationId}`]
          .filter(Boolean)
          .join(', ');
        throw new AgentbusError('NOT_FOUND', `no aggregator instance for ${what}`, {
          aggregatorId: id,
          correlationId: flags.correlationId,
        });
      }
      if (id === undefined) return writeLine(formatAggregatorList(instances));
      writeLine(
        instances
          .map((i) => `Aggregator: ${i.aggregator_id}  Correlation ID: ${i.correlation_id}\n\n${formatAggregatorStatus(i)}`)
          .join('\n\n'),
      );
    });
}
