import * as z from 'zod';
import { defineTool, once, type ResourceAccess } from '../src/tool.js';

const grant = once(() =>
  z.object({
    tool: z.string().describe('The tool that acts on this resource, e.g. "query_sql".'),
    effect: z.enum(['allow', 'approve']).describe('allow = runs; approve = waits for a human approval (not run until approved).'),
    sqlClasses: z.array(z.string()).optional().describe('query_sql: the statement classes this covers (read, write, ddl, destructive, privilege, admin).'),
    approverGroups: z.array(z.string()).optional().describe('effect approve: the groups whose members may approve.'),
    conditional: z.boolean().describe('true when policy also looks at the tables, functions, columns, objects or log names a call touches: dry-run one exact call with explain_policy.'),
    objects: z.array(z.string()).optional().describe('read_bucket: the object paths (globs: * within a folder, ** across folders) this covers.'),
    deniedObjects: z.array(z.string()).optional().describe('read_bucket: object paths (globs) that are denied whatever `objects` says.'),
    logNames: z.array(z.string()).optional().describe('log scopes: the logs this scope reads (absent: every log of the project).'),
    logFilters: z.array(z.string()).optional().describe('log scopes: Logging filters ANDed with every call (your filter can only narrow them).'),
  }),
);

const output = once(() =>
  z.object({
    resources: z.array(
      z.object({
        kind: z.enum(['connection', 'bucket', 'log_scope']).describe('connection = a PostgreSQL database for query_sql; bucket = Cloud Storage for read_bucket; log_scope = a Cloud Logging scope.'),
        name: z.string().describe('The name to pass to the tool: query_sql\'s "connection", read_bucket\'s "bucket", or a log scope\'s "scope".'),
        description: z.string().optional(),
        access: z.array(grant()).describe('What runs and what needs approval on this resource; anything not listed is denied.'),
      }),
    ),
    auditId: z.string(),
  }),
);

const input = once(() => z.strictObject({}));

/** list_resources: the resources this caller may use, and what policy allows on each. */
export const listResources = defineTool({
  name: 'list_resources',
  description: [
    'List the resources you may use through airlock: database connections (for query_sql), Cloud Storage buckets',
    '(for read_bucket) and Cloud Logging scopes, each with its description and what policy allows on it:',
    'which statement classes run (allow) and which need a human approval (approve), and who approves; for buckets,',
    'the object paths (globs) you may read and those denied; for log scopes, the logs and the filters always applied.',
    'Anything not listed is denied. Call this first to find the name to pass; explain_policy dry-runs one exact call.',
  ].join(' '),
  get input() {
    return input();
  },
  get output() {
    return output();
  },
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
        ...(g.objects === undefined ? {} : { objects: [...g.objects] }),
        ...(g.deniedObjects === undefined ? {} : { deniedObjects: [...g.deniedObjects] }),
        ...(g.logNames === undefined ? {} : { logNames: [...g.logNames] }),
        ...(g.logFilters === undefined ? {} : { logFilters: [...g.logFilters] }),
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
          const what = g.sqlClasses !== undefined ? `${g.sqlClasses.join(', ')} ` : g.objects !== undefined ? `objects ${g.objects.join(', ')}: ` : '';
          return g.effect === 'allow' ? `${what}runs` : `${what}needs approval (approvers: ${(g.approverGroups ?? []).join(', ') || 'any'})`;
        });
      const grants = r.grants.filter((g) => g.tool === tool);
      const conditional = r.kind === 'connection' && grants.some((g) => g.conditional) ? ' (some tables, columns or functions may be restricted: explain_policy tells for one call)' : '';
      lines.push(`  ${tool}: ${parts.join('; ')}${conditional}`);
      const denied = [...new Set(grants.flatMap((g) => g.deniedObjects ?? []))];
      if (denied.length > 0) lines.push(`    never: ${denied.join(', ')}`);
      const logNames = [...new Set(grants.flatMap((g) => g.logNames ?? []))];
      if (logNames.length > 0) lines.push(`    logs: ${logNames.join(', ')}`);
      const filters = [...new Set(grants.flatMap((g) => g.logFilters ?? []))];
      if (filters.length > 0) lines.push(`    always filtered by: ${filters.map((f) => `(${f})`).join(' AND ')}`);
    }
  }
  return lines.join('\n');
}
