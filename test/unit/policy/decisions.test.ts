import { describe, expect, it } from 'vitest';
import type { Principal } from '../../../src/identity/principal.js';
import { DecisionMemo } from '../../../src/policy/decisions.js';
import { evaluate } from '../../../src/policy/evaluate.js';
import { parsePolicy } from '../../../src/policy/load.js';
import type { SqlClass, SqlFacts } from '../../../src/policy/sql/classify.js';
import type { CallFacts } from '../../../src/tool.js';

function policy(rules: unknown[]) {
  return parsePolicy(
    JSON.stringify({ version: 1, resources: { connections: { shop: { url: 'env:DATABASE_URL' }, hr: { url: 'env:HR_URL' } } }, rules }),
    'policies.json',
    ['query_sql'],
  );
}

const ana: Principal = { issuer: 'https://idp', sub: 'ana', email: 'ana@example.com', groups: ['analysts'], clientId: undefined, dev: false };
const bob: Principal = { ...ana, sub: 'bob', email: 'bob@example.com', groups: ['sales'] };

/** A statement's SQL facts as the classifier cache hands them out: one frozen object per statement. */
function sqlFacts(cls: SqlClass): SqlFacts {
  return Object.freeze({ class: cls, classesSeen: Object.freeze([cls]), statementType: 'SelectStmt', tables: [], tablesWritten: [], functions: [], reason: '' });
}

const on = (sql: SqlFacts, resource = 'shop'): CallFacts => ({ resource: { kind: 'connection', name: resource }, sql });

const allowRead = { id: 'read', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['read'] }, limits: { maxRows: 50 } };
const denyRead = { id: 'freeze', effect: 'deny', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], reason: 'shop is frozen.' };

describe('DecisionMemo', () => {
  it('gives a repeated statement the decision evaluate gives, frozen, once per policy and principal (issue 19)', () => {
    const memo = new DecisionMemo();
    const p = policy([allowRead]);
    const read = sqlFacts('read');
    const first = memo.decide(p, { principal: ana, tool: 'query_sql', facts: on(read) });
    const again = memo.decide(p, { principal: ana, tool: 'query_sql', facts: on(read) });
    expect(first).toEqual(evaluate(p, { principal: ana, tool: 'query_sql', facts: on(read) }));
    expect(first).toMatchObject({ effect: 'allow', ruleIds: ['read'], reason: 'allowed by read', policyVersion: p.version, limits: { maxRows: 50 } });
    expect(again).toBe(first);
    expect(Object.isFrozen(first) && Object.isFrozen(first.ruleIds) && Object.isFrozen(first.limits)).toBe(true);
  });

  it('decides with the reloaded policy, never with the one before it (issue 19)', () => {
    const memo = new DecisionMemo();
    const read = sqlFacts('read');
    const before = policy([allowRead]);
    expect(memo.decide(before, { principal: ana, tool: 'query_sql', facts: on(read) }).effect).toBe('allow');
    const reloaded = policy([allowRead, denyRead]);
    const after = memo.decide(reloaded, { principal: ana, tool: 'query_sql', facts: on(read) });
    expect(after).toMatchObject({ effect: 'deny', ruleIds: ['freeze'], reason: 'shop is frozen.', policyVersion: reloaded.version });
    expect(reloaded.version).not.toBe(before.version);
  });

  it('keeps decisions apart by principal, resource, tool and statement (issue 19)', () => {
    const memo = new DecisionMemo();
    const p = policy([allowRead]);
    const read = sqlFacts('read');
    const write = sqlFacts('write');
    expect(memo.decide(p, { principal: ana, tool: 'query_sql', facts: on(read) }).effect).toBe('allow');
    expect(memo.decide(p, { principal: bob, tool: 'query_sql', facts: on(read) })).toMatchObject({ effect: 'deny', reason: 'no rule allows this call (default deny).' });
    expect(memo.decide(p, { principal: ana, tool: 'query_sql', facts: on(read, 'hr') }).effect).toBe('deny');
    expect(memo.decide(p, { principal: ana, tool: 'query_sql', facts: on(write) }).effect).toBe('deny');
    expect(memo.decide(p, { principal: ana, tool: 'other_tool', facts: on(read) }).effect).toBe('deny');
    // And the first is still what it was.
    expect(memo.decide(p, { principal: ana, tool: 'query_sql', facts: on(read) }).effect).toBe('allow');
  });

  it('evaluates afresh when the facts are more than a resource and frozen SQL facts (issue 19)', () => {
    const memo = new DecisionMemo();
    const p = policy([allowRead]);
    const mutable = { ...sqlFacts('read') };
    const a = memo.decide(p, { principal: ana, tool: 'query_sql', facts: on(mutable) });
    const b = memo.decide(p, { principal: ana, tool: 'query_sql', facts: on(mutable) });
    expect(a).toMatchObject({ effect: 'allow' });
    expect(b).not.toBe(a);
    expect(Object.isFrozen(a)).toBe(false);
    const read = sqlFacts('read');
    const listed = memo.decide(p, { principal: ana, tool: 'query_sql', facts: { ...on(read), object: 'x' } });
    expect(listed).not.toBe(memo.decide(p, { principal: ana, tool: 'query_sql', facts: { ...on(read), object: 'x' } }));
  });
});
