/**
 * `agentbus send TYPE --data JSON`: sends a command and prints its handler's result.
 */
import type { Command } from 'commander';
import { parseTimeout } from '../../cqrs/command-bus.js';
import { validateMessageType } from '../../cqrs/names.js';
import type { JsonValue } from '../../envelope/index.js';
import { globalOptions, withBus } from '../context.js';
import { printJson } from '../output.js';
import { parseJsonValue } from '../parse.js';

interface SendFlags {
  data?: JsonValue;
  timeout: string;
  correlationId?: string;
  source?: string;
}

async function sendAction(type: string, flags: SendFlags, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  // Refused before the database is opened.
  validateMessageType(type, 'TYPE');
  const timeout = parseTimeout(flags.timeout, 30_000, '--timeout');
  const result = await withBus(target, (bus) =>
    bus.commands.send(type, flags.data ?? {}, {
      timeout,
      ...(flags.correlationId === undefined ? {} : { correlationId: flags.correlationId }),
      ...(flags.source === undefined ? {} : { source: flags.source }),
    }),
  );
  printJson(result ?? null, json);
}

/** Adds `send` to `program`. */
export function registerSend(program: Command): void {
  program
    .command('send')
    .summary("send a command and print its handler's result")
    .description(
      'Send a command (an event of kind command on commands.TYPE, kept in history) and wait for the reply of the ' +
        'handler registered with bus.commands.register in a running process. Prints the result as JSON. ' +
        'Fails with NO_HANDLER when no handler took it, TIMEOUT when the reply did not come in time, or the ' +
        "handler's error code.",
    )
    .argument('<TYPE>', 'command type, e.g. CreateUserCommand')
    .option('--data <json>', 'command payload as JSON (default {})', parseJsonValue)
    .option('--timeout <duration>', 'how long to wait for the reply', '30s')
    .option('--correlation-id <id>', 'correlation id (default: the command id)')
    .option('--source <agent>', 'sending agent, e.g. /cli (default: /agentbus)')
    .action(sendAction);
}
