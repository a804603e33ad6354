import { describe, expect, it } from 'vitest';
import type { Principal } from '../../../src/identity/principal.js';
import { accessFor } from '../../../src/policy/access.js';
import { evaluate } from '../../../src/policy/evaluate.js';
import { parsePolicy } from '../../../src/policy/load.js';
import { callScope } from '../../../src/policy/scope.js';
import type { CallFacts } from '../../../src/tool.js';

const TOOLS = ['read_bucket', 'tail_logs'];
const ana: Principal = { issuer: 'https://idp', sub: 'ana', email: 'ana@example.com', groups: ['support'], clientId: undefined, dev: false };
const eve: Principal = { ...ana, sub: 'eve', email: 'eve@example.com', groups: ['contractors'] };

const p = parsePolicy(
  JSON.stringify({
    version: 1,
    resources: {
      buckets: { data: { bucket: 'acme-data' } },
      logScopes: { prod: { project: 'acme-prod-123', logNames: ['app', 'requests'], filter: 'resource.type="cloud_run_revision"' } },
    },
    rules: [
      { id: 'app', effect: 'allow', principals: { groups: ['support'] }, tools: ['read_bucket'], resources: ['data'], objects: ['app/**', 'config/*.json'] },
      { id: 'exports', effect: 'approve', principals: { groups: ['support'] }, tools: ['read_bucket'], resources: ['data'], objects: ['exports/**'], approval: { approverGroups: ['dpo'] } },
      { id: 'no-keys', effect: 'deny', tools: ['read_bucket'], objects: ['**/*.pem', 'app/private/**'], reason: 'Keys stay out.' },
      { id: 'contractors', effect: 'allow', principals: { groups: ['contractors'] }, tools: ['read_bucket'], resources: ['data'], objects: ['app/public/**'] },
      { id: 'logs', effect: 'allow', principals: { groups: ['support'] }, tools: ['tail_logs'], resources: ['prod'], forceLogFilter: 'severity>=WARNING' },
    ],
  }),
  'policies.json',
  TOOLS,
);

const bucket = { kind: 'bucket' as const, name: 'data' };
const decide = (who: Principal, facts: CallFacts) => evaluate(p, { principal: who, tool: 'read_bucket', facts: { resource: bucket, ...facts } });
const scopeOf = (who: Principal, facts: CallFacts) => callScope(p, who, 'read_bucket', { resource: bucket, ...facts }, decide(who, facts));

describe('bucket scope: object globs, listings and narrowing (issue 18)', () => {
  it('decides reads by the object globs, deny first, approve over allow', () => {
    expect(decide(ana, { object: 'app/logs/today.log' }).effect).toBe('allow');
    expect(decide(ana, { object: 'exports/cards.csv' })).toMatchObject({ effect: 'approve', ruleIds: ['exports'] });
    expect(decide(ana, { object: 'app/certs/server.pem' })).toMatchObject({ effect: 'deny', ruleIds: ['no-keys'] });
    expect(decide(ana, { object: 'app/private/notes.txt' }).effect).toBe('deny');
    expect(decide(ana, { object: 'config/sub/app.json' }).effect).toBe('deny');
    expect(decide(ana, { object: 'other/readme.txt' }).effect).toBe('deny');
    expect(decide(eve, { object: 'app/logs/today.log' }).effect).toBe('deny');
  });

  it('allows a listing where some rule reaches, never sends it to approval, and denies one a deny rule covers whole', () => {
    expect(decide(ana, { listPrefix: '' }).effect).toBe('allow');
    expect(decide(ana, { listPrefix: 'exports/' }).effect).toBe('allow');
    expect(decide(ana, { listPrefix: 'other/' }).effect).toBe('deny');
    expect(decide(ana, { listPrefix: 'app/private/' })).toMatchObject({ effect: 'deny', ruleIds: ['no-keys'] });
    expect(decide(eve, { listPrefix: '' }).effect).toBe('allow');
    expect(decide(eve, { listPrefix: 'exports/' }).effect).toBe('deny');
  });

  it('shows a name in a listing only when a read of it would run or go to approval', () => {
    const scope = scopeOf(ana, { listPrefix: '' });
    const names = ['app/a.log', 'app/private/k.txt', 'app/x.pem', 'exports/cards.csv', 'config/app.json', 'config/sub/app.json', 'secret.txt'];
    expect(names.filter((n) => scope.objectVisible(n))).toEqual(['app/a.log', 'exports/cards.csv', 'config/app.json']);
    expect(['app/', 'app/private/', 'config/', 'exports/', 'other/'].filter((n) => scope.prefixVisible(n))).toEqual(['app/', 'config/', 'exports/']);
    const narrow = scopeOf(eve, { listPrefix: '' });
    expect(['app/public/a.txt', 'app/a.log', 'exports/cards.csv'].filter((n) => narrow.objectVisible(n))).toEqual(['app/public/a.txt']);
  });

  it('narrows the prefix sent upstream to where visible objects start, without crossing the delimiter', () => {
    expect(scopeOf(ana, { listPrefix: '' }).listPrefix('', undefined)).toBe('');
    expect(scopeOf(eve, { listPrefix: '' }).listPrefix('', undefined)).toBe('app/public/');
    expect(scopeOf(eve, { listPrefix: '' }).listPrefix('', '/')).toBe('app');
    expect(scopeOf(eve, { listPrefix: 'app/' }).listPrefix('app/', '/')).toBe('app/public');
    expect(scopeOf(eve, { listPrefix: 'app/public/x' }).listPrefix('app/public/x', undefined)).toBe('app/public/x');
  });

  it('forces the scope filter and the deciding rules\' filters on log calls', () => {
    const facts: CallFacts = { resource: { kind: 'log_scope', name: 'prod' }, logNames: ['app', 'requests'] };
    const decision = evaluate(p, { principal: ana, tool: 'tail_logs', facts });
    expect(decision.effect).toBe('allow');
    expect(callScope(p, ana, 'tail_logs', facts, decision).logFilters).toEqual(['resource.type="cloud_run_revision"', 'severity>=WARNING']);
  });

  it('lists buckets and log scopes with the globs and filters policy allows', () => {
    const access = accessFor(p, { issuer: ana.issuer, sub: ana.sub, email: ana.email, groups: ana.groups, clientId: undefined, verified: true });
    const data = access.find((r) => r.name === 'data');
    expect(data?.grants).toEqual([
      { tool: 'read_bucket', effect: 'allow', conditional: true, objects: ['app/**', 'config/*.json'], deniedObjects: ['**/*.pem', 'app/private/**'] },
      { tool: 'read_bucket', effect: 'approve', approverGroups: ['dpo'], conditional: true, objects: ['exports/**'], deniedObjects: ['**/*.pem', 'app/private/**'] },
    ]);
    const prod = access.find((r) => r.name === 'prod');
    expect(prod?.grants).toEqual([
      { tool: 'tail_logs', effect: 'allow', conditional: false, logNames: ['app', 'requests'], logFilters: ['resource.type="cloud_run_revision"', 'severity>=WARNING'] },
    ]);
  });

  it('refuses a forced filter on a deny rule and a bad duration (issue 18)', () => {
    const bad = (rule: Record<string, unknown>, limits?: Record<string, unknown>) => () =>
      parsePolicy(JSON.stringify({ version: 1, ...(limits === undefined ? {} : { defaults: { limits } }), rules: [rule] }), 'policies.json', TOOLS);
    expect(bad({ id: 'x', effect: 'deny', tools: ['tail_logs'], reason: 'no', forceLogFilter: 'severity>=ERROR' })).toThrow(/"forceLogFilter" narrows what an allow or approve rule lets through/);
    expect(bad({ id: 'x', effect: 'allow', tools: ['tail_logs'] }, { maxWindow: '24 hours' })).toThrow(/must be a duration like "90s", "15m", "24h" or "7d"/);
  });
});

describe('forced Logging filters are checked at load (issue 18)', () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['a scope filter', { resources: { logScopes: { prod: { project: 'acme-prod-123', filter: 'severity>=' } } }, rules: [] }, /resources\.logScopes\.prod\.filter.*is not a valid Logging filter: expected a value after ">=", found end of filter at line 1, column 11/s],
    ['a rule filter', { rules: [{ id: 'x', effect: 'allow', tools: ['tail_logs'], forceLogFilter: 'severity>=WARNING) OR (true' }] }, /rules\[0\]\.forceLogFilter.*is not a valid Logging filter: unexpected "\)" at line 1, column 18/s],
  ])('refuses %s that does not parse, with its position', (_what, file, message) => {
    expect(() => parsePolicy(JSON.stringify({ version: 1, ...file }), 'policies.json', TOOLS)).toThrow(message);
  });
});
