import * as z from 'zod';
import { defineTool, once } from '../src/tool.js';
import { jsonObject } from './json.js';

const input = once(() =>
  z.strictObject({
    tool: z.string().min(1).max(64).describe('The tool to explain, e.g. "query_sql".'),
    arguments: jsonObject().describe('The arguments you would pass to that tool.'),
  }),
);

const output = once(() =>
  z.object({
    tool: z.string(),
    effect: z.enum(['allow', 'approve', 'deny']),
    ruleIds: z.array(z.string()),
    reason: z.string(),
    policyVersion: z.string(),
    facts: z.union([jsonObject(), z.null()]).describe('What the call would touch (resource; for SQL: class, tables, functions); null when it stops before policy.'),
    limits: z.union([z.object({ maxRows: z.int(), maxBytes: z.int(), timeoutMs: z.int(), maxWindowMs: z.int(), maxFollowMs: z.int() }), z.null()]),
    approval: z
      .union([z.object({ approverGroups: z.array(z.string()), confirmByCaller: z.boolean(), quorum: z.int(), timeoutSeconds: z.int(), justificationRequired: z.boolean() }), z.null()])
      .describe('For "approve": who approves (approverGroups, quorum) and whether your user must confirm the exact call first (confirmByCaller, through MCP elicitation).'),
    maskedColumns: z.array(z.string()),
    masking: z.object({ detectors: z.array(z.string()), overrides: z.array(z.string()) }),
    error: z.union([z.object({ code: z.string(), message: z.string() }), z.null()]).describe('Set when the call would stop before policy (unknown tool, invalid input, invalid or rejected SQL).'),
    auditId: z.string(),
  }),
);

/** explain_policy: a dry run of a call for the caller: the decision, the deciding rules and the facts. */
export const explainPolicy = defineTool({
  name: 'explain_policy',
  description: [
    'Dry-run a tool call without running it: airlock answers what policy would do (allow, approve = needs a',
    'human approval, or deny), which rules decide, why, and what it understood of the call (for SQL: the',
    'statement class, tables and functions; for read_bucket: the bucket and the object or listing prefix; for',
    'tail_logs: the log scope, its logs and your filter). Use it to find out before calling whether a query,',
    'an object read or a log read will run.',
  ].join(' '),
  get input() {
    return input();
  },
  get output() {
    return output();
  },
  annotations: { title: 'Explain policy (dry run)', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  facts: () => ({}),
  async execute(input, ctx) {
    const e = await ctx.deps.explain(ctx.caller, input.tool, input.arguments);
    const sql = (e.facts as { sql?: { class: string; tables: readonly string[] } } | null)?.sql;
    const lines = [
      `${e.tool}: ${e.effect}${e.ruleIds.length > 0 ? ` (rules: ${e.ruleIds.join(', ')})` : ''}`,
      `why: ${e.reason}`,
      ...(sql === undefined ? [] : [`SQL: ${sql.class}; tables: ${sql.tables.join(', ') || 'none'}`]),
      ...(e.approval === null || e.approval === undefined ? [] : [approvalLine(e.approval)]),
      `masking: ${e.masking.detectors.join(', ') || 'no detectors'}${e.masking.overrides.length > 0 ? ` (overrides: ${e.masking.overrides.join(', ')})` : ''}`,
      `policy version: ${e.policyVersion}`,
    ];
    return { kind: 'json', value: { ...e }, text: lines.join('\n') };
  },
});

/** Who has to agree before the call runs, in the order they are asked. */
function approvalLine(a: { readonly approverGroups: readonly string[]; readonly confirmByCaller: boolean; readonly quorum: number }): string {
  const steps = [
    ...(a.confirmByCaller ? ['your user confirms the exact call (MCP elicitation; your client must support it)'] : []),
    ...(a.approverGroups.length > 0 ? [`${a.quorum > 1 ? `${a.quorum} approvers` : 'an approver'} in ${a.approverGroups.join(' or ')} approve${a.quorum > 1 ? '' : 's'} it`] : []),
  ];
  return `approval: ${steps.join(', then ')}`;
}
