/**
 * Names of the CQRS layer: command and query types, stream names, and the topics and
 * consumer groups derived from them. Every refusal names the field.
 */
import { invalidField } from '../errors.js';

const MESSAGE_TYPE = /^[A-Za-z][A-Za-z0-9_.:-]{0,127}$/;
const TOPIC_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Validates a command or query type (`CreateUserCommand`, `users.get`). */
export function validateMessageType(value: unknown, field: string): string {
  if (typeof value !== 'string' || !MESSAGE_TYPE.test(value)) {
    throw invalidField('OPTIONS_INVALID', field, 'must start with a letter and be up to 128 of A-Z a-z 0-9 _ . : -');
  }
  return value;
}

/** Validates a topic prefix such as `commands`. */
export function validateTopicPrefix(value: unknown, field: string): string {
  if (typeof value !== 'string' || !TOPIC_PREFIX.test(value) || value.length > 120) {
    throw invalidField('OPTIONS_INVALID', field, 'must be a topic such as "commands" (tokens of A-Z a-z 0-9 _ - joined by dots)');
  }
  return value;
}

/** The topic token of a message type: characters a topic token cannot hold become `_`. */
export function typeToken(type: string): string {
  return type.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** A stream name: 1 to 200 characters, no control characters. */
export function validateStreamName(value: unknown, field = 'stream'): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (typeof value !== 'string' || value.length === 0 || value.length > 200 || /[\u0000-\u001f]/.test(value)) {
    throw invalidField('OPTIONS_INVALID', field, 'must be 1 to 200 characters without control characters');
  }
  return value;
}

/**
 * The category of a stream, Emmett- and KurrentDB-style: the part before the first `-`
 * (`user-42` -> `user`), as a topic token.
 */
export function streamCategory(stream: string): string {
  const head = stream.split('-')[0] ?? '';
  const token = typeToken(head);
  return token === '' ? 'stream' : token;
}

/** Validates a positive whole number option. */
export function positiveInteger(value: unknown, field: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalidField('OPTIONS_INVALID', field, `must be a whole number of at least ${min}`);
  }
  return value;
}
