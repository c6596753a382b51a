/**
 * Human in the loop on the command line: `agentbus approve ID [--data JSON]`,
 * `agentbus reject ID [--reason TEXT]`, and `agentbus approvals` (pending requests, or
 * all with `--all`). Bad input exits 2, an unknown id 1, an answer after the timeout or a
 * second answer 1; nothing is written on refusal.
 */
import type { Command } from 'commander';
import type { JsonValue } from '../../envelope/envelope.js';
import { invalidField } from '../../errors.js';
import { type ApprovalRecord, listApprovals, resolveApproval, validateApprovalId } from '../../workflows/approvals.js';
import { globalOptions, withBus } from '../context.js';
import { parseNonEmpty } from '../parse.js';
import { note, printJson, writeLine } from '../output.js';
import { formatTable } from '../table.js';

function parseData(text: string | undefined): JsonValue | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw invalidField('OPTIONS_INVALID', '--data', `must be JSON: ${(error as Error).message}`);
  }
}

/** The approvals table: one row per request. */
export function formatApprovals(approvals: readonly ApprovalRecord[]): string {
  return formatTable(
    ['Approval ID', 'Title', 'Status', 'Correlation ID', 'Requested At', 'Timeout At'],
    approvals.map((a) => [a.approval_id, a.title, a.status, a.correlation_id, a.requested_at, a.timeout_at]),
  );
}

async function answer(id: string, decision: 'grant' | 'reject', flags: { data?: string; reason?: string }, command: Command) {
  const { target, json } = globalOptions(command);
  // Refuse bad input before opening the database.
  validateApprovalId(id);
  const data = parseData(flags.data);
  const record = await withBus(
    target,
    (bus) =>
      resolveApproval(bus, id, {
        decision,
        ...(data !== undefined ? { data } : {}),
        ...(flags.reason !== undefined ? { reason: flags.reason } : {}),
      }),
    { mustExist: true },
  );
  if (json) return printJson(record, true);
  writeLine(`${record.approval_id}: ${record.status}`);
}

/** Adds `approve`, `reject` and `approvals` to `program`. */
export function registerApprovals(program: Command): void {
  program
    .command('approve')
    .summary('grant a pending approval request (publishes ApprovalGranted)')
    .description(
      'Grants the pending approval ID: publishes ApprovalGranted (same correlation, caused by the request) and cancels its timeout. Refused (exit 1, nothing written) when the id is unknown, already answered, or timed out.',
    )
    .argument('<id>', 'approval id (see agentbus approvals)', parseNonEmpty)
    .option('--data <json>', 'JSON data given with the approval')
    .action((id: string, flags: { data?: string }, command: Command) => answer(id, 'grant', flags, command));
  program
    .command('reject')
    .summary('reject a pending approval request (publishes ApprovalRejected)')
    .description(
      'Rejects the pending approval ID: publishes ApprovalRejected with the reason and cancels its timeout. Refused (exit 1, nothing written) when the id is unknown, already answered, or timed out.',
    )
    .argument('<id>', 'approval id (see agentbus approvals)', parseNonEmpty)
    .option('--reason <text>', 'why it is rejected')
    .action((id: string, flags: { reason?: string }, command: Command) => answer(id, 'reject', flags, command));
  program
    .command('approvals')
    .summary('pending approval requests (all with --all)')
    .option('--all', 'every request, answered and timed out too')
    .action(async (flags: { all?: boolean }, command: Command) => {
      const { target, json } = globalOptions(command);
      const approvals = await withBus(target, (bus) => listApprovals(bus.store, flags.all ? {} : { status: 'pending' }), {
        mustExist: true,
      });
      if (json) return printJson(approvals, true);
      if (approvals.length === 0) return note(flags.all ? 'no approval requests' : 'no pending approvals');
      writeLine(formatApprovals(approvals));
    });
}
