/**
 * How the CLI fails: one line on stderr, `agentbus: <message>`, and an exit code that tells
 * bad input (2) from everything else (1). Stack traces only with `AGENTBUS_DEBUG=1`.
 */
import { CommanderError } from 'commander';
import { type AgentbusErrorCode, isAgentbusError } from '../errors.js';

/** Exit code of a failure that is not the user's input: I/O, not found, a closed bus. */
export const EXIT_FAILURE = 1;
/** Exit code of refused input: a bad flag, envelope, topic, filter or option. */
export const EXIT_USAGE = 2;

const BAD_INPUT: ReadonlySet<AgentbusErrorCode> = new Set<AgentbusErrorCode>([
  'ENVELOPE_INVALID',
  'TOPIC_INVALID',
  'FILTER_SYNTAX',
  'OPTIONS_INVALID',
]);

/** Commander's "user asked for help or the version": these end with exit code 0. */
const COMMANDER_SUCCESS = new Set(['commander.helpDisplayed', 'commander.version']);

/** The exit code for `error`. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) {
    // `commander.help` with a non-zero code: help shown because no command was given.
    if (COMMANDER_SUCCESS.has(error.code) || (error.code === 'commander.help' && error.exitCode === 0)) return 0;
    return EXIT_USAGE;
  }
  if (isAgentbusError(error)) return BAD_INPUT.has(error.code) ? EXIT_USAGE : EXIT_FAILURE;
  return EXIT_FAILURE;
}

/** Collapses a message to one line: the CLI's errors are always a single line. */
export function oneLine(message: string): string {
  return message.replace(/\s*\r?\n\s*/g, ' ').trim();
}

/** `Must be ...` as `must be ...`, without the closing period. */
function asReason(text: string): string {
  const trimmed = text.trim().replace(/\.$/, '');
  return trimmed.charAt(0).toLowerCase() + trimmed.slice(1);
}

/** ` (got 'x')`, or nothing for an empty value (the reason says it is empty). */
function got(value: string | undefined): string {
  return value ? ` (got '${value}')` : '';
}

/**
 * Commander's own error text as the CLI's one line. Refused values name the flag or argument
 * first, like the CLI's other refusals (`agentbus: --limit: must be ... (got '-3')`); other
 * messages (`unknown option '--x'`) are kept.
 */
export function formatCommanderError(text: string): string {
  const message = oneLine(text.replace(/^error:\s*/, ''));
  const option = /^option '(-[^ ']+)[^']*' argument '(.*)' is invalid\. (.*)$/.exec(message);
  if (option) return `agentbus: ${option[1]}: ${asReason(option[3] ?? '')}${got(option[2])}\n`;
  const argument = /^command-argument value '(.*)' is invalid for argument '([^']+)'\. (.*)$/.exec(message);
  if (argument) return `agentbus: ${argument[2]}: ${asReason(argument[3] ?? '')}${got(argument[1])}\n`;
  return `agentbus: ${message}\n`;
}

/** True when stack traces were asked for. */
function debugging(): boolean {
  return process.env.AGENTBUS_DEBUG === '1';
}

/**
 * Prints `error` as the CLI's one line (commander already printed its own) and returns the
 * exit code.
 */
export function reportError(error: unknown): number {
  const code = exitCodeOf(error);
  if (error instanceof CommanderError) return code;
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`agentbus: ${oneLine(message)}\n`);
  if (debugging() && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return code;
}
