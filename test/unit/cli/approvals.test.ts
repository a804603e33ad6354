import { describe, expect, it } from 'vitest';
import { clean, duration, formatDecided, formatList } from '../../../src/cli/approvals.js';
import type { RequestView } from '../../../src/approval/view.js';

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);
const iso = (offsetMs: number): string => new Date(NOW + offsetMs).toISOString();

function view(over: Partial<RequestView> = {}): RequestView {
  return {
    id: 'apr_abc',
    state: 'pending',
    requester: { issuer: 'https://issuer.test', sub: 'ana', email: 'ana@example.com', groups: ['analysts'] },
    tool: 'query_sql',
    resource: 'shop',
    input: { connection: 'shop', sql: 'UPDATE t SET x = 1' },
    ruleIds: ['w'],
    policyVersion: 'sha256:p',
    bindingHash: 'sha256:b',
    approverGroups: ['dba'],
    quorum: 1,
    approvals: 0,
    decisions: [],
    createdAt: iso(-90_000),
    expiresAt: iso(9 * 60_000 + 30_000),
    canDecide: true,
    ...over,
  };
}

describe('duration (issue 17)', () => {
  it.each([
    [0, '0s'],
    [-5_000, '0s'],
    [59_999, '59s'],
    [60_000, '1m'],
    [59 * 60_000 + 59_000, '59m'],
    [3_600_000, '1h'],
    [3_600_000 + 5 * 60_000, '1h 5m'],
    [24 * 3_600_000, '1d'],
    [(3 * 24 + 4) * 3_600_000, '3d 4h'],
  ])('%i ms is %s', (ms, text) => {
    expect(duration(ms)).toBe(text);
  });
});

describe('clean (issue 17)', () => {
  it.each([
    ['SELECT 1', 'SELECT 1'],
    ['a\u001b[2Kb', 'a\\u{1b}[2Kb'],
    ['x\u009b2Jy', 'x\\u{9b}2Jy'],
    ['/* \u202e */', '/* \\u{202e} */'],
    ['zero\u200bwidth\ufeff', 'zero\\u{200b}width\\u{feff}'],
    ['tab\there', 'tab\\u{9}here'],
    ['ünïcødé 数据', 'ünïcødé 数据'],
  ])('shows %j as %j', (input, shown) => {
    expect(clean(input)).toBe(shown);
  });

  it('keeps the characters it is told to keep (line breaks in the detail view)', () => {
    expect(clean('a\nb\u0007', '\n')).toBe('a\nb\\u{7}');
  });
});

describe('formatList (issue 17)', () => {
  it('aligns columns, shows the first line of the SQL, approvals/quorum and time left', () => {
    const text = formatList([view(), view({ id: 'apr_longer_id', input: { sql: 'DELETE FROM t\nWHERE id = 1' }, approvals: 1, quorum: 2 })], NOW, false);
    expect(text.split('\n')).toEqual([
      'ID             AGE  REQUESTER        TOOL       RESOURCE  SQL                 APPROVALS  EXPIRES IN',
      'apr_abc        1m   ana@example.com  query_sql  shop      UPDATE t SET x = 1  0/1        9m',
      'apr_longer_id  1m   ana@example.com  query_sql  shop      DELETE FROM t …     1/2        9m',
    ]);
  });

  it('with states: the time left to run an approved grant, "-" for final states, "expired" when the time is up', () => {
    const rows = formatList(
      [view({ state: 'approved', executeBy: iso(120_000) }), view({ state: 'denied' }), view({ expiresAt: iso(-1) }), view({ input: { name: 'x' }, tool: 'read_object' })],
      NOW,
      true,
    )
      .split('\n')
      .slice(1)
      .map((l) => l.split(/ {2,}/));
    expect(rows.map((r) => [r[1], r.at(-1)])).toEqual([
      ['approved', '2m'],
      ['denied', '-'],
      ['pending', 'expired'],
      ['pending', '9m'],
    ]);
    expect(rows[3]?.[6]).toBe('{"name":"x"}');
  });
});

describe('formatDecided (issue 17)', () => {
  it('says whether the grant is ready, how many approvals are missing, or that the call will not run', () => {
    expect(formatDecided(view({ state: 'approved', approvals: 2, quorum: 2, executeBy: iso(600_000) }), 'approve')).toBe(`Approved apr_abc (2 of 2): the requester's call can run once, until ${iso(600_000)}.`);
    expect(formatDecided(view({ approvals: 1, quorum: 3 }), 'approve')).toBe('Approved apr_abc (1 of 3): 2 more approvals needed before it can run.');
    expect(formatDecided(view({ state: 'denied' }), 'deny')).toBe('Denied apr_abc: the call will not run.');
  });
});
