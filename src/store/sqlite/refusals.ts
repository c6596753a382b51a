/**
 * How the SQLite delivery state refuses: errors returned (not thrown) from group-commit jobs,
 * so one refusal never rolls back the other jobs of its flush.
 */
import { AgentbusError } from '../../errors.js';
import type { DeadLetterRow } from './statements.js';

export function leaseLost(consumer: string, seq: number): AgentbusError {
  return new AgentbusError(
    'LEASE_LOST',
    `subscription ${consumer}: the lease on position ${seq} was taken over or settled; this settlement is refused`,
    { consumer, seq },
  );
}

export function notFound(consumer: string): AgentbusError {
  return new AgentbusError('NOT_FOUND', `subscription ${consumer} does not exist`, { consumer });
}

export function deadLetterNotFound(id: number): AgentbusError {
  return new AgentbusError('NOT_FOUND', `dead letter ${id} does not exist`, { id });
}

export function notOpen(row: DeadLetterRow): AgentbusError {
  return new AgentbusError('CONCURRENCY_CONFLICT', `dead letter ${row.id} is ${row.status}, not open`, {
    id: row.id,
    status: row.status,
  });
}

/** Throws an error a job returned; passes anything else through. */
export function unwrap<T>(value: T | AgentbusError): T {
  if (value instanceof Error) throw value;
  return value;
}
