import { describe, expect, it } from 'vitest';
import type { Principal } from '../../../src/identity/principal.js';
import { BUILTIN_LIMITS, evaluate } from '../../../src/policy/evaluate.js';
import { parsePolicy } from '../../../src/policy/load.js';
import type { SqlClass } from '../../../src/policy/sql/classify.js';
import type { CallFacts } from '../../../src/tool.js';

const TOOLS = ['query_sql'];

function policy(rules: unknown[], extra: Record<string, unknown> = {}) {
  return parsePolicy(
    JSON.stringify({ version: 1, resources: { connections: { shop: { url: 'env:DATABASE_URL' }, hr: { url: 'env:HR_URL' } } }, rules, ...extra }),
    'policies.json',
    TOOLS,
  );
}

const ana: Principal = { issuer: 'https://idp', sub: 'ana', email: 'ana@example.com', groups: ['analysts'], clientId: undefined, dev: false };
const bob: Principal = { ...ana, sub: 'bob', email: 'bob@example.com', groups: ['sales'] };

function facts(cls: SqlClass, resource = 'shop'): CallFacts {
  return {
    resource: { kind: 'connection', name: resource },
    sql: { class: cls, classesSeen: [cls], statementType: 'SelectStmt', tables: [], tablesWritten: [], functions: [], reason: '' },
  };
}

const allowRead = { id: 'read', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['read'] } };

describe('evaluate', () => {
  it('denies by default when no rule matches (policy:default-deny)', () => {
    const decision = evaluate(policy([]), { principal: ana, tool: 'query_sql', facts: facts('read') });
    expect(decision).toMatchObject({ effect: 'deny', ruleIds: [], reason: 'no rule allows this call (default deny).' });
  });

  it('allows when a rule matches principal, tool, resource and SQL class', () => {
    const decision = evaluate(policy([allowRead]), { principal: ana, tool: 'query_sql', facts: facts('read') });
    expect(decision).toMatchObject({ effect: 'allow', ruleIds: ['read'] });
  });

  it.each([
    ['another group', bob, facts('read')],
    ['another resource', ana, facts('read', 'hr')],
    ['another SQL class', ana, facts('write')],
  ])('denies when the only rule does not match %s', (_label, principal, f) => {
    expect(evaluate(policy([allowRead]), { principal, tool: 'query_sql', facts: f }).effect).toBe('deny');
  });

  it('lets any matching deny win over allow, whatever the order (policy:deny-wins)', () => {
    const deny = { id: 'no-hr', effect: 'deny', tools: ['query_sql'], resources: ['*'], reason: 'Frozen.' };
    for (const rules of [[allowRead, deny], [deny, allowRead]]) {
      const decision = evaluate(policy(rules), { principal: ana, tool: 'query_sql', facts: facts('read') });
      expect(decision).toMatchObject({ effect: 'deny', ruleIds: ['no-hr'], reason: 'Frozen.' });
    }
  });

  it('lets approve beat allow and merges approver groups', () => {
    const approve = {
      id: 'approve-all',
      effect: 'approve',
      tools: ['query_sql'],
      reason: 'Needs a look.',
      approval: { approverGroups: ['dba'], quorum: 2 },
    };
    const decision = evaluate(policy([allowRead, approve]), { principal: ana, tool: 'query_sql', facts: facts('read') });
    expect(decision.effect).toBe('approve');
    expect(decision.ruleIds).toEqual(['approve-all']);
    expect(decision.approval).toEqual({ approverGroups: ['dba'], confirmByCaller: false, quorum: 2, timeoutSeconds: 900, justificationRequired: false });
  });

  it('asks only the caller\'s confirmation when the deciding rule has confirmByCaller and no approvers (issue 17)', () => {
    const confirm = { id: 'confirm-writes', effect: 'approve', tools: ['query_sql'], sql: { classes: ['write'] }, reason: 'Check it.', approval: { confirmByCaller: true } };
    const decision = evaluate(policy([allowRead, confirm]), { principal: ana, tool: 'query_sql', facts: facts('write') });
    expect(decision).toMatchObject({ effect: 'approve', ruleIds: ['confirm-writes'], reason: 'Check it.' });
    expect(decision.approval).toEqual({ approverGroups: [], confirmByCaller: true, quorum: 1, timeoutSeconds: 900, justificationRequired: false });
  });

  it('merges a confirmation rule and an approver rule into confirmation then approval (issue 17)', () => {
    const confirm = { id: 'confirm-writes', effect: 'approve', tools: ['query_sql'], approval: { confirmByCaller: true } };
    const dba = { id: 'dba-writes', effect: 'approve', tools: ['query_sql'], approval: { approverGroups: ['dba'], quorum: 2 } };
    for (const rules of [[confirm, dba], [dba, confirm]]) {
      const decision = evaluate(policy(rules), { principal: ana, tool: 'query_sql', facts: facts('write') });
      expect(decision.approval).toEqual({ approverGroups: ['dba'], confirmByCaller: true, quorum: 2, timeoutSeconds: 900, justificationRequired: false });
    }
  });

  it('keeps confirmByCaller when sensitive column use sends a call to its approvers (issue 17)', () => {
    const confirm = { id: 'confirm-reads', effect: 'approve', tools: ['query_sql'], approval: { confirmByCaller: true } };
    const p = policy([allowRead, confirm], { masking: { columns: ['customers.card_number'], sensitiveUse: { approverGroups: ['security'] } } });
    const f = facts('read');
    const lineage = { maskedOutputs: [], outputCount: 0, maskedColumns: [], sensitiveUsedOutside: ['public.customers.card_number'], unresolved: [], columnsReferenced: ['public.customers.card_number'] };
    const sql = f.sql;
    if (sql === undefined) throw new Error('no SQL facts');
    const decision = evaluate(p, { principal: ana, tool: 'query_sql', facts: { ...f, sql: { ...sql, lineage } } });
    expect(decision.approval).toMatchObject({ approverGroups: ['security'], confirmByCaller: true });
  });

  it('merges limits to the strictest of defaults, resource and matching rules', () => {
    const p = parsePolicy(
      JSON.stringify({
        version: 1,
        resources: { connections: { shop: { url: 'env:X', limits: { timeoutMs: 5000 } } } },
        defaults: { limits: { maxRows: 800 } },
        rules: [
          { ...allowRead, limits: { maxRows: 900, timeoutMs: 9000 } },
          { ...allowRead, id: 'read-2', limits: { maxRows: 50 } },
        ],
      }),
      'policies.json',
      TOOLS,
    );
    expect(evaluate(p, { principal: ana, tool: 'query_sql', facts: facts('read') }).limits).toEqual({ maxRows: 50, maxBytes: 1024 * 1024, timeoutMs: 5000, maxWindowMs: BUILTIN_LIMITS.maxWindowMs, maxFollowMs: BUILTIN_LIMITS.maxFollowMs });
    expect(evaluate(policy([]), { principal: ana, tool: 'query_sql', facts: facts('read') }).limits).toEqual(BUILTIN_LIMITS);
  });

  it('lets defaults.limits replace the built-in limits, which resources and rules can only tighten (issue 15)', () => {
    const p = parsePolicy(
      JSON.stringify({
        version: 1,
        resources: { connections: { shop: { url: 'env:X' } } },
        defaults: { limits: { maxBytes: 8 * 1024 * 1024, maxRows: 5000 } },
        rules: [{ ...allowRead, limits: { maxBytes: 64 * 1024 * 1024 } }],
      }),
      'policies.json',
      TOOLS,
    );
    expect(evaluate(p, { principal: ana, tool: 'query_sql', facts: facts('read') }).limits).toEqual({ maxRows: 5000, maxBytes: 8 * 1024 * 1024, timeoutMs: BUILTIN_LIMITS.timeoutMs, maxWindowMs: BUILTIN_LIMITS.maxWindowMs, maxFollowMs: BUILTIN_LIMITS.maxFollowMs });
  });

  it('matches emails case-insensitively with globs', () => {
    const rule = { ...allowRead, principals: { emails: ['*@EXAMPLE.com'] } };
    expect(evaluate(policy([rule]), { principal: ana, tool: 'query_sql', facts: facts('read') }).effect).toBe('allow');
    const none = { ...ana, email: undefined };
    expect(evaluate(policy([rule]), { principal: none, tool: 'query_sql', facts: facts('read') }).effect).toBe('deny');
  });

  it('lets an allow rule with sql.tables cover a statement only when every table it names matches', () => {
    const rule = { ...allowRead, sql: { classes: ['read'], tables: ['orders', 'products', 'public.products'] } };
    const withTables = (tables: string[]): CallFacts => ({
      resource: { kind: 'connection', name: 'shop' },
      sql: { class: 'read', classesSeen: ['read'], statementType: 'SelectStmt', tables, tablesWritten: [], functions: [], reason: '' },
    });
    const p = policy([rule]);
    expect(evaluate(p, { principal: ana, tool: 'query_sql', facts: withTables(['orders']) }).effect).toBe('allow');
    expect(evaluate(p, { principal: ana, tool: 'query_sql', facts: withTables(['orders', 'products']) }).effect).toBe('allow');
    expect(evaluate(p, { principal: ana, tool: 'query_sql', facts: withTables(['orders', 'customers']) }).effect).toBe('deny');
    expect(evaluate(p, { principal: ana, tool: 'query_sql', facts: withTables([]) }).effect).toBe('allow');
  });

  it('lets a deny rule with sql.tables or sql.functions fire when any of them matches', () => {
    const deny = { id: 'no-pii', effect: 'deny', tools: ['query_sql'], sql: { tables: ['customers', '*.customers'] }, reason: 'PII.' };
    const denyFn = { id: 'no-xml', effect: 'deny', tools: ['query_sql'], sql: { functions: ['*xml*'] }, reason: 'XML.' };
    const p = policy([allowRead, deny, denyFn]);
    const facts = (tables: string[], functions: string[] = []): CallFacts => ({
      resource: { kind: 'connection', name: 'shop' },
      sql: { class: 'read', classesSeen: ['read'], statementType: 'SelectStmt', tables, tablesWritten: [], functions, reason: '' },
    });
    expect(evaluate(p, { principal: ana, tool: 'query_sql', facts: facts(['orders', 'public.customers']) })).toMatchObject({ effect: 'deny', ruleIds: ['no-pii'] });
    expect(evaluate(p, { principal: ana, tool: 'query_sql', facts: facts(['orders']) }).effect).toBe('allow');
    expect(evaluate(p, { principal: ana, tool: 'query_sql', facts: facts(['orders'], ['query_to_xml']) })).toMatchObject({ effect: 'deny', ruleIds: ['no-xml'] });
  });

  it('matches bucket objects and log names the safe way round', () => {
    const p = parsePolicy(
      JSON.stringify({
        version: 1,
        resources: { buckets: { exports: { bucket: 'acme-exports' } }, logScopes: { prod: { project: 'acme-prod-123' } } },
        rules: [
          { id: 'reports', effect: 'allow', tools: ['query_sql'], resources: ['exports'], objects: ['reports/*.csv'] },
          { id: 'no-secrets', effect: 'deny', tools: ['query_sql'], objects: ['**/*secret*'], reason: 'No secrets.' },
          { id: 'app-logs', effect: 'allow', tools: ['query_sql'], resources: ['prod'], logNames: ['app-*'] },
          { id: 'no-audit-logs', effect: 'deny', tools: ['query_sql'], logNames: ['cloudaudit*'], reason: 'Audit logs stay with security.' },
        ],
      }),
      'policies.json',
      TOOLS,
    );
    const bucket = (object: string): CallFacts => ({ resource: { kind: 'bucket', name: 'exports' }, object });
    const logs = (logNames: string[]): CallFacts => ({ resource: { kind: 'log_scope', name: 'prod' }, logNames });
    const d = (facts: CallFacts) => evaluate(p, { principal: ana, tool: 'query_sql', facts });
    expect(d(bucket('reports/2026-11.csv')).effect).toBe('allow');
    expect(d(bucket('raw/2026-11.csv')).effect).toBe('deny');
    expect(d(bucket('reports/secret-salaries.csv'))).toMatchObject({ effect: 'deny', ruleIds: ['no-secrets'] });
    expect(d(logs(['app-api', 'app-worker'])).effect).toBe('allow');
    expect(d(logs(['app-api', 'nginx'])).effect).toBe('deny');
    expect(d(logs(['app-api', 'cloudaudit.googleapis.com'])).ruleIds).toEqual(['no-audit-logs']);
    expect(d(logs([])).effect).toBe('deny');
  });

  it('matches the log filter and the tables a statement writes', () => {
    const p = parsePolicy(
      JSON.stringify({
        version: 1,
        resources: { logScopes: { prod: { project: 'acme-prod-123' } } },
        rules: [
          { id: 'logs', effect: 'allow', tools: ['query_sql'], resources: ['prod'] },
          { id: 'no-debug-dumps', effect: 'deny', tools: ['query_sql'], logFilter: ['*severity<*', '*severity=DEBUG*'], reason: 'Too broad.' },
          { id: 'order-writes', effect: 'approve', tools: ['query_sql'], sql: { classes: ['write'], tablesWritten: ['orders'] }, reason: 'Order changes.', approval: { approverGroups: ['ops'] } },
        ],
      }),
      'policies.json',
      TOOLS,
    );
    const d = (facts: CallFacts) => evaluate(p, { principal: ana, tool: 'query_sql', facts });
    expect(d({ resource: { kind: 'log_scope', name: 'prod' }, logFilter: 'severity>=ERROR' }).effect).toBe('allow');
    expect(d({ resource: { kind: 'log_scope', name: 'prod' }, logFilter: 'severity=DEBUG AND resource.type="k8s"' }).ruleIds).toEqual(['no-debug-dumps']);
    const write = (tablesWritten: string[]): CallFacts => ({
      resource: { kind: 'connection', name: 'shop' },
      sql: { class: 'write', classesSeen: ['write'], statementType: 'UpdateStmt', tables: [...tablesWritten, 'products'], tablesWritten, functions: [], reason: '' },
    });
    expect(d(write(['orders'])).effect).toBe('approve');
    expect(d(write(['customers'])).effect).toBe('deny');
  });

  it('records the policy version in every decision', () => {
    const p = policy([allowRead]);
    expect(p.version).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(evaluate(p, { principal: ana, tool: 'query_sql', facts: facts('read') }).policyVersion).toBe(p.version);
  });
});
