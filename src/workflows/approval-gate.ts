/**
 * An approval gate, as a YAML workflow declares it: an event of type `on` asks a person
 * (`requestApproval`, id `<name>:<correlation id>`); the answer is published again as the
 * gate's own event types (`on_granted`, `on_rejected`, `on_timeout`), so that a saga step
 * can wait on it with its success and failure types.
 */
import type { Bus, Subscription } from '../bus/bus.js';
import type { JsonObject } from '../envelope/envelope.js';
import { z } from 'zod';
import { APPROVAL_GRANTED, APPROVAL_OUTCOMES, APPROVAL_REJECTED, APPROVAL_TIMED_OUT, requestApproval } from './approvals.js';
import { durationSchema, eventTypeSchema, parseConfig, topicSchema } from './schemas.js';

/** An approval gate of a workflow file. */
export const approvalGateSchema = z.strictObject({
  /** The gate's name; approval ids are `<name>:<correlation id>`. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'must be 1-100 letters, digits, _ . -'),
  /** Topic of the asking event, the request and the answers. */
  topic: topicSchema,
  /** The event type that asks for the approval (e.g. a saga step's action). */
  on: eventTypeSchema,
  /** What the person is asked. */
  title: z.string().min(1).max(500),
  /** How long to wait, e.g. `1h`. */
  timeout: durationSchema,
  /** Published when granted. @default "ApprovalGranted" only */
  on_granted: eventTypeSchema.optional(),
  /** Published when rejected. @default "ApprovalRejected" only */
  on_rejected: eventTypeSchema.optional(),
  /** Published when nobody answered in time. @default "ApprovalTimedOut" only */
  on_timeout: eventTypeSchema.optional(),
});

/** An approval gate as written. */
export type ApprovalGateConfig = z.input<typeof approvalGateSchema>;
/** A validated approval gate. */
export type ApprovalGate = z.output<typeof approvalGateSchema>;

/**
 * Starts a gate: a durable subscription `approval:<name>` on its topic.
 * @throws AgentbusError `OPTIONS_INVALID` naming the field.
 */
export async function startApprovalGate(
  bus: Bus,
  config: ApprovalGateConfig | ApprovalGate,
  options: { start?: 'earliest' | 'latest' } = {},
): Promise<Subscription> {
  const gate = parseConfig(approvalGateSchema, config);
  const mapped: Record<string, string | undefined> = {
    [APPROVAL_GRANTED]: gate.on_granted,
    [APPROVAL_REJECTED]: gate.on_rejected,
    [APPROVAL_TIMED_OUT]: gate.on_timeout,
  };
  return bus.subscribe({
    name: `approval:${gate.name}`,
    topic: gate.topic,
    filter: { event: { type: [gate.on, ...APPROVAL_OUTCOMES] } },
    start: options.start ?? 'latest',
    source: `/approval-gate/${gate.name}`,
    handler: async (envelope, ctx) => {
      const { type, correlation_id } = envelope.event;
      if (type === gate.on) {
        const payload = envelope.payload;
        await requestApproval(bus, {
          id: `${gate.name}:${correlation_id}`,
          title: gate.title,
          timeout: gate.timeout,
          data: payload === undefined ? {} : payload,
          cause: envelope,
          gate: gate.name,
        });
        return;
      }
      const payload = envelope.payload as JsonObject | null;
      if (payload?.gate !== gate.name) return;
      const next = mapped[type];
      if (next) await ctx.publish(next, payload);
    },
  });
}
