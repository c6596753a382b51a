/**
 * Reading a whole JSON document from stdin (`agentbus publish -`).
 */
import { invalidField } from '../errors.js';

/** More than this on stdin is refused before parsing: envelopes are at most a few MiB. */
const MAX_STDIN_BYTES = 16 * 1024 * 1024;

/**
 * Reads stdin to its end and parses it as JSON.
 * @throws AgentbusError `ENVELOPE_INVALID` naming `stdin` when it is empty, too large or not JSON.
 */
export async function readJsonFromStdin(): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > MAX_STDIN_BYTES) throw invalidField('ENVELOPE_INVALID', 'stdin', `more than ${MAX_STDIN_BYTES} bytes`);
    chunks.push(buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '')
    throw invalidField('ENVELOPE_INVALID', 'stdin', 'empty; expected an envelope (the JSON of {event, payload, routing})');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw invalidField('ENVELOPE_INVALID', 'stdin', `not valid JSON: ${(error as Error).message}`);
  }
}
