import * as z from 'zod';
import { InvalidInputError, UnknownResourceError } from '../src/errors.js';
import { defineTool, once } from '../src/tool.js';
import { jsonValue, justification } from './json.js';

const input = once(() =>
  z.strictObject({
    connection: z.string().min(1).max(64).describe('Name of a database connection from list_resources, e.g. "shop".'),
    sql: z.string().min(1).max(100_000).describe('Exactly one PostgreSQL statement. Use $1, $2, … placeholders for values.'),
    params: z
      .array(z.union([z.string(), z.number(), z.boolean(), z.null()]))
      .max(100)
      .optional()
      .describe('Values for $1, $2, … in order. Never build values into the SQL text.'),
    maxRows: z.int().min(1).max(100_000).optional().describe('Row cap for this call; policy may lower it.'),
    justification: justification(),
  }),
);

const output = once(() =>
  z.object({
    columns: z.array(z.object({ name: z.string(), type: z.string() })),
    rows: z.array(z.array(jsonValue())),
    rowCount: z.int(),
    truncated: z.boolean(),
    masked: z.array(z.string()),
    rowsAffected: z.int().optional(),
    auditId: z.string(),
  }),
);

/** query_sql: one PostgreSQL statement on a governed connection. */
export const querySql = defineTool({
  name: 'query_sql',
  description: [
    'Run one PostgreSQL statement on a governed database connection (list_resources lists them) and get the rows back.',
    'Reads run in a read-only transaction that is rolled back, with a statement timeout and a row cap;',
    'if the result is cut at the cap, `truncated` is true: narrow the query (WHERE, LIMIT, fewer columns).',
    'Pass values as `params` ($1, $2, …) rather than inside the SQL text. One statement per call.',
    'Sensitive values such as card numbers come back masked; `masked` lists the affected columns.',
    'Policy decides every call: some statements (writes, schema changes) are denied, and some need a human approval:',
    'the call then waits up to ~45 s with progress and runs once approved; if nobody decided yet it returns',
    '{"status": "pending_approval", "requestId": …}: tell the user, then call approval_status with the requestId.',
    'Give a `justification` for approvers when a write or change needs one. SQL that does not parse comes back as INVALID_SQL with its line and column;',
    'params that do not match the placeholders as INVALID_INPUT. Nothing runs in either case. Every call is audited.',
  ].join(' '),
  get input() {
    return input();
  },
  get output() {
    return output();
  },
  annotations: {
    title: 'Query SQL (governed)',
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: false,
    openWorldHint: false,
  },
  async facts(args, deps) {
    if (!deps.hasConnection(args.connection)) throw new UnknownResourceError('connection', args.connection);
    const sql = await deps.classifySql(args.sql, args.connection);
    const mismatch = placeholderMismatch(sql.placeholders ?? [], args.params?.length ?? 0);
    if (mismatch !== undefined) throw new InvalidInputError('query_sql', [mismatch]);
    return { resource: { kind: 'connection', name: args.connection }, sql };
  },
  async execute(args, ctx) {
    const sqlClass = ctx.facts.sql?.class;
    const maxRows = Math.min(args.maxRows ?? ctx.limits.maxRows, ctx.limits.maxRows);
    const result = await ctx.deps.sql.run(args.connection, args.sql, args.params ?? [], {
      mode: sqlClass === 'read' ? 'read' : 'write',
      maxRows,
      maxBytes: ctx.limits.maxBytes,
      timeoutMs: ctx.limits.timeoutMs,
      signal: ctx.signal,
    });
    if (!result.truncated) return result;
    const cutValues = result.cutValues ?? 0;
    if (cutValues > 0) {
      const values = cutValues === 1 ? '1 value was' : `${cutValues} values were`;
      return { ...result, note: `${values} cut short at the ${ctx.limits.maxBytes}-byte result cap. Select less of them (e.g. left(column, 1000)) or fewer rows.` };
    }
    const cut = result.rowCount >= maxRows ? `the first ${maxRows} rows` : `the first ${result.rowCount} rows (the ${ctx.limits.maxBytes}-byte result cap)`;
    return { ...result, note: `Only ${cut} are shown. Narrow the query (WHERE, LIMIT, fewer columns) to see the rest.` };
  },
  async preview(args, ctx) {
    // EXPLAIN without ANALYZE plans the statement and never runs it; the read-only transaction makes sure.
    const plan = await ctx.deps.sql.run(args.connection, `EXPLAIN (FORMAT JSON) ${args.sql}`, args.params ?? [], {
      mode: 'read',
      maxRows: 1,
      maxBytes: 1024 * 1024,
      timeoutMs: Math.min(ctx.limits.timeoutMs, 5000),
      signal: ctx.signal,
    });
    return { estimate: estimateOf(plan) };
  },
});

/** The planner's top-level estimate from EXPLAIN (FORMAT JSON): rows and cost, never values. */
function estimateOf(result: { rows: readonly (readonly unknown[])[] }): Record<string, unknown> {
  const cell = result.rows[0]?.[0];
  const plans = (typeof cell === 'string' ? JSON.parse(cell) : cell) as { Plan?: Record<string, unknown> }[] | undefined;
  const plan = plans?.[0]?.Plan;
  if (plan === undefined) return {};
  const estimate: Record<string, unknown> = {};
  if (typeof plan['Node Type'] === 'string') estimate.node = plan['Node Type'];
  if (typeof plan['Plan Rows'] === 'number') estimate.rows = plan['Plan Rows'];
  if (typeof plan['Total Cost'] === 'number') estimate.cost = plan['Total Cost'];
  if (typeof plan['Relation Name'] === 'string') estimate.relation = plan['Relation Name'];
  return estimate;
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/**
 * The caller's params against the statement's placeholders, checked before anything runs: Postgres needs
 * one value for each of $1 … $n (the highest used), and a type for each, which an unused one cannot get.
 */
function placeholderMismatch(used: readonly number[], given: number): { path: string; message: string } | undefined {
  if (used.includes(0)) return { path: 'sql', message: 'placeholders start at $1 ($0 is not one)' };
  const highest = used.at(-1) ?? 0;
  const missing = Array.from({ length: highest }, (_, i) => i + 1).filter((n) => !used.includes(n));
  if (missing.length > 0) {
    return { path: 'sql', message: `placeholders must be numbered $1, $2, … without gaps: the statement uses ${used.map((n) => `$${n}`).join(', ')} but not ${missing.map((n) => `$${n}`).join(', ')}` };
  }
  if (highest === given) return undefined;
  const list = highest === 0 ? 'no placeholders' : `${plural(highest, 'placeholder', 'placeholders')} (${used.map((n) => `$${n}`).join(', ')})`;
  return { path: 'params', message: `the statement has ${list} but ${plural(given, 'value was', 'values were')} given` };
}
