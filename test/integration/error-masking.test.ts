/**
 * Issue 15 (point 4): error texts are output. Postgres input functions of the reg* types echo their input
 * inside "identifier" error classes (42…), which airlock keeps for the agent; the value is masked by the
 * call's content detectors like a result, in the response and in the audit record, on every path.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ALL_TOOLS } from '../../tools/index.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { PostgresConnector } from '../../src/connectors/postgres.js';
import { QueryFailedError } from '../../src/errors.js';
import { parseDevIdentity } from '../../src/identity/dev.js';
import { toolDeps } from '../../src/main.js';
import { ToolRegistry } from '../../src/mcp/registry.js';
import { buildPipeline } from '../../src/pipeline/chain.js';
import { compose } from '../../src/pipeline/compose.js';
import type { CallContext } from '../../src/pipeline/context.js';
import { auditStage } from '../../src/pipeline/stages/audit.js';
import { parsePolicy } from '../../src/policy/load.js';
import { loadSqlParser } from '../../src/policy/sql/classify.js';
import { auditRecord, tempDir } from '../support/airlock.js';

const registry = new ToolRegistry(ALL_TOOLS);

/** Content detection only (no sensitive columns): the errors below run, and only masking stands in the way. */
function policyWith(masking: unknown): ReturnType<typeof parsePolicy> {
  return parsePolicy(
    JSON.stringify({
      version: 1,
      resources: { connections: { shop: { description: 'Test shop database', url: 'env:SHOP_URL' } } },
      rules: [
        { id: 'read', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['read'] } },
        { id: 'no-ddl', effect: 'deny', tools: ['query_sql'], sql: { classes: ['ddl', 'destructive', 'privilege', 'admin'] }, reason: 'Schema changes are not allowed.' },
      ],
      masking,
    }),
    'policies.json',
    registry.names(),
  );
}

let sql: PostgresConnector;
const stores: JsonAuditStore[] = [];

beforeAll(async () => {
  await loadSqlParser();
  sql = new PostgresConnector({ resolve: () => inject('databaseUrl') });
});

afterAll(async () => {
  await sql?.close();
  for (const store of stores) await store.close();
});

interface Harness {
  readonly dir: string;
  call(sqlText: string, who?: string): Promise<CallContext>;
}

let seq = 0;
async function harness(masking: unknown, secrets?: (ref: string) => string | undefined): Promise<Harness> {
  const policy = policyWith(masking);
  const dir = join(tempDir(), 'audit');
  const audit = await JsonAuditStore.open(dir);
  stores.push(audit);
  const deps = toolDeps(() => policy, sql, sql, registry);
  const run = buildPipeline({
    audit,
    tools: registry,
    policy: { current: () => policy },
    deps,
    clock: { now: () => Date.now() },
    onAuditFailure: () => undefined,
    ...(secrets === undefined ? {} : { maskingSecrets: secrets }),
  });
  return {
    dir,
    async call(sqlText, who = 'ana@example.com,analysts') {
      const ctx: CallContext = {
        id: `err-${++seq}-${Date.now()}`,
        startedAt: Date.now(),
        sessionId: 'session-1',
        transport: 'in-memory',
        toolName: 'query_sql',
        rawArguments: { connection: 'shop', sql: sqlText },
        credential: { kind: 'dev', principal: parseDevIdentity(who) },
        signal: new AbortController().signal,
      };
      await run(ctx);
      return ctx;
    },
  };
}

const text = (ctx: CallContext): string => ctx.response?.content[0]?.text ?? '';
const auditText = (dir: string): string => readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json') || f.endsWith('.jsonl')).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');

/** Statements whose error quotes a card number (all class 42 except where noted), and what PostgreSQL names. */
const ECHOES: [string, string][] = [
  [`SELECT ('"' || card_number || '"')::regclass FROM customers WHERE id = 1`, 'relation "**** **** **** 1111" does not exist (SQLSTATE 42P01, undefined table)'],
  [`SELECT ('"' || card_number || '"')::regtype FROM customers WHERE id = 1`, 'type "**** **** **** 1111" does not exist (SQLSTATE 42704, SQLSTATE class 42)'],
  [`SELECT ('"' || card_number || '"')::regproc FROM customers WHERE id = 1`, 'function ""**** **** **** 1111"" does not exist (SQLSTATE 42883, undefined function)'],
  [`SELECT ('"' || card_number || '"')::regrole FROM customers WHERE id = 1`, 'role "**** **** **** 1111" does not exist (SQLSTATE 42704, SQLSTATE class 42)'],
  [`SELECT ('"' || card_number || '"')::regoper FROM customers WHERE id = 1`, 'operator does not exist: "**** **** **** 1111" (SQLSTATE 42883, undefined function)'],
  [`SELECT ('"' || card_number || '"')::regconfig FROM customers WHERE id = 1`, 'text search configuration "**** **** **** 1111" does not exist (SQLSTATE 42704, SQLSTATE class 42)'],
  [`SELECT ('"' || card_number || '"')::regcollation FROM customers WHERE id = 1`, 'collation "**** **** **** 1111" for encoding "UTF8" does not exist (SQLSTATE 42704, SQLSTATE class 42)'],
  [`SELECT 1 FROM customers WHERE id = 1 AND ('"' || card_number || '"')::regclass IS NOT NULL`, 'relation "**** **** **** 1111" does not exist (SQLSTATE 42P01, undefined table)'],
  [`EXPLAIN ANALYZE SELECT ('"' || card_number || '"')::regclass FROM customers WHERE id = 1`, 'relation "**** **** **** 1111" does not exist (SQLSTATE 42P01, undefined table)'],
  [`EXPLAIN (ANALYZE, COSTS OFF) SELECT ('"' || card_number || '"')::regtype FROM customers WHERE id = 1`, 'type "**** **** **** 1111" does not exist (SQLSTATE 42704, SQLSTATE class 42)'],
  [`SELECT to_regclass('x'), ('"' || card_number || '"')::regclass FROM customers WHERE id = 2`, 'relation "****-****-****-4444" does not exist (SQLSTATE 42P01, undefined table)'],
];

describe('error texts are masked like results (issue 15)', () => {
  it.each(ECHOES)('masks the card number PostgreSQL echoes in the error of %s', async (statement, expected) => {
    const h = await harness({ detectors: ['CREDIT_CARD'], style: 'last4' });
    const ctx = await h.call(statement);
    expect(ctx.error?.code).toBe('QUERY_FAILED');
    expect(text(ctx)).toBe(`Query failed: ${expected}\n[code: QUERY_FAILED; audit id: ${ctx.id}]`);
    const record = auditRecord(h.dir, ctx.id);
    expect(record).toMatchObject({ outcome: 'error', error: { code: 'QUERY_FAILED', message: `Query failed: ${expected}` } });
    expect((record.response as { body?: unknown }).body).toEqual(ctx.response);
    // Neither the response nor anything in the audit store (record, started entry, detail) has the number.
    const digits = /4111[\s-]?1111[\s-]?1111[\s-]?1111|5555[\s-]?5555[\s-]?5555[\s-]?4444/;
    expect(JSON.stringify(ctx.response)).not.toMatch(digits);
    expect(auditText(h.dir)).not.toMatch(digits);
  });

  it('masks an echoed value with the detectors and style of the policy, as a result would be (redact, EMAIL)', async () => {
    const h = await harness({ detectors: ['CREDIT_CARD', 'EMAIL'], style: 'redact' });
    const email = await h.call(`SELECT ('"' || email || '"')::regclass FROM customers WHERE id = 1`);
    expect(text(email)).toBe(`Query failed: relation "[EMAIL_1]" does not exist (SQLSTATE 42P01, undefined table)\n[code: QUERY_FAILED; audit id: ${email.id}]`);
    const card = await h.call(`SELECT ('"' || card_number || '"')::regclass FROM customers WHERE id = 1`);
    expect(text(card)).toBe(`Query failed: relation "[CREDIT_CARD_1]" does not exist (SQLSTATE 42P01, undefined table)\n[code: QUERY_FAILED; audit id: ${card.id}]`);
    expect(auditText(h.dir)).not.toContain('ana.silva@example.com');
  });

  it('keeps an error without a finding exactly as it was', async () => {
    const h = await harness({ detectors: ['CREDIT_CARD'], style: 'last4' });
    const ctx = await h.call(`SELECT ('"' || name || '"')::regclass FROM customers WHERE id = 1`);
    expect(text(ctx)).toBe(`Query failed: relation "Ana Silva" does not exist (SQLSTATE 42P01, undefined table)\n[code: QUERY_FAILED; audit id: ${ctx.id}]`);
  });

  it('masks a card number the parser quotes from the statement in a syntax error', async () => {
    const h = await harness({ detectors: ['CREDIT_CARD'], style: 'last4' });
    const ctx = await h.call(`SELECT name FROM customers WHERE card_number = '4111 1111 1111 1111`);
    expect(ctx.error?.code).toBe('INVALID_SQL');
    expect(text(ctx)).toBe(
      `SQL syntax error at line 1, column 48 (character 48): unterminated quoted string at or near "'**** **** **** 1111". The statement was not run; fix it and call again.\n[code: INVALID_SQL; audit id: ${ctx.id}]`,
    );
    expect(auditRecord(h.dir, ctx.id).error?.message).toContain(`"'**** **** **** 1111"`);
  });

  it('falls back to every built-in detector when the policy masker cannot be built (fail closed, code kept)', async () => {
    // Style hmac without its key: results fail with MASKING_FAILED; an error still goes out, redacted.
    const h = await harness({ detectors: ['CREDIT_CARD'], style: 'hmac', hmacKey: 'env:AIRLOCK_TEST_UNSET_KEY' }, () => undefined);
    const ctx = await h.call(`SELECT ('"' || card_number || '"')::regclass FROM customers WHERE id = 1`);
    expect(text(ctx)).toBe(`Query failed: relation "[CREDIT_CARD]" does not exist (SQLSTATE 42P01, undefined table)\n[code: QUERY_FAILED; audit id: ${ctx.id}]`);
    expect(auditText(h.dir)).not.toContain('4111 1111 1111 1111');
  });

  it('redacts error texts with every built-in detector in an audit stage built without the policy masker', async () => {
    const dir = join(tempDir(), 'audit');
    const audit = await JsonAuditStore.open(dir);
    stores.push(audit);
    const run = compose([
      auditStage({ sink: audit, clock: { now: () => Date.now() }, onAuditFailure: () => undefined }),
      () => Promise.reject(new QueryFailedError('relation "ana@example.com 4111 1111 1111 1111" does not exist', { detail: 'raw 5555-5555-5555-4444', data: { value: '4242424242424242' } })),
    ]);
    const ctx: CallContext = { id: 'fallback-1', startedAt: Date.now(), sessionId: 's', transport: 'in-memory', toolName: 'probe', rawArguments: {}, credential: { kind: 'none' }, signal: new AbortController().signal };
    await run(ctx);
    expect(text(ctx)).toBe('Query failed: relation "[EMAIL] [CREDIT_CARD]" does not exist\n[code: QUERY_FAILED; audit id: fallback-1]');
    expect(ctx.error?.data).toEqual({ value: '[CREDIT_CARD]' });
    expect(ctx.error).toBeInstanceOf(QueryFailedError);
    expect(auditRecord(dir, 'fallback-1')).toMatchObject({ error: { code: 'QUERY_FAILED', detail: 'raw [CREDIT_CARD]' } });
  });
  it('answers and audits a call whose error texts cannot be masked at all, with none of those texts (issue 19)', async () => {
    const dir = join(tempDir(), 'audit');
    const audit = await JsonAuditStore.open(dir);
    stores.push(audit);
    const run = compose([
      // As when the phone metadata cannot be loaded: every masking of text fails, the fallback's too.
      auditStage({ sink: audit, clock: { now: () => Date.now() }, onAuditFailure: () => undefined, maskError: () => { throw new Error('phone metadata could not be loaded'); } }),
      () => Promise.reject(new QueryFailedError('relation "ana@example.com 4111 1111 1111 1111" does not exist', { detail: 'raw 5555-5555-5555-4444', data: { value: '4242424242424242' } })),
    ]);
    const ctx: CallContext = { id: 'withheld-1', startedAt: Date.now(), sessionId: 's', transport: 'in-memory', toolName: 'probe', rawArguments: {}, credential: { kind: 'none' }, signal: new AbortController().signal };
    await run(ctx);
    expect(text(ctx)).toBe('The result could not be masked, so no data was returned.\n[code: MASKING_FAILED; audit id: withheld-1]');
    expect(auditRecord(dir, 'withheld-1')).toMatchObject({ outcome: 'error', error: { code: 'MASKING_FAILED', detail: 'the texts of a QUERY_FAILED error could not be masked, so they were withheld (Error: phone metadata could not be loaded)' } });
    for (const secret of ['ana@example.com', '4111 1111 1111 1111', '5555-5555-5555-4444', '4242424242424242']) expect(auditText(dir)).not.toContain(secret);
  });
});
