/**
 * Reading JSON bodies of the admin routes: small objects, validated by the caller.
 */
import type { Context } from 'hono';
import { invalidField, refuseUnknownKeys } from '../errors.js';

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The body as text, refused when it is not UTF-8 (a lenient decoder would store U+FFFD in
 * place of what the client sent). @throws `OPTIONS_INVALID` naming `body`.
 */
export async function bodyText(c: Context): Promise<string> {
  const bytes = await c.req.arrayBuffer();
  try {
    return UTF8.decode(bytes);
  } catch {
    throw invalidField('OPTIONS_INVALID', 'body', 'not valid UTF-8', { status: 400 });
  }
}

/** The body as a JSON object (`{}` when empty). @throws `OPTIONS_INVALID` naming `body`. */
export async function jsonObject(c: Context): Promise<Record<string, unknown>> {
  const text = await bodyText(c);
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidField('OPTIONS_INVALID', 'body', 'not valid JSON', { status: 400 });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidField('OPTIONS_INVALID', 'body', 'must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** `body` when it has no keys but `known`. @throws `OPTIONS_INVALID` naming the first other key (`body.x`). */
export function knownKeys(body: Record<string, unknown>, known: readonly string[]): Record<string, unknown> {
  refuseUnknownKeys(body, new Set(known), 'body.');
  return body;
}
