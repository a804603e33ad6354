import * as z from 'zod';
import { defineTool, type ResourceAccess } from '../src/tool.js';

const grant = z.object({
  tool: z.string().describe('The tool that acts on this resource, e.g. "query_sql".'),
  effect: z.enum(['allow', 'approve']).describe('allow = runs; approve = waits for a human approval (not run until approved).'),
  sqlClasses: z.array(z.string()).optional().describe('query_sql: the statement classes this covers (read, write, ddl, destructive, privilege, admin).'),
  approverGroups: z.array(z.string()).optional().describe('effect approve: the groups whose members may approve.'),
  conditional: z.boolean().describe('true when policy also looks at the tables, functions, columns, objects or log names a call touches: dry-run one exact call with explain_policy.'),
});

const output = z.object({
  resources: z.array(
    z.object({
      kind: z.enum(['connection', 'bucket', 'log_scope']).describe('connection = a PostgreSQL database for query_sql.'),
      name: z.string().describe('The name to pass to the tool, e.g. query_sql\'s "connection".'),
      description: z.string().optional(),
      access: z.array(grant).describe('What runs and what needs approval on this resource; anything not listed is denied.'),
    }),
  ),
  auditId: z.string(),
});

/** list_resources: the resources this caller may use, and what policy allows on each. */
export const listResources = defineTool({
  name: 'list_resources',
  description: [
    'List the resources you may use through airlock: database connections (for query_sql), each with its',
    'description and what policy allows on it: which statement classes run (allow) and which need a human',
    'approval (approve), and who approves. Anything not listed is denied. Call this first to find the',
    '`connection` name for query_sql; explain_policy dry-runs one exact call.',
  ].join(' '),
  input: z.strictObject({}),
  output,
  annotations: { title: 'List resources (airlock)', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  facts: () => ({}),
  execute(_input, ctx) {
    // A resource the caller cannot use at all is not shown (not even its name).
    const usable = ctx.deps.accessFor(ctx.caller).filter((r) => r.grants.length > 0);
    const resources = usable.map((r) => ({
      kind: r.kind,
      name: r.name,
      ...(r.description === undefined ? {} : { description: r.description }),
      access: r.grants.map((g) => ({
        tool: g.tool,
        effect: g.effect,
        ...(g.sqlClasses === undefined ? {} : { sqlClasses: [...g.sqlClasses] }),
        ...(g.approverGroups === undefined ? {} : { approverGroups: [...g.approverGroups] }),
        conditional: g.conditional,
      })),
    }));
    return Promise.resolve({ kind: 'json', value: { resources }, text: render(usable) });
  },
});

const KIND_NAMES: Readonly<Record<ResourceAccess['kind'], string>> = { connection: 'connection', bucket: 'bucket', log_scope: 'log scope' };

/** One line per resource and one per tool on it: what the model needs to plan, nothing more. */
function render(resources: readonly ResourceAccess[]): string {
  if (resources.length === 0) return 'No resources: policy lets you use no connection, bucket or log scope through airlock.';
  const lines = [`You may use ${resources.length} resource${resources.length === 1 ? '' : 's'} (anything not listed is denied):`];
  for (const r of resources) {
    lines.push(`${KIND_NAMES[r.kind]} "${r.name}"${r.description === undefined ? '' : `: ${r.description}`}`);
    for (const tool of [...new Set(r.grants.map((g) => g.tool))]) {
      const parts = r.grants
        .filter((g) => g.tool === tool)
        .map((g) => {
          const what = g.sqlClasses === undefined ? '' : `${g.sqlClasses.join(', ')} `;
          return g.effect === 'allow' ? `${what}runs` : `${what}needs approval (approvers: ${(g.approverGroups ?? []).join(', ') || 'any'})`;
        });
      const conditional = r.grants.some((g) => g.tool === tool && g.conditional) ? ' (some tables, columns or functions may be restricted: explain_policy tells for one call)' : '';
      lines.push(`  ${tool}: ${parts.join('; ')}${conditional}`);
    }
  }
  return lines.join('\n');
}
