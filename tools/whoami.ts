import * as z from 'zod';
import { defineTool, once } from '../src/tool.js';

const input = once(() => z.strictObject({}));

const output = once(() =>
  z.object({
    identity: z.object({
      issuer: z.string(),
      sub: z.string(),
      email: z.string().nullable(),
      groups: z.array(z.string()),
      clientId: z.string().nullable(),
      verified: z.boolean(),
    }),
    resources: z.array(z.object({ kind: z.string(), name: z.string(), description: z.string().optional(), effects: z.record(z.string(), z.string()) })),
    approvals: z
      .array(z.object({ requestId: z.string(), state: z.string(), tool: z.string(), resource: z.string(), createdAt: z.string(), expiresAt: z.string(), approvers: z.array(z.string()) }))
      .optional()
      .describe('Your approval requests, pending first, then the most recent others.'),
    auditId: z.string(),
  }),
);

/** whoami: the verified caller and what policy lets it use. */
export const whoami = defineTool({
  name: 'whoami',
  description: [
    'Tell me who I am to airlock and what I may use: the verified identity (issuer, subject, email, groups)',
    'and, for every resource you may use, what policy does with it: on a database connection each kind of SQL',
    'statement, on a Cloud Storage bucket read_bucket, on a log scope tail_logs (allow = runs, approve = needs',
    'a human approval, deny = refused; list_resources names the object paths and log filters policy applies),',
    'and your pending and recent approval requests (collect approved ones with approval_status). Call this first to plan.',
  ].join(' '),
  get input() {
    return input();
  },
  get output() {
    return output();
  },
  annotations: { title: 'Who am I (airlock)', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  facts: () => ({}),
  async execute(_input, ctx) {
    const c = ctx.caller;
    // A resource the caller cannot use at all is not shown (not even its name).
    const resources = ctx.deps.accessFor(c).filter((r) => r.grants.length > 0);
    const identity = { issuer: c.issuer, sub: c.sub, email: c.email ?? null, groups: [...c.groups], clientId: c.clientId ?? null, verified: c.verified };
    const lines = [
      `You are ${c.email ?? c.sub} (issuer ${c.issuer}; groups: ${c.groups.join(', ') || 'none'})${c.verified ? '' : ' [UNVERIFIED dev identity]'}.`,
      ...resources.map(
        (r) =>
          `${r.kind} "${r.name}"${r.description === undefined ? '' : ` (${r.description})`}: ` +
          Object.entries(r.effects)
            .map(([k, v]) => `${k}=${v}`)
            .join(', '),
      ),
    ];
    const approvals = ctx.deps.myApprovals === undefined ? undefined : await ctx.deps.myApprovals(c);
    for (const a of approvals ?? []) {
      lines.push(`approval ${a.requestId}: ${a.state} (${a.tool} on ${a.resource}, approvers: ${a.approvers.join(', ')}, ${a.state === 'pending' ? `expires ${a.expiresAt}` : `opened ${a.createdAt}`})${a.state === 'pending' || a.state === 'approved' ? ' - collect with approval_status' : ''}`);
    }
    const value = {
      identity,
      resources: resources.map((r) => ({ kind: r.kind, name: r.name, ...(r.description === undefined ? {} : { description: r.description }), effects: { ...r.effects } })),
      ...(approvals === undefined ? {} : { approvals: approvals.map((a) => ({ ...a, approvers: [...a.approvers] })) }),
    };
    return { kind: 'json', value, text: lines.join('\n') };
  },
});
