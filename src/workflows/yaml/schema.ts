/**
 * The YAML workflow format: agents (runner + subscriptions), routes, aggregators, sagas and
 * choreographed compensation, in one file. The outer shape, aggregators, sagas and
 * compensation are checked here with zod; agents and routes by the agent runtime's and the
 * router's own validation (see `load.ts`).
 */
import { z } from 'zod';
import { approvalGateSchema } from '../approval-gate.js';
import { aggregatorConfigSchema, eventTypeSchema, sagaConfigSchema, topicPatternSchema } from '../schemas.js';

const entry = z.record(z.string(), z.unknown());

/** A whole workflow file. */
export const workflowSchema = z
  .strictObject({
    /** A name for logs. */
    name: z.string().min(1).max(120).optional(),
    /** Where new subscriptions of aggregators and sagas start. @default "latest" */
    start: z.enum(['earliest', 'latest']).optional(),
    /** `defineAgent` input: name, description, runner, subscriptions [{ topic, filter, runner | action, ... }]. */
    agents: z.array(entry).default([]),
    /** Routing rules: { name, topic, match, to: { topic } | { agent }, select, type }. */
    routes: z.array(entry).default([]),
    /** The seed's aggregator JSON, one per entry. */
    aggregators: z.array(aggregatorConfigSchema).default([]),
    /** Saga definitions. */
    sagas: z.array(sagaConfigSchema).default([]),
    /** Approval gates: `{ name, topic, on, title, timeout, on_granted, on_rejected, on_timeout }` (human in the loop). */
    approvals: z.array(approvalGateSchema).default([]),
    /** Runs the choreographed compensation coordinator. */
    compensations: z
      .strictObject({ failure_types: z.array(eventTypeSchema).min(1), topic: topicPatternSchema.optional() })
      .optional(),
  })
  .superRefine((w, ctx) => {
    const unique = (list: readonly string[], key: string, label: string) => {
      const seen = new Set<string>();
      list.forEach((value, i) => {
        if (seen.has(value)) ctx.addIssue({ code: 'custom', path: [key, i], message: `duplicate ${label} ${value}` });
        seen.add(value);
      });
    };
    unique(
      w.aggregators.map((a) => a.aggregator_id),
      'aggregators',
      'aggregator_id',
    );
    unique(
      w.approvals.map((a) => a.name),
      'approvals',
      'approval gate',
    );
    unique(
      w.sagas.map((s) => s.saga),
      'sagas',
      'saga',
    );
  });

/** A workflow file as written. */
export type WorkflowFile = z.input<typeof workflowSchema>;
