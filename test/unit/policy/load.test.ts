import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_TOOLS } from '../../../tools/index.js';
import { parsePolicy } from '../../../src/policy/load.js';
import { policyProblems } from '../../support/policy.js';

const TOOLS = ['query_sql'];

const problems = (doc: unknown): readonly string[] => policyProblems(typeof doc === 'string' ? doc : JSON.stringify(doc), '/etc/airlock/policies.json', TOOLS);

const rule = { id: 'r', effect: 'allow', tools: ['query_sql'] };

describe('parsePolicy', () => {
  it('accepts the repository example policy', () => {
    const text = readFileSync(new URL('../../../policies.json', import.meta.url), 'utf8');
    expect(parsePolicy(text, 'policies.json', ALL_TOOLS.map((t) => t.name)).file.rules.length).toBeGreaterThan(0);
  });

  it.each([
    ['not JSON', '{', 'policies.json:1:2: not valid JSON: unexpected end of the text: an object is not closed'],
    ['an unknown tool', { version: 1, rules: [rule, { ...rule, id: 's', tools: ['query_sq1'] }] }, 'policies.json: rules[1].tools[0]: unknown tool "query_sq1" (known: query_sql)'],
    ['a misspelled key', { version: 1, rules: [{ ...rule, principal: {} }] }, 'policies.json: rules[0]: unknown key "principal" (misspelled keys are rejected so they cannot widen access)'],
    ['an inline secret', { version: 1, resources: { connections: { shop: { url: 'postgres://u:p@h/db' } } }, rules: [] }, 'policies.json: resources.connections.shop.url: must be a secret reference like "env:DATABASE_URL", never an inline value'],
    ['a deny without reason', { version: 1, rules: [{ ...rule, effect: 'deny' }] }, 'policies.json: rules[0].reason: a "deny" rule needs a "reason" (it is shown to the agent)'],
    ['an approve without approval', { version: 1, rules: [{ ...rule, effect: 'approve' }] }, 'policies.json: rules[0].approval: an "approve" rule needs "approval": { "approverGroups": [...] } and/or { "confirmByCaller": true }'],
    [
      'an approval with neither approvers nor confirmByCaller (issue 17)',
      { version: 1, rules: [{ ...rule, effect: 'approve', approval: { quorum: 1 } }] },
      'policies.json: rules[0].approval.approverGroups: say who approves: "approverGroups": [...] for human approvers, "confirmByCaller": true for a confirmation by the caller\'s own user, or both',
    ],
    [
      'confirmByCaller false and no approvers (issue 17)',
      { version: 1, rules: [{ ...rule, effect: 'approve', approval: { confirmByCaller: false } }] },
      'policies.json: rules[0].approval.approverGroups: say who approves: "approverGroups": [...] for human approvers, "confirmByCaller": true for a confirmation by the caller\'s own user, or both',
    ],
    ['a confirmByCaller that is not a boolean (issue 17)', { version: 1, rules: [{ ...rule, effect: 'approve', approval: { confirmByCaller: 'yes' } }] }, /^policies\.json: rules\[0\]\.approval\.confirmByCaller: Invalid input: expected boolean/],
    ['a misspelled confirmByCaller (issue 17)', { version: 1, rules: [{ ...rule, effect: 'approve', approval: { confirmbycaller: true, approverGroups: ['dba'] } }] }, 'policies.json: rules[0].approval: unknown key "confirmbycaller" (misspelled keys are rejected so they cannot widen access)'],
    ['a duplicate rule id', { version: 1, rules: [rule, rule] }, 'policies.json: rules[1].id: duplicate rule id "r" (also rules[0])'],
    ['an unknown SQL class', { version: 1, rules: [{ ...rule, sql: { classes: ['reads'] } }] }, /^policies\.json: rules\[0\]\.sql\.classes\[0\]: Invalid option: expected one of "read"\|"write"/],
    ['a wrong version', { version: 2, rules: [] }, 'policies.json: version: Invalid input: expected 1'],
  ])('reports %s with its path', (_label, doc, expected) => {
    const found = problems(doc);
    if (typeof expected === 'string') expect(found).toContain(expected);
    else expect(found.some((p) => expected.test(p))).toBe(true);
  });

  it('accepts confirmByCaller alone or with approver groups (issue 17)', () => {
    const approve = (approval: unknown): unknown => ({ version: 1, rules: [{ ...rule, effect: 'approve', approval }] });
    const alone = parsePolicy(JSON.stringify(approve({ confirmByCaller: true })), 'policies.json', TOOLS).file.rules[0];
    expect(alone?.approval).toEqual({ confirmByCaller: true, quorum: 1, timeoutSeconds: 900, justificationRequired: false });
    const both = parsePolicy(JSON.stringify(approve({ confirmByCaller: true, approverGroups: ['dba'] })), 'policies.json', TOOLS).file.rules[0];
    expect(both?.approval).toMatchObject({ confirmByCaller: true, approverGroups: ['dba'] });
    const groupsOnly = parsePolicy(JSON.stringify(approve({ approverGroups: ['dba'] })), 'policies.json', TOOLS).file.rules[0];
    expect(groupsOnly?.approval).toMatchObject({ confirmByCaller: false, approverGroups: ['dba'] });
  });

  it('reports every problem at once', () => {
    const found = problems({ version: 1, rules: [{ ...rule, tools: ['a', 'b'] }] });
    expect(found).toEqual([
      'policies.json: rules[0].tools[0]: unknown tool "a" (known: query_sql)',
      'policies.json: rules[0].tools[1]: unknown tool "b" (known: query_sql)',
    ]);
  });
});
