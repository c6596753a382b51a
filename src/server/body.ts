/**
 * Reading JSON bodies of the admin routes: small objects, validated by the caller.
 */
import type { Context } from 'hono';
import { invalidField } from '../errors.js';

/** The body as a JSON object (`{}` when empty). @throws `OPTIONS_INVALID` naming `body`. */
export async function jsonObject(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
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
