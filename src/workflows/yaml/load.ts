/**
 * Loading a YAML workflow file: YAML syntax, then the format, then the agents' and routes'
 * own validation. Every refusal names the file, line and column, and the YAML path
 * (`agents[0].subscriptions[1].filter`).
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Document, LineCounter, parseDocument } from 'yaml';
import { type AgentDefinition, defineAgent } from '../../agents/index.js';
import type { AgentInput } from '../../agents/index.js';
import { type ResolvedRouteRule, type RouteRule, resolveRouteRules } from '../../bus/routes.js';
import { AgentbusError, invalidField, isAgentbusError } from '../../errors.js';
import { type SchemaIssue, describeIssue, formatFieldPath } from '../../schema-issues.js';
import { type AggregatorDefinition, defineAggregator } from '../aggregator.js';
import type { ApprovalGate } from '../approval-gate.js';
import { type SagaDefinition, defineSaga } from '../saga.js';
import { workflowSchema } from './schema.js';

/** A validated workflow, ready to run. */
export interface Workflow {
  readonly name: string;
  readonly file: string;
  readonly start: 'earliest' | 'latest';
  readonly agents: readonly AgentDefinition[];
  /** The rules as given (validated), for `startRoutes`. */
  readonly routes: readonly RouteRule[];
  readonly resolvedRoutes: readonly ResolvedRouteRule[];
  readonly aggregators: readonly AggregatorDefinition[];
  readonly sagas: readonly SagaDefinition[];
  /** Approval gates (human in the loop). */
  readonly approvals: readonly ApprovalGate[];
  readonly compensations: { readonly failureTypes: readonly string[]; readonly topic?: string } | undefined;
}

/** `agents[0].subscriptions[1].filter` as path segments. */
export function pathSegments(field: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const match of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) out.push(Number(match[2]));
    else if (match[1] !== undefined) out.push(match[1]);
  }
  return out;
}

/** Line and column (1-based) of the deepest node of `path` present in the document. */
function position(doc: Document, counter: LineCounter, path: Array<string | number>): { line: number; column: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) {
      const { line, col } = counter.linePos(range[0]);
      return { line, column: col };
    }
  }
  return { line: 1, column: 1 };
}

function refusal(file: string, at: { line: number; column: number }, field: string, reason: string, extra = {}): AgentbusError {
  return new AgentbusError('OPTIONS_INVALID', `${file}:${at.line}:${at.column}: ${field}: ${reason}`, {
    field,
    reason,
    file,
    line: at.line,
    column: at.column,
    ...extra,
  });
}

/** Where a workflow's runners find what is outside the file. */
interface RunnerContext {
  /** The workflow file's folder: command runners run there unless they name a `cwd`. */
  readonly base: string;
  /** Environment of webhook runners' `secret_env`. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * A runner spec as `defineAgent` takes it: a command runs in the workflow file's folder
 * unless it names a `cwd` (relative ones are resolved there too); a webhook's `secret_env`
 * names the environment variable holding its secret, so the secret stays out of the file.
 * @throws AgentbusError `OPTIONS_INVALID` naming `<field>.secret_env`.
 */
function resolveRunner(runner: unknown, field: string, context: RunnerContext): unknown {
  if (typeof runner !== 'object' || runner === null) return runner;
  const spec = runner as Record<string, unknown>;
  if (spec.type === 'webhook' && spec.secret_env !== undefined) {
    const { secret_env: name, ...rest } = spec;
    const at = `${field}.secret_env`;
    if (rest.secret !== undefined) throw invalidField('OPTIONS_INVALID', at, 'give secret or secret_env, not both');
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw invalidField('OPTIONS_INVALID', at, 'must be an environment variable name');
    const value = context.env[name];
    if (value === undefined || value === '') throw invalidField('OPTIONS_INVALID', at, `environment variable ${name} is not set`);
    return { ...rest, secret: value };
  }
  if (spec.type !== 'command') return runner;
  const cwd = spec.cwd;
  if (cwd !== undefined && typeof cwd !== 'string') return runner;
  return { ...spec, cwd: resolve(context.base, cwd ?? '.') };
}

function withResolvedRunners(agent: Record<string, unknown>, context: RunnerContext): Record<string, unknown> {
  const subscriptions = Array.isArray(agent.subscriptions)
    ? agent.subscriptions.map((s: unknown, i: number) =>
        typeof s === 'object' && s !== null && 'runner' in s
          ? { ...s, runner: resolveRunner((s as { runner: unknown }).runner, `subscriptions[${i}].runner`, context) }
          : s,
      )
    : agent.subscriptions;
  return {
    ...agent,
    ...('runner' in agent ? { runner: resolveRunner(agent.runner, 'runner', context) } : {}),
    subscriptions,
  };
}

/** Options of {@link parseWorkflow}. */
export interface ParseWorkflowOptions {
  /** Environment of webhook runners' `secret_env`. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Parses and validates a workflow from YAML text; `file` names it in errors.
 * @throws AgentbusError `OPTIONS_INVALID` with `details.field`, `line`, `column`.
 */
export function parseWorkflow(text: string, file = 'workflow.yaml', options: ParseWorkflowOptions = {}): Workflow {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  const syntax = doc.errors[0];
  if (syntax) {
    const at = syntax.linePos?.[0] ?? { line: 1, col: 1 };
    throw refusal(file, { line: at.line, column: at.col }, '(yaml)', syntax.message.split('\n')[0] ?? 'invalid YAML');
  }
  const at = (field: string) => position(doc, counter, pathSegments(field));
  const parsed = workflowSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issues = parsed.error.issues.map(describeIssue);
    const { path, reason } = issues[0] as SchemaIssue;
    const empty = doc.contents === null && path.length === 0;
    throw refusal(
      file,
      position(doc, counter, [...path]),
      formatFieldPath(path),
      empty ? 'the file is empty: expected agents, routes, aggregators, sagas, ...' : reason,
      { issues: issues.map((i) => ({ field: formatFieldPath(i.path), reason: i.reason })) },
    );
  }
  const w = parsed.data;
  const located = <T>(prefix: string, fn: () => T): T => {
    try {
      return fn();
    } catch (error) {
      if (!isAgentbusError(error)) throw error;
      const inner = typeof error.details.field === 'string' ? error.details.field : '';
      const field = prefix && inner && !inner.startsWith(prefix) ? `${prefix}.${inner}` : inner || prefix;
      const reason = typeof error.details.reason === 'string' ? error.details.reason : error.message;
      throw refusal(file, at(field), field, reason);
    }
  };
  const context: RunnerContext = { base: resolve(dirname(file)), env: options.env ?? process.env };
  const agents = w.agents.map((a, i) =>
    located(`agents[${i}]`, () => defineAgent(withResolvedRunners(a, context) as unknown as AgentInput)),
  );
  const names = new Set<string>();
  agents.forEach((a, i) => {
    if (names.has(a.name)) throw refusal(file, at(`agents[${i}].name`), `agents[${i}].name`, `duplicate agent ${a.name}`);
    names.add(a.name);
  });
  const routes = w.routes as unknown as RouteRule[];
  const resolvedRoutes = located('', () => resolveRouteRules(routes, 'routes'));
  return {
    name: w.name ?? file,
    file,
    start: w.start ?? 'latest',
    agents,
    routes,
    resolvedRoutes,
    aggregators: w.aggregators.map((a, i) => located(`aggregators[${i}]`, () => defineAggregator(a))),
    sagas: w.sagas.map((s, i) => located(`sagas[${i}]`, () => defineSaga(s))),
    approvals: w.approvals,
    compensations: w.compensations
      ? {
          failureTypes: w.compensations.failure_types,
          ...(w.compensations.topic ? { topic: w.compensations.topic } : {}),
        }
      : undefined,
  };
}

/**
 * Reads and validates a workflow file.
 * @throws AgentbusError `NOT_FOUND` when the file cannot be read, `OPTIONS_INVALID` as {@link parseWorkflow}.
 */
export async function loadWorkflow(path: string): Promise<Workflow> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new AgentbusError(
      'NOT_FOUND',
      `cannot read workflow file ${path}: ${(error as Error).message}`,
      { path },
      { cause: error },
    );
  }
  return parseWorkflow(text, path);
}
