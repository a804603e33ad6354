import * as z from 'zod';
import { DEV_ISSUER, type Principal } from '../identity/principal.js';
import type { AnyTool, ToolDeps } from '../tool.js';
import { explainCall, type Explanation } from './explain.js';
import type { Policy } from './load.js';

// A claim value as a principal carries it: bounded, and free of control characters that would forge lines.
// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const Claim = (max: number): z.ZodString => z.string().min(1).max(max).regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, { message: 'must not contain control characters' });

/** A principal as given on the command line or in a calls file. */
export const PrincipalInput = z
  .strictObject({
    sub: Claim(256).optional(),
    email: Claim(320).min(3).optional(),
    groups: z.array(Claim(256)).max(1000).default([]),
    issuer: Claim(2048).default(DEV_ISSUER),
    clientId: Claim(256).optional(),
  })
  .refine((p) => p.sub !== undefined || p.email !== undefined, { message: 'a principal needs "sub" or "email"' });

export function toPrincipal(input: z.output<typeof PrincipalInput>): Principal {
  const sub = input.sub ?? input.email;
  if (sub === undefined) throw new TypeError('a principal needs "sub" or "email"');
  return { issuer: input.issuer, sub, email: input.email?.toLowerCase(), groups: input.groups, clientId: input.clientId, dev: input.issuer === DEV_ISSUER };
}

/** One line of a calls file: `{principal, tool, input}`. */
export const CallLine = z.strictObject({ principal: PrincipalInput, tool: z.string().min(1), input: z.unknown() });

/**
 * What a call came to as far as policy is concerned: a decision, or a stop before any decision
 * (`stopped:INVALID_SQL`) that the same input reproduces whatever the policy says about callers.
 */
export type ReplayOutcome = 'allow' | 'approve' | 'deny' | `stopped:${string}`;

/**
 * Codes of the stops a replay reproduces: the tool, its input and what the tool makes of it (the input
 * and policy stages, before evaluation). Other stops without a decision (cancelled, the audit or a
 * database unavailable, an internal error) say nothing about policy and are reported as not replayable.
 */
const REPLAYABLE_STOPS: ReadonlySet<string> = new Set(['UNKNOWN_TOOL', 'INVALID_INPUT', 'UNKNOWN_RESOURCE', 'INVALID_SQL', 'SQL_REJECTED']);

/** An airlock audit record, as far as replay needs it. */
const AuditLine = z.object({
  id: z.string(),
  tool: z.string(),
  input: z.unknown(),
  principal: z.object({ issuer: z.string(), sub: z.string(), email: z.string().nullable(), groups: z.array(z.string()) }).nullable(),
  decision: z.object({ effect: z.enum(['allow', 'approve', 'deny']) }).nullable(),
  outcome: z.string(),
  error: z.object({ code: z.string() }).nullable().optional(),
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
  /** The candidate policy's outcome: `effect`, or the stop before policy (`stopped:CODE`) when `error` is set. */
  readonly now: ReplayOutcome;
  /** Replay of recorded traffic: the audit id and what the call came to when it was recorded. */
  readonly auditId?: string;
  readonly was?: ReplayOutcome;
}

/** A recorded call that did not reach a decision for a reason replay cannot reproduce. */
export interface SkippedLine {
  readonly auditId: string;
  readonly tool: string;
  readonly skipped: string;
}

/** An input line that is neither a call nor an audit record, or that could not be decided; the run goes on. */
export interface ErrorLine {
  readonly error: string;
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
    now: e.error === null ? e.effect : `stopped:${e.error.code}`,
    ...extra,
  };
}

/**
 * Decides each input with the candidate policy, through the server's own code path. Accepts calls-file
 * lines and airlock audit records (recorded traffic); for the latter each line says what the call came to
 * then (`was`) and now (`now`), stops before policy included, so a store replayed against the policy that
 * recorded it shows no change. Lines that are neither, or that cannot be decided, come back as `error`
 * lines rather than ending the run; `where` names the line in messages.
 */
export async function decide(ctx: ReplayContext, value: unknown, where = 'line'): Promise<DecisionLine | SkippedLine | ErrorLine | undefined> {
  try {
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
      const code = r.error?.code;
      let was: ReplayOutcome;
      if (r.decision !== null) was = r.decision.effect;
      else if (code !== undefined && REPLAYABLE_STOPS.has(code)) was = `stopped:${code}`;
      else return { auditId: r.id, tool: r.tool, skipped: `ended before policy (${code ?? r.outcome}) for a reason replay does not reproduce` };
      const principal: Principal = { issuer: r.principal.issuer, sub: r.principal.sub, email: r.principal.email ?? undefined, groups: r.principal.groups, clientId: undefined, dev: r.principal.issuer === DEV_ISSUER };
      return line(await explainCall({ ...ctx, principal, tool: r.tool, input: r.input }), { auditId: r.id, was });
    }
    const issue = (looksLikeRecord(value) ? record.error : call.error).issues[0];
    return { error: `${where}: not a call ({principal, tool, input}) or an airlock audit record: ${issue === undefined ? 'invalid' : `${issue.path.join('.') || '(top level)'}: ${issue.message}`}` };
  } catch (error) {
    // One input that breaks the explanation (hostile nesting, a bug) must not end a replay of thousands.
    return { error: `${where}: could not be decided (${error instanceof Error ? `${error.name}: ${error.message}` : String(error)})` };
  }
}

/** Audit records carry `id` and `outcome`; calls-file lines do not. Picks which schema's problem to report. */
function looksLikeRecord(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'outcome' in value && 'id' in value;
}

/** Summary of a replay: how many recorded calls came to something else now, by transition. */
export function summarize(lines: readonly DecisionLine[]): { total: number; unchanged: number; changed: Record<string, number> } {
  const changed: Record<string, number> = {};
  let unchanged = 0;
  let total = 0;
  for (const l of lines) {
    if (l.was === undefined) continue;
    total++;
    if (l.was === l.now) unchanged++;
    else changed[`${l.was}→${l.now}`] = (changed[`${l.was}→${l.now}`] ?? 0) + 1;
  }
  return { total, unchanged, changed };
}
