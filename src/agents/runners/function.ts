/**
 * The in-process runner: a function called with the event and the agent's context.
 */
import type { AgentHandler } from '../agent.js';
import type { AgentRunner } from './runner.js';

/** Wraps an in-process handler as a runner. */
export function functionRunner(handler: AgentHandler, description = 'in-process function'): AgentRunner {
  return {
    type: 'function',
    description,
    run: async (event, ctx) => {
      await handler(event, ctx);
    },
  };
}
