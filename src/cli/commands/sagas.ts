/**
 * `agentbus sagas [ID]`: saga instances, and for one saga_id its state as the seed's saga
 * coordinator JSON (saga_id, current_step, status, completed_steps, compensation_stack).
 */
import type { Command } from 'commander';
import { AgentbusError } from '../../errors.js';
import { type SagaState, listSagas, sagaJson } from '../../workflows/index.js';
import { globalOptions, withBus } from '../context.js';
import { parseNonEmpty } from '../parse.js';
import { formatTimeColumn, note, printJson, writeLine } from '../output.js';
import { formatTable } from '../table.js';

/** A saga as `--json` prints it: the seed's fields first, then the runner's. */
export function sagaStateJson(s: SagaState) {
  return {
    ...sagaJson(s),
    saga: s.saga,
    compensated: s.compensated,
    ...(s.failure ? { failure: s.failure } : {}),
    started_at: s.started_at,
    updated_at: s.updated_at,
  };
}

/** The list of sagas: one row each. */
export function formatSagaList(sagas: readonly SagaState[]): string {
  const updated = formatTimeColumn(sagas.map((s) => s.updated_at));
  return formatTable(
    ['Saga ID', 'Saga', 'Current Step', 'Status', 'Completed Steps', 'Compensations', 'Updated'],
    sagas.map((s, i) => [
      s.saga_id,
      s.saga,
      String(s.current_step),
      s.status,
      s.completed_steps.map((c) => `${c.step}:${c.event}`).join(', ') || '-',
      (s.status === 'in_progress' ? s.compensation_stack : s.compensated).map((c) => `${c.step}:${c.compensate}`).join(', ') ||
        '-',
      updated[i] as string,
    ]),
  );
}

/** Adds `sagas` to `program`. */
export function registerSagas(program: Command): void {
  program
    .command('sagas')
    .summary("saga instances; with ID the seed's saga coordinator JSON")
    .description(
      "Without ID: a table of saga instances. With ID (a saga_id): its state as the seed's JSON { saga_id, current_step, status, completed_steps, compensation_stack }.",
    )
    .argument('[id]', 'saga_id', parseNonEmpty)
    .action(async (id: string | undefined, _flags: unknown, command: Command) => {
      const { target, json } = globalOptions(command);
      const sagas = await withBus(target, (bus) => listSagas(bus.store, id === undefined ? {} : { sagaId: id }), {
        mustExist: true,
      });
      if (id === undefined) {
        if (json) return printJson(sagas.map(sagaStateJson), true);
        if (sagas.length === 0) return note('no sagas');
        return writeLine(formatSagaList(sagas));
      }
      if (sagas.length === 0) throw new AgentbusError('NOT_FOUND', `no saga with saga_id ${id}`, { sagaId: id });
      if (json) return printJson(sagas.length === 1 ? sagaStateJson(sagas[0] as SagaState) : sagas.map(sagaStateJson), true);
      writeLine(sagas.map((s) => JSON.stringify(sagaJson(s), null, 2)).join('\n'));
    });
}
