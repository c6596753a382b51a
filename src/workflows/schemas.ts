/**
 * The configuration formats of aggregators and sagas (the seed's JSON, snake_case), as zod
 * schemas shared by the library entry points and the YAML workflow files.
 */
import { z } from 'zod';
import { SOURCE_RULE, isEventSource } from '../envelope/validate.js';
import { AgentbusError } from '../errors.js';
import { isValidTopic, matchTopic, validateTopicPattern } from '../routing/index.js';
import { describeIssue, formatFieldPath } from '../schema-issues.js';
import { parseDuration } from '../time.js';

const TYPE = /^[A-Za-z][A-Za-z0-9_.:-]{0,199}$/;

/** An event type name. */
export const eventTypeSchema = z.string().regex(TYPE, 'must be an event type: a letter, then letters, digits, _ . : -');

/** A duration: `"30s"`, `"2h"`, `"1h30m"`, or milliseconds. */
export const durationSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (typeof ms !== 'number') {
    ctx.addIssue({ code: 'custom', message: ms.error });
    return z.NEVER;
  }
  if (ms <= 0) {
    ctx.addIssue({ code: 'custom', message: 'must be longer than zero' });
    return z.NEVER;
  }
  return ms;
});

/** A topic (no wildcards). */
export const topicSchema = z.string().refine((t) => isValidTopic(t), 'must be a topic: dot-separated tokens of A-Z a-z 0-9 _ -');

/** A topic pattern with NATS wildcards (`project.*`, `project.>`). */
export const topicPatternSchema = z.string().refine((t) => {
  try {
    validateTopicPattern(t, 'topic');
    return true;
  } catch {
    return false;
  }
}, 'must be a topic pattern: tokens of A-Z a-z 0-9 _ -, with * for one token and > for the rest');

const NAME = /^[A-Za-z0-9_.:/-]{1,120}$/;
/** A name of an aggregator or saga (used in subscription names and state keys). */
export const nameSchema = z.string().regex(NAME, 'must be 1 to 120 characters of letters, digits, _ . : / -');

/** The seed's aggregator JSON, plus `count` (N of M; 1 = any of), `topic` and `publish_topic`. */
export const aggregatorConfigSchema = z
  .strictObject({
    aggregator_id: nameSchema,
    wait_for: z
      .array(
        z.strictObject({
          type: eventTypeSchema,
          from: z.string().refine(isEventSource, `must be an event source: ${SOURCE_RULE}`).optional(),
        }),
      )
      .min(1, 'must list at least one event'),
    timeout: durationSchema.optional(),
    on_complete: eventTypeSchema,
    on_timeout: eventTypeSchema.optional(),
    count: z.number().int().min(1).optional(),
    topic: topicPatternSchema.default('>'),
    publish_topic: topicSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.count !== undefined && c.count > c.wait_for.length) {
      ctx.addIssue({ code: 'custom', path: ['count'], message: `must be at most the ${c.wait_for.length} events of wait_for` });
    }
    if (c.on_timeout !== undefined && c.timeout === undefined) {
      ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'is needed when on_timeout is given' });
    }
    const awaited = new Set<string>();
    c.wait_for.forEach((w, i) => {
      const key = `${w.type}\u0000${w.from ?? ''}`;
      if (awaited.has(key)) ctx.addIssue({ code: 'custom', path: ['wait_for', i], message: 'is listed twice' });
      awaited.add(key);
    });
    for (const field of ['on_complete', 'on_timeout'] as const) {
      const type = c[field];
      if (type !== undefined && c.wait_for.some((w) => w.type === type)) {
        ctx.addIssue({ code: 'custom', path: [field], message: `${type} is awaited too: the aggregator would feed itself` });
      }
    }
  });

/** Aggregator configuration as written (input of {@link aggregatorConfigSchema}). */
export type AggregatorConfig = z.input<typeof aggregatorConfigSchema>;

/** One saga step: a command, the events that end it, an optional compensation and timeout. */
export const sagaStepSchema = z.strictObject({
  /** A label for people; defaults to the action. */
  name: z.string().min(1).max(120).optional(),
  /** The command event type published to start the step. */
  action: eventTypeSchema,
  success: eventTypeSchema,
  failure: eventTypeSchema,
  /** The command event type that undoes the step. */
  compensation: eventTypeSchema.optional(),
  timeout: durationSchema.optional(),
});

/** A saga definition. */
export const sagaConfigSchema = z
  .strictObject({
    saga: nameSchema,
    /** Commands are published on this topic, and the steps' events are read from it. */
    topic: topicSchema,
    /** Where the steps' success and failure events arrive. @default topic */
    events_topic: topicPatternSchema.optional(),
    /** An event type that starts an instance; its correlation id becomes the saga_id. */
    trigger: eventTypeSchema.optional(),
    /** Default step timeout. */
    step_timeout: durationSchema.optional(),
    steps: z.array(sagaStepSchema).min(1, 'must list at least one step'),
  })
  .superRefine((c, ctx) => {
    // Step timeouts are announced on `topic` when `events_topic` is a pattern: it must hear them.
    if (c.events_topic !== undefined && /[*>]/.test(c.events_topic) && !matchTopic(c.events_topic, c.topic)) {
      ctx.addIssue({ code: 'custom', path: ['events_topic'], message: `a pattern must match the saga's topic ${c.topic}` });
    }
    const seen = new Map<string, string>();
    c.steps.forEach((step, i) => {
      // A step whose action is its own success (or failure) ends as soon as it starts, with no one doing the work.
      for (const field of ['success', 'failure', 'compensation'] as const) {
        if (step[field] === step.action) {
          ctx.addIssue({
            code: 'custom',
            path: ['steps', i, field],
            message: `must differ from the step's action ${step.action}`,
          });
        }
      }
      for (const field of ['success', 'failure'] as const) {
        const where = seen.get(step[field]);
        if (where) {
          ctx.addIssue({
            code: 'custom',
            path: ['steps', i, field],
            message: `${step[field]} already ends ${where}: every step needs its own success and failure types`,
          });
        }
        seen.set(step[field], `steps[${i}].${field}`);
      }
    });
  });

/** Saga definition as written (input of {@link sagaConfigSchema}). */
export type SagaConfig = z.input<typeof sagaConfigSchema>;

/**
 * Parses `value` with `schema`; a refusal is an AgentbusError `OPTIONS_INVALID` naming the
 * first offending field (prefixed with `prefix`) and listing every issue in `details.issues`.
 */
export function parseConfig<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const { path, reason } = describeIssue(issue);
    return { field: formatFieldPath(path, prefix), reason };
  });
  const first = issues[0] as { field: string; reason: string };
  return throwInvalid(first, issues);
}

function throwInvalid(first: { field: string; reason: string }, issues: unknown[]): never {
  throw new AgentbusError('OPTIONS_INVALID', `${first.field}: ${first.reason}`, { ...first, issues });
}
