/**
 * `agentbus agents`: the seed's Agent Activity table (Agent | Published | Consumed |
 * Processing) with each agent's state and subscriptions, read from the agent records that
 * running agent runtimes keep in the state area.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { type AgentRecord, listAgents } from '../../agents/index.js';
import { globalOptions, withBus } from '../context.js';
import { note, printJson, writeLine } from '../output.js';
import { formatTable } from '../table.js';

/** An agent as `agentbus agents --json` prints it, snake_case like the wire. */
export interface AgentJson {
  readonly name: string;
  readonly state: AgentRecord['state'];
  readonly published: number;
  readonly consumed: number;
  readonly processing: number;
  readonly failed: number;
  readonly last_heartbeat: string | null;
  readonly subscriptions: ReadonlyArray<{ name: string; topic: string; filter: string | null; runs: string; inbox: boolean }>;
  readonly instances: ReadonlyArray<{
    id: string;
    state: string;
    processing: number;
    last_heartbeat: string;
    pid: number;
    host: string;
    reason?: string;
  }>;
}

function agentJson(a: AgentRecord): AgentJson {
  return {
    name: a.name,
    state: a.state,
    published: a.published,
    consumed: a.consumed,
    processing: a.processing,
    failed: a.failed,
    last_heartbeat: a.lastHeartbeat === undefined ? null : new Date(a.lastHeartbeat).toISOString(),
    subscriptions: a.subscriptions.map((s) => ({ ...s })),
    instances: a.instances.map((i) => ({
      id: i.id,
      state: i.state,
      processing: i.processing,
      last_heartbeat: new Date(i.lastHeartbeat).toISOString(),
      pid: i.pid,
      host: i.host,
      ...(i.reason !== undefined ? { reason: i.reason } : {}),
    })),
  };
}

const HEADERS = ['Agent', 'Published', 'Consumed', 'Processing', 'State', 'Subscriptions'];

/** One subscription in the table: `topic [filter] -> runs`. */
function describeSubscription(s: AgentRecord['subscriptions'][number]): string {
  if (s.inbox) return `inbox -> ${s.runs}`;
  return `${s.topic}${s.filter ? ` [${s.filter}]` : ''} -> ${s.runs}`;
}

/** The Agent Activity table: the seed's four columns, then state and subscriptions. */
export function formatAgentsTable(agents: readonly AgentRecord[]): string {
  return formatTable(
    HEADERS,
    agents.map((a) => [
      a.name,
      String(a.published),
      String(a.consumed),
      String(a.processing),
      a.state,
      a.subscriptions.map(describeSubscription).join('; '),
    ]),
  );
}

/** Adds `agents` to `program`. */
export function registerAgents(program: Command): void {
  program
    .command('agents')
    .summary("list agents: the seed's Agent Activity table with state and subscriptions")
    .description(
      'Table: Agent | Published | Consumed | Processing | State (running, paused, unhealthy, stopped) | Subscriptions (topic [filter] -> what runs). With --json, one array of agents with counts, subscriptions and instances.',
    )
    .option('--missed <n>', 'heartbeats an agent may miss before it shows as unhealthy', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('Must be a whole number of at least 1.');
      return n;
    })
    .action(async (flags: { missed?: number }, command: Command) => {
      const { target, json } = globalOptions(command);
      const agents = await withBus(
        target,
        (bus) => listAgents(bus.store, flags.missed ? { missedHeartbeats: flags.missed } : {}),
        {
          mustExist: true,
        },
      );
      if (json) return printJson(agents.map(agentJson), true);
      if (agents.length === 0) return note('no agents (agents appear here once an agent runtime has started them)');
      writeLine(formatAgentsTable(agents));
    });
}
