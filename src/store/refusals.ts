/**
 * How the delivery states of every adapter refuse: errors returned (not thrown) from
 * group-commit jobs, so one refusal never rolls back the other jobs of its flush.
 */
import { AgentbusError } from '../errors.js';

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

export function notOpen(id: number, status: string): AgentbusError {
  return new AgentbusError('CONCURRENCY_CONFLICT', `dead letter ${id} is ${status}, not open`, { id, status });
}

/** Throws an error a job returned; passes anything else through. */
export function unwrap<T>(value: T): Exclude<T, Error> {
  if (value instanceof Error) throw value;
  return value as Exclude<T, Error>;
}
