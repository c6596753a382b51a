/**
 * Runners: in-process function, HTTP webhook, subprocess, from a spec or as given.
 */
import { commandRunner } from './command.js';
import type { AgentRunner, RunnerSpec } from './runner.js';
import { isAgentRunner } from './runner.js';
import { webhookRunner } from './webhook.js';

/** The runner of a spec (`{ type: 'webhook' | 'command', ... }`), or the runner itself. */
export function createRunner(spec: RunnerSpec | AgentRunner): AgentRunner {
  if (isAgentRunner(spec)) return spec;
  return spec.type === 'webhook' ? webhookRunner(spec) : commandRunner(spec);
}
