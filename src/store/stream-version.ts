/**
 * What every StreamStore checks before appending: its input, and the expected version.
 */
import { AgentbusError, invalidField } from '../errors.js';
import type { StreamExpectedVersion } from './event-store.js';

/** Checks `expected` against a stream's `actual` version; the refusal, or undefined. */
export function streamConflict(stream: string, expected: StreamExpectedVersion, actual: number): AgentbusError | undefined {
  const ok =
    expected === 'any' ||
    (expected === 'no_stream' && actual === 0) ||
    (expected === 'exists' && actual > 0) ||
    expected === actual;
  if (ok) return undefined;
  return new AgentbusError(
    'CONCURRENCY_CONFLICT',
    `stream ${stream}: expected version ${expected}, found ${actual === 0 ? 'no stream' : actual}`,
    { stream, expected, actual },
  );
}

/** Refuses a stream name that is not a non-empty string, or an expected version of none of the four forms. */
export function invalidStreamAppend(stream: unknown, expected: unknown): AgentbusError | undefined {
  if (typeof stream !== 'string' || stream === '') return invalidField('OPTIONS_INVALID', 'stream', 'must be a non-empty string');
  if (expected === 'any' || expected === 'no_stream' || expected === 'exists') return undefined;
  if (typeof expected === 'number' && Number.isSafeInteger(expected) && expected >= 0) return undefined;
  return invalidField('OPTIONS_INVALID', 'expectedVersion', 'must be no_stream, any, exists or a version (0, 1, 2, ...)');
}
