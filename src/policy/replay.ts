import * as z from 'zod';
import { DEV_ISSUER, type Principal } from '../identity/principal.js';
import type { AnyTool, ToolDeps } from '../tool.js';
import { explainCall, type Explanation } from './explain.js';
import type { Policy } from './load.js';

/** A principal as given on the command line or in a calls file. */
export const PrincipalInput = z.strictObject({
  sub: z.string().min(1).optional(),
  email: z.string().min(3).optional(),
  groups: z.array(z.string().min(1)).default([]),
  issuer: z.string().min(1).default(DEV_ISSUER),
  clientId: z.string().optional(),
});

export function toPrincipal(input: z.output<typeof PrincipalInput>): Principal {
  const sub = input.sub ?? input.email;
  if (sub === undefined) throw new TypeError('a principal needs "sub" or "email"');
  return { issuer: input.issuer, sub, email: input.email?.toLowerCase(), groups: input.groups, clientId: input.clientId, dev: input.issuer === DEV_ISSUER };
}

/** One line of a calls file: `{principal, tool, input}`. */
export const CallLine = z.strictObject({ principal: PrincipalInput, tool: z.string().min(1), input: z.unknown() });

/** An airlock audit record, as far as replay needs it. */
const AuditLine = z.object({
  id: z.string(),
  tool: z.string(),
  input: z.unknown(),
  principal: z.object({ issuer: z.string(), sub: z.string(), email: z.string().nullable(), groups: z.array(z.string()) }).nullable(),
  decision: z.object({ effect: z.enum(['allow', 'approve', 'deny']) }).nullable(),
  outcome: z.string(),
});

export interface DecisionLine {
  readonly tool: string;
  readonly effect: Explanation['effect'];
  readonly ruleIds: readonly string[];
  readonly reason: string;
  readonly facts: Explanation['facts'];
  /** The same name as `explain_policy` and `airlock policy explain` use. */
  readonly maskedColumns: readonly string[];
  readonly error?: Explanation['error'];
  /** Replay of recorded traffic: the audit id and what the recorded policy decided. */
  readonly auditId?: string;
  readonly was?: 'allow' | 'approve' | 'deny' | 'none';
}

export interface ReplayContext {
  readonly policy: Policy;
  readonly tools: { get(name: string): AnyTool | undefined; names(): readonly string[] };
  readonly deps: ToolDeps;
}

function line(e: Explanation, extra: Partial<DecisionLine> = {}): DecisionLine {
  return {
    tool: e.tool,
    effect: e.effect,
    ruleIds: e.ruleIds,
    reason: e.reason,
    facts: e.facts,
    maskedColumns: e.maskedColumns,
    ...(e.error === null ? {} : { error: e.error }),
    ...extra,
  };
}

/**
 * Decides each input with the candidate policy, through the server's own code path. Accepts calls-file
 * lines and airlock audit records (recorded traffic); for the latter each line says what was decided then.
 * Lines that are neither are reported as `error` lines rather than dropped.
 */
export async function decide(ctx: ReplayContext, value: unknown): Promise<DecisionLine | { readonly error: string } | undefined> {
  const invalid = (value as { invalidLine?: unknown } | null)?.invalidLine;
  if (typeof invalid === 'number') return { error: `line ${invalid} is not valid JSON` };
  const call = CallLine.safeParse(value);
  if (call.success) {
    const principal = toPrincipal(call.data.principal);
    return line(await explainCall({ ...ctx, principal, tool: call.data.tool, input: call.data.input }));
  }
  const record = AuditLine.safeParse(value);
  if (record.success) {
    const r = record.data;
    // Calls refused before identity have no principal: a policy change cannot change them.
    if (r.principal === null) return undefined;
    const principal: Principal = { issuer: r.principal.issuer, sub: r.principal.sub, email: r.principal.email ?? undefined, groups: r.principal.groups, clientId: undefined, dev: r.principal.issuer === DEV_ISSUER };
    return line(await explainCall({ ...ctx, principal, tool: r.tool, input: r.input }), { auditId: r.id, was: r.decision?.effect ?? 'none' });
  }
  const issue = call.error.issues[0];
  return { error: `not a call ({principal, tool, input}) or an airlock audit record: ${issue === undefined ? 'invalid' : `${issue.path.join('.') || '(line)'}: ${issue.message}`}` };
}

/** Summary of a replay: how many decisions changed, by transition. */
export function summarize(lines: readonly DecisionLine[]): { total: number; unchanged: number; changed: Record<string, number> } {
  const changed: Record<string, number> = {};
  let unchanged = 0;
  for (const l of lines) {
    if (l.was === undefined) continue;
    if (l.was === l.effect) unchanged++;
    else changed[`${l.was}→${l.effect}`] = (changed[`${l.was}→${l.effect}`] ?? 0) + 1;
  }
  return { total: lines.filter((l) => l.was !== undefined).length, unchanged, changed };
}
