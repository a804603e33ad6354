/**
 * Property-based arguments for every governed tool (issue 21), sent by a real MCP client to a spawned
 * `airlock serve --stdio --demo` (the demo's PostgreSQL data, local Cloud Storage and Logging servers).
 * From a valid call of each tool, one argument is set to any JSON value, removed, or joined by an unknown
 * one, or the arguments are replaced by any JSON value. Every call must come back as a tool result (never a
 * JSON-RPC error or a dead server): a result, or an error with a code and an audit id; an argument of a JSON
 * type the tool does not take is refused as INVALID_INPUT naming that argument. Every call is audited once.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CLI, EXAMPLE_POLICY, readAudit, tempDir, textOf, writePolicy } from '../support/airlock.js';
import { fuzzParameters } from '../support/fuzz.js';

type Kind = 'string' | 'number' | 'integer' | 'boolean' | 'null' | 'array' | 'object';

interface ToolCase {
  readonly base: Record<string, unknown>;
  /** Each argument the tool takes and the JSON kinds its schema can accept. */
  readonly fields: Readonly<Record<string, readonly Kind[]>>;
  readonly required: readonly string[];
}

const TOOLS: Readonly<Record<string, ToolCase>> = {
  query_sql: {
    base: { connection: 'shop', sql: 'SELECT $1::int + 1 AS n', params: [1], maxRows: 5 },
    fields: { connection: ['string'], sql: ['string'], params: ['array'], maxRows: ['integer'], justification: ['string'] },
    required: ['connection', 'sql'],
  },
  read_bucket: {
    base: { bucket: 'data', action: 'read', object: 'app/README.md', range: { start: 0, end: 64 } },
    fields: {
      bucket: ['string'],
      action: ['string'],
      prefix: ['string'],
      delimiter: ['string'],
      pageToken: ['string'],
      maxResults: ['integer'],
      object: ['string'],
      range: ['object'],
      generation: ['string'],
      justification: ['string'],
    },
    required: ['bucket', 'action'],
  },
  tail_logs: {
    base: { scope: 'prod-logs', filter: 'severity>=INFO', since: '6h', order: 'desc', limit: 5 },
    fields: {
      scope: ['string'],
      filter: ['string'],
      since: ['string'],
      until: ['string'],
      order: ['string'],
      limit: ['integer'],
      follow_seconds: ['integer'],
      page_token: ['string'],
      justification: ['string'],
    },
    required: ['scope'],
  },
  explain_policy: {
    base: { tool: 'query_sql', arguments: { connection: 'shop', sql: 'DELETE FROM orders' } },
    fields: { tool: ['string'], arguments: ['object'] },
    required: ['tool', 'arguments'],
  },
  approval_status: {
    base: { requestId: 'apr_nosuchrequest', wait_seconds: 0 },
    fields: { requestId: ['string'], wait_seconds: ['integer'] },
    required: ['requestId'],
  },
  list_resources: { base: {}, fields: {}, required: [] },
  whoami: { base: {}, fields: {}, required: [] },
};

function kindOf(value: unknown): Kind {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value as Kind;
}

/** What a call's arguments are and which argument (if any) must be named when it is refused. */
interface Mutant {
  readonly tool: string;
  readonly args: unknown;
  /** The argument that must be named in an INVALID_INPUT refusal; undefined when the call may succeed. */
  readonly blame?: string;
  readonly label: string;
}

const anyJson = fc.jsonValue({ maxDepth: 3 });

function mutants(tool: string, c: ToolCase): fc.Arbitrary<Mutant> {
  const fields = Object.keys(c.fields);
  const options: fc.Arbitrary<Mutant>[] = [
    // An unknown argument: always refused, naming it.
    fc.tuple(fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !fields.includes(k)), anyJson).map(([key, value]) => ({
      tool,
      args: { ...c.base, [key]: value },
      blame: key,
      label: `unknown ${JSON.stringify(key)}`,
    })),
    // Arguments that are any JSON value at all.
    anyJson.map((args) => ({ tool, args, label: `arguments ${JSON.stringify(args).slice(0, 60)}` })),
  ];
  if (fields.length > 0) {
    options.push(
      // One argument set to any value: a kind the schema cannot take must be refused, naming it.
      fc.tuple(fc.constantFrom(...fields), anyJson).map(([field, value]) => {
        const kinds = c.fields[field] ?? [];
        const k = kindOf(value);
        const fits = kinds.includes(k) || (k === 'integer' && kinds.includes('number'));
        return { tool, args: { ...c.base, [field]: value }, ...(fits ? {} : { blame: field }), label: `${field} = ${JSON.stringify(value).slice(0, 60)}` };
      }),
    );
  }
  if (c.required.length > 0) {
    options.push(
      fc.constantFrom(...c.required).map((field) => {
        const args = { ...c.base };
        delete args[field];
        return { tool, args, blame: field, label: `without ${field}` };
      }),
    );
  }
  return fc.oneof(...options);
}

const dir = tempDir('airlock-fuzz-tools-');
const auditDir = join(dir, 'audit');
let client: Client | undefined;

/** The demo policy, with live tails capped at one second so a generated follow_seconds cannot stall the run. */
function policy(): unknown {
  const p = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as { resources: { logScopes: Record<string, { limits?: Record<string, unknown> }> } };
  for (const scope of Object.values(p.resources.logScopes)) scope.limits = { ...scope.limits, maxFollowSeconds: 1 };
  return p;
}

beforeAll(async () => {
  const home = join(dir, 'home');
  client = new Client({ name: 'fuzz-tools', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--stdio', '--demo', '--policy', writePolicy(dir, policy()), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'],
      env: { PATH: process.env.PATH ?? '', HOME: home, XDG_STATE_HOME: join(home, 'state'), DATABASE_URL: inject('databaseUrl') },
      cwd: dir,
      stderr: 'ignore',
    }),
  );
}, 60_000);

afterAll(async () => {
  await client?.close();
});

const auditIds: string[] = [];

describe('fuzzed arguments for every tool (issue 21)', () => {
  for (const [tool, c] of Object.entries(TOOLS)) {
    it(`answers ${tool} with a result or a coded, audited error, naming an argument of the wrong kind`, async () => {
      const the = client as Client;
      const listed = (await the.listTools()).tools.map((t) => t.name);
      expect(listed).toContain(tool);
      // The valid call the mutants start from runs (approval_status: a coded answer for a request that does not exist).
      const base = await the.callTool({ name: tool, arguments: c.base }, CallToolResultSchema, { timeout: 30_000 });
      if (tool === 'approval_status') expect(textOf(base)).toMatch(/\[code: [A-Z_]+; audit id: [0-9a-f-]{36}\]$/);
      else expect(base.isError, textOf(base)).toBeFalsy();
      let refusedNamed = 0;
      await fc.assert(
        fc.asyncProperty(mutants(tool, c), async (m) => {
          // The SDK client sends params as given; a JSON-RPC error would reject here.
          const result = await the.request({ method: 'tools/call', params: { name: m.tool, arguments: m.args } as { name: string } }, CallToolResultSchema, { timeout: 30_000 });
          const text = textOf(result);
          const meta = (result._meta as { 'airlock/error'?: { code: string; auditId: string; issues?: { path: string; message: string }[] } } | undefined)?.['airlock/error'];
          const auditId = meta?.auditId ?? (result.structuredContent as { auditId?: string } | undefined)?.auditId;
          expect(auditId, `${m.label}: ${text}`).toMatch(/^[0-9a-f-]{36}$/);
          auditIds.push(auditId as string);
          if (result.isError !== true) {
            expect(m.blame, `${m.label} ran: ${text}`).toBeUndefined();
            return;
          }
          expect(meta?.code, text).toMatch(/^[A-Z_]+$/);
          expect(text, m.label).toMatch(new RegExp(`\\[code: ${meta?.code}; audit id: ${auditId}\\]$`));
          expect(text).not.toMatch(/ZodError|invalid_type|\bat .*\.js:\d+/);
          if (m.blame !== undefined) {
            expect(meta?.code, `${m.label}: ${text}`).toBe('INVALID_INPUT');
            const issues = meta?.issues ?? [];
            const named = issues.some((i) => i.path === m.blame || i.path.startsWith(`${m.blame}.`) || i.path.startsWith(`${m.blame}[`) || i.message.includes(JSON.stringify(m.blame)));
            expect(named, `${m.label}: ${JSON.stringify(issues)}`).toBe(true);
            refusedNamed++;
          }
        }),
        fuzzParameters(60),
      );
      // The server is alive and the run exercised refusals.
      expect((await the.listTools()).tools).toHaveLength(7);
      expect(refusedNamed).toBeGreaterThan(0);
    }, 300_000);
  }

  it('audited every call exactly once', () => {
    const counts = new Map<string, number>();
    for (const r of readAudit(auditDir)) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
    expect(auditIds.length).toBeGreaterThan(0);
    for (const id of auditIds) expect(counts.get(id), id).toBe(1);
  });
});
