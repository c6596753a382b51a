#!/usr/bin/env node
/**
 * The `agentbus` executable.
 */
import { runCli } from './program.js';

// A closed pipe (`agentbus tail '>' | head`) ends the command quietly, as in other Unix tools.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

process.exitCode = await runCli(process.argv);
