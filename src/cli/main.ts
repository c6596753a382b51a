#!/usr/bin/env node
/**
 * The `agentbus` executable.
 */
import { reportError } from './errors.js';
import { runCli } from './program.js';

// A closed pipe (`agentbus tail '>' | head`) ends the command quietly, as in other Unix tools.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  process.exit(error.code === 'EPIPE' ? 0 : reportError(error));
});
// Whatever escapes still fails as one line (a stack only with AGENTBUS_DEBUG=1).
process.on('uncaughtException', (error) => process.exit(reportError(error)));
process.on('unhandledRejection', (reason) => process.exit(reportError(reason)));

process.exitCode = await runCli(process.argv);
