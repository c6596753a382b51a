/**
 * Cancelling a running saga from any process: a `SagaCancelRequested` event on the topic
 * where the saga hears its timeouts, in its correlation. The saga's runner, wherever it
 * runs, handles it like a failure of the current step (see `decideSaga`). This process
 * needs neither the definition nor a runner: the runner recorded its topic when it started.
 */
import type { Bus } from '../bus/bus.js';
import type { Envelope } from '../envelope/envelope.js';
import { textProblem } from '../envelope/validate.js';
import { AgentbusError, invalidField } from '../errors.js';
import type { AppendItem } from '../store/event-store.js';
import { idFor } from './commit.js';
import { MAX_CANCEL_REASON, SAGA_CANCEL_EVENT, type SagaState, sagaSource } from './saga.js';
import { SAGAS_NAMESPACE, SAGA_RUNNERS_NAMESPACE, type SagaRunnerRecord, getSaga } from './saga-instances.js';
import { nameSchema } from './schemas.js';

/** Options of {@link cancelSaga}. */
export interface CancelSagaOptions {
  /**
   * Why, for people: carried in the request's payload and kept as the saga's
   * `failure.message`. At most 2000 characters, no NUL.
   */
  readonly reason?: string;
}

/** What {@link cancelSaga} did. */
export interface SagaCancelRequest {
  /** The instance when the request was made: still `in_progress` (its runner compensates). */
  readonly instance: SagaState;
  /** The `SagaCancelRequested` event. */
  readonly request: Envelope;
  /**
   * True when this instance had been asked already: `request` is that first request, and
   * nothing new was published (a second `reason` is not kept).
   */
  readonly repeated: boolean;
}

/**
 * Asks the running saga instance `saga`/`sagaId` to stop: publishes `SagaCancelRequested`
 * (payload `{ saga, saga_id, step, reason? }`, correlation `sagaId`) on the topic where the
 * saga hears its timeouts. Its runner then publishes the stacked compensations, top first,
 * and ends it `compensated` (`failed` when there was nothing to undo) with
 * `failure.reason` `cancelled`. Resolves once the request is durable, not when the
 * compensations are out. Asking again while the request waits returns it, publishing
 * nothing; a request that arrives after the saga ended anyway is ignored by it.
 * @throws AgentbusError `OPTIONS_INVALID` naming `saga`, `sagaId` or `reason`;
 *   `NOT_FOUND` when there is no such instance; `CONCURRENCY_CONFLICT` when it is not
 *   `in_progress` (details `sagaStatus`), or when no runner of the saga has started on a version
 *   that hears cancel requests. Nothing is published on refusal.
 * @example
 * await cancelSaga(bus, 'deploy-feature', 'deploy-feature-xyz', { reason: 'wrong branch' })
 */
export async function cancelSaga(
  bus: Bus,
  saga: string,
  sagaId: string,
  options: CancelSagaOptions = {},
): Promise<SagaCancelRequest> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidField('OPTIONS_INVALID', 'options', 'must be an object { reason? }');
  }
  validateSagaInput({ saga, sagaId, reason: options.reason });
  return requestCancel(bus, saga, sagaId, options.reason);
}

/** Saga names, saga ids and cancel reasons as a user gives them; {@link validateSagaInput} checks those present. */
export interface SagaFields {
  readonly saga?: unknown;
  readonly sagaId?: unknown;
  readonly reason?: unknown;
}

/** How a refusal names each field of {@link SagaFields} (a CLI flag, a body path). */
export interface SagaFieldNames {
  readonly saga: string;
  readonly sagaId: string;
  readonly reason: string;
}

/**
 * Refuses a bad saga name, saga id or cancel reason (the input of {@link cancelSaga}, and of
 * reads naming a saga): each field present in `input` is checked, and a refusal names it as
 * `names` says (a CLI flag, a path or body field), by default as the library does.
 * @throws AgentbusError `OPTIONS_INVALID`
 */
export function validateSagaInput(
  input: SagaFields,
  names: SagaFieldNames = { saga: 'saga', sagaId: 'sagaId', reason: 'reason' },
): void {
  if ('saga' in input && !nameSchema.safeParse(input.saga).success) {
    throw invalidField('OPTIONS_INVALID', names.saga, 'must be a saga name: 1 to 120 characters of letters, digits, _ . : / -');
  }
  if ('sagaId' in input) {
    const problem = textProblem(input.sagaId, 255);
    if (problem !== undefined) throw invalidField('OPTIONS_INVALID', names.sagaId, problem);
  }
  const { reason } = input;
  if (reason === undefined) return;
  if (typeof reason !== 'string' || reason === '' || reason.length > MAX_CANCEL_REASON || reason.includes('\u0000')) {
    throw invalidField('OPTIONS_INVALID', names.reason, `must be 1-${MAX_CANCEL_REASON} characters without NUL`);
  }
}

async function requestCancel(bus: Bus, saga: string, sagaId: string, reason: string | undefined): Promise<SagaCancelRequest> {
  const current = mustBeRunning(saga, sagaId, await getSaga(bus.store, saga, sagaId));
  // One request per instance (started_at tells a saga_id used again after retention apart).
  const id = idFor(`saga/${saga}/${sagaId}/${current.started_at}/cancel`);
  const earlier = await bus.store.get(id);
  if (earlier) return { instance: current, request: earlier.envelope, repeated: true };
  let item: AppendItem | undefined;
  const instance = await bus.store.transaction(async (tx) => {
    // Checked again where it counts: the saga may have ended since it was read.
    const state = mustBeRunning(saga, sagaId, (await tx.state.get<SagaState>(SAGAS_NAMESPACE, `${saga}/${sagaId}`))?.value);
    const runner = (await tx.state.get<SagaRunnerRecord>(SAGA_RUNNERS_NAMESPACE, saga))?.value;
    if (!runner) {
      throw new AgentbusError(
        'CONCURRENCY_CONFLICT',
        `saga ${saga}/${sagaId} cannot be cancelled yet: no runner of saga ${saga} has started on a version of agentbus that handles cancel requests; upgrade and restart it, then cancel; nothing was published`,
        { saga, sagaId, sagaStatus: state.status },
      );
    }
    item = bus.timers.prepare({
      id,
      topic: runner.control_topic,
      type: SAGA_CANCEL_EVENT,
      source: sagaSource(saga),
      correlationId: sagaId,
      partitionKey: sagaId,
      payload: { saga, saga_id: sagaId, step: state.current_step, ...(reason === undefined ? {} : { reason }) },
    });
    await bus.timers.append(tx, [item]);
    return state;
  });
  const request = item as AppendItem;
  await bus.timers.relay([request]);
  return { instance, request: request.envelope, repeated: false };
}

function mustBeRunning(saga: string, sagaId: string, state: SagaState | undefined): SagaState {
  if (!state) throw new AgentbusError('NOT_FOUND', `no saga ${saga}/${sagaId}; nothing was published`, { saga, sagaId });
  if (state.status !== 'in_progress') {
    throw new AgentbusError(
      'CONCURRENCY_CONFLICT',
      `saga ${saga}/${sagaId} is ${state.status} already: only an in_progress saga can be cancelled; nothing was published`,
      { saga, sagaId, sagaStatus: state.status },
    );
  }
  return state;
}
