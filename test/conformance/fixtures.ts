/**
 * Shared helpers of the conformance suites: envelopes to append and small async utilities.
 */
import { createEnvelopeWithText, createIdGenerator } from '../../src/envelope/index.js';
import type { JsonValue, PublishInput } from '../../src/envelope/index.js';
import type { AppendItem } from '../../src/store/index.js';
import type { Clock } from '../../src/time.js';

const clock: Clock = { now: () => Date.now() };
const newId = createIdGenerator({ clock });

/** An item ready for `EventStore.append`. */
export function item(input: Partial<PublishInput> & { payload?: JsonValue } = {}): AppendItem {
  return createEnvelopeWithText({ topic: 'project.tasks', type: 'TaskCompletedEvent', payload: {}, ...input } as PublishInput, {
    clock,
    newId,
    defaultSource: '/conformance',
  });
}

/** `n` items on `topic`, numbered in their payload. */
export function items(n: number, input: Partial<PublishInput> = {}): AppendItem[] {
  return Array.from({ length: n }, (_, i) => item({ ...input, payload: { n: i } }));
}

/** Collects an async iterable. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const value of iterable) out.push(value);
  return out;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rejects when `promise` takes longer than `ms` (a hang guard, not a performance check). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms)),
  ]);
}

/** Which cases an implementation skips, each with its reason. */
export interface ContractOptions {
  readonly skip?: ReadonlyArray<{ readonly reason: string; readonly tests: readonly string[] }>;
}

export function skipped(options: ContractOptions | undefined, name: string): boolean {
  return options?.skip?.some((s) => s.tests.includes(name)) ?? false;
}
