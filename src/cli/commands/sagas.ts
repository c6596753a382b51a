/**
 * `agentbus sagas [ID] [--status S]`: saga instances, and for one saga_id its state as the
 * seed's saga coordinator JSON (saga_id, current_step, status, completed_steps,
 * compensation_stack). `agentbus sagas cancel ID [--saga NAME] [--reason TEXT]` asks a
 * running saga to stop and compensate. Bad input exits 2; an unknown saga, or one that is
 * not running, exits 1; nothing is published on refusal.
 */
import { type Command, Help, InvalidArgumentError } from 'commander';
import { AgentbusError, invalidField } from '../../errors.js';
import {
  SAGA_STATUSES,
  type SagaState,
  type SagaStatus,
  cancelSaga,
  isSagaStatus,
  listSagas,
  sagaJson,
  sagaStateJson,
  validateSagaInput,
} from '../../workflows/index.js';
import { globalOptions, withBus } from '../context.js';
import { formatSeedJson, formatTimeColumn, note, printJson, writeLine } from '../output.js';
import { parseNonEmpty } from '../parse.js';
import { formatTable } from '../table.js';

function shorten(text: string, max = 48): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * Why a saga ended, for the table: the success event that completed it, or the failure
 * event, `timeout` or `cancelled` (with the cancel's reason) of the step that was running.
 */
export function endedBy(s: SagaState): string {
  if (s.status === 'in_progress') return '-';
  if (s.status === 'completed') {
    const last = s.completed_steps.at(-1);
    return last ? `step ${last.step}: ${last.event}` : '-';
  }
  if (!s.failure) return '-';
  const why = s.failure.message === undefined ? s.failure.reason : `${s.failure.reason}: ${s.failure.message}`;
  return shorten(`step ${s.failure.step}: ${why}`);
}

/** The list of sagas: one row each. */
export function formatSagaList(sagas: readonly SagaState[]): string {
  const updated = formatTimeColumn(sagas.map((s) => s.updated_at));
  return formatTable(
    ['Saga ID', 'Saga', 'Current Step', 'Status', 'Completed Steps', 'Compensations', 'Ended By', 'Updated'],
    sagas.map((s, i) => [
      s.saga_id,
      s.saga,
      String(s.current_step),
      s.status,
      s.completed_steps.map((c) => `${c.step}:${c.event}`).join(', ') || '-',
      (s.status === 'in_progress' ? s.compensation_stack : s.compensated).map((c) => `${c.step}:${c.compensate}`).join(', ') ||
        '-',
      endedBy(s),
      updated[i] as string,
    ]),
  );
}

function parseStatus(value: string): SagaStatus {
  if (isSagaStatus(value)) return value;
  throw new InvalidArgumentError(`Must be one of ${SAGA_STATUSES.join(', ')}.`);
}

/** The one running instance `cancel` means, or why there is none. */
function runningOne(sagaId: string, saga: string | undefined, found: readonly SagaState[]): SagaState {
  const where = saga === undefined ? `saga_id ${sagaId}` : `saga ${saga}/${sagaId}`;
  if (found.length === 0) throw new AgentbusError('NOT_FOUND', `no saga with ${where}; nothing was published`, { sagaId });
  const running = found.filter((s) => s.status === 'in_progress');
  if (running.length === 0) {
    const states = found.map((s) => `saga ${s.saga}/${s.saga_id} is ${s.status}`).join(', ');
    throw new AgentbusError(
      'CONCURRENCY_CONFLICT',
      `${states} already: only an in_progress saga can be cancelled; nothing was published`,
      { sagaId, sagaStatus: found[0]?.status },
    );
  }
  if (running.length > 1) {
    throw invalidField(
      'OPTIONS_INVALID',
      '--saga',
      `saga_id ${sagaId} is running in ${running.length} sagas (${running.map((s) => s.saga).join(', ')}): name one`,
    );
  }
  return running[0] as SagaState;
}

async function cancel(sagaId: string, flags: { saga?: string; reason?: string }, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  // Refuse bad input before opening the database, naming the flag.
  if (command.parent?.getOptionValue('status') !== undefined) {
    throw invalidField('OPTIONS_INVALID', '--status', 'narrows the list of agentbus sagas; sagas cancel does not take it');
  }
  validateSagaInput(
    { sagaId, ...(flags.saga === undefined ? {} : { saga: flags.saga }), reason: flags.reason },
    { saga: '--saga', sagaId: 'saga_id', reason: '--reason' },
  );
  const asked = await withBus(
    target,
    async (bus) => {
      const found = await listSagas(bus.store, { sagaId, ...(flags.saga === undefined ? {} : { saga: flags.saga }) });
      const instance = runningOne(sagaId, flags.saga, found);
      return cancelSaga(bus, instance.saga, sagaId, flags.reason === undefined ? {} : { reason: flags.reason });
    },
    { mustExist: true },
  );
  if (json) {
    return printJson({ instance: sagaStateJson(asked.instance), request: asked.request, repeated: asked.repeated }, true);
  }
  const { instance, request } = asked;
  const label = `${instance.saga}/${instance.saga_id}`;
  writeLine(
    asked.repeated
      ? `${label}: cancel already requested at ${request.event.timestamp} (${request.event.id}); its runner has not handled it yet`
      : `${label}: cancel requested at step ${instance.current_step} (${request.event.id}); its runner publishes the compensations`,
  );
}

/** Adds `sagas` and `sagas cancel` to `program`. */
export function registerSagas(program: Command): void {
  const sagas = program
    .command('sagas')
    .summary("saga instances; with ID the seed's saga coordinator JSON; cancel")
    .description(
      "Without ID: a table of saga instances (--status narrows it). With ID (a saga_id): its state as the seed's JSON { saga_id, current_step, status, completed_steps, compensation_stack }. `sagas cancel ID` asks a running saga to stop and compensate.",
    )
    .argument('[id]', 'saga_id', parseNonEmpty)
    .option('--status <status>', `only sagas with this status: ${SAGA_STATUSES.join(', ')}`, parseStatus)
    .action(async (id: string | undefined, flags: { status?: SagaStatus }, command: Command) => {
      const { target, json } = globalOptions(command);
      const filter = {
        ...(id === undefined ? {} : { sagaId: id }),
        ...(flags.status === undefined ? {} : { status: flags.status }),
      };
      const found = await withBus(target, (bus) => listSagas(bus.store, filter), { mustExist: true });
      if (id === undefined) {
        if (json) return printJson(found.map(sagaStateJson), true);
        if (found.length === 0) return note(flags.status === undefined ? 'no sagas' : `no ${flags.status} sagas`);
        return writeLine(formatSagaList(found));
      }
      if (found.length === 0) {
        const what = flags.status === undefined ? '' : ` and status ${flags.status}`;
        throw new AgentbusError('NOT_FOUND', `no saga with saga_id ${id}${what}`, { sagaId: id });
      }
      if (json) return printJson(found.length === 1 ? sagaStateJson(found[0] as SagaState) : found.map(sagaStateJson), true);
      writeLine(found.map((s) => formatSeedJson(sagaJson(s))).join('\n'));
    });
  sagas
    .command('cancel')
    .summary('ask a running saga to stop: its runner publishes the stacked compensations')
    .description(
      "Publishes SagaCancelRequested for the running saga with this saga_id, on the topic where the saga hears its timeouts. The saga's runner (agentbus run, or your process) handles it like a failure of the current step: it publishes the stacked compensations, top first, and ends the saga compensated (failed when there was nothing to undo) with failure reason 'cancelled'. Refused (exit 1, nothing published) when there is no such saga or it is not in_progress.",
    )
    .argument('<saga_id>', 'saga_id of the running saga', parseNonEmpty)
    .option('--saga <name>', 'the saga definition, when several running sagas share the saga_id', parseNonEmpty)
    .option('--reason <text>', 'why; kept as failure.message', parseNonEmpty)
    // The list's --status is the parent's option: commander would show it here as a global one.
    .configureHelp({
      showGlobalOptions: true,
      visibleGlobalOptions(cmd) {
        return Help.prototype.visibleGlobalOptions.call(this, cmd).filter((o) => o.long !== '--status');
      },
    })
    .action((sagaId: string, flags: { saga?: string; reason?: string }, command: Command) => cancel(sagaId, flags, command));
}
