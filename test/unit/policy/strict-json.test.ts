import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_TOOLS } from '../../../tools/index.js';
import { parseStrictJson, StrictJsonError } from '../../../src/strict-json.js';
import { policyProblems } from '../../support/policy.js';

const TOOLS = ALL_TOOLS.map((t) => t.name);
const SHIPPED = readFileSync(new URL('../../../policies.json', import.meta.url), 'utf8');

function problemsOf(text: string): readonly string[] {
  try {
    parseStrictJson(text);
  } catch (error) {
    if (error instanceof StrictJsonError) return error.problems.map((p) => `${p.line}:${p.column}: ${p.message}`);
    throw error;
  }
  throw new Error('expected the text to be rejected');
}

describe('parseStrictJson (issue 15)', () => {
  it.each([
    ['scalars and nesting', '{"a":[1,-2.5e+3,0,true,false,null,"x"],"b":{"c":{}},"d":[]}'],
    ['escapes and unicode', '{"s":"\\u00e9\\n\\t\\"\\\\\\/","t":"日本","u":"\\ud83d\\ude00"}'],
    ['the same key in different objects', '{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":2}]}'],
    ['whitespace everywhere', ' \n\t{ "a" : [ 1 , 2 ] }\r\n '],
    ['a bare scalar', '  42 '],
  ])('reads %s exactly as JSON.parse does', (_label, text) => {
    expect(parseStrictJson(text)).toEqual(JSON.parse(text));
  });

  it.each([
    ['at the top', '{"a":1,\n"a":2}', ['2:1: duplicate key "a" (first at line 1, column 2); JSON readers disagree on which one counts, so remove one']],
    ['deep inside arrays', '{"x":[{"y":[{"z":1, "z":1}]}]}', ['1:21: duplicate key "z" (first at line 1, column 14); JSON readers disagree on which one counts, so remove one']],
    ['spelled with an escape', '{"effect":"deny","eff\\u0065ct":"allow"}', ['1:18: duplicate key "effect" (first at line 1, column 2); JSON readers disagree on which one counts, so remove one']],
    ['three times', '{"k":1,"k":2,"k":3}', [
      '1:8: duplicate key "k" (first at line 1, column 2); JSON readers disagree on which one counts, so remove one',
      '1:14: duplicate key "k" (first at line 1, column 2); JSON readers disagree on which one counts, so remove one',
    ]],
  ])('reports duplicate keys %s with line and column', (_label, text, expected) => {
    expect(problemsOf(text)).toEqual(expected);
  });

  it.each([
    ['__proto__', '{"m":{"__proto__":{"x":1}}}', '1:7: the key "__proto__" is not allowed (JavaScript gives it a special meaning)'],
    ['__proto__ escaped', '{"\\u005f_proto__":1}', '1:2: the key "__proto__" is not allowed (JavaScript gives it a special meaning)'],
    ['constructor', '{"constructor":1}', '1:2: the key "constructor" is not allowed (JavaScript gives it a special meaning)'],
    ['prototype', '[{"prototype":1}]', '1:3: the key "prototype" is not allowed (JavaScript gives it a special meaning)'],
  ])('refuses the key %s', (_label, text, expected) => {
    expect(problemsOf(text)).toEqual([expected]);
  });

  it('refuses a byte order mark with a message that says what to do', () => {
    expect(problemsOf('\uFEFF{"a":1}')).toEqual(['1:1: the file starts with a byte order mark (U+FEFF); save it as UTF-8 without BOM']);
  });

  it.each([
    ['an empty text', '', '1:1: not valid JSON: the text is empty'],
    ['an unclosed object', '{"a":1', '1:7: not valid JSON: unexpected end of the text: an object is not closed'],
    ['a trailing comma', '{"a":1,}', '1:8: not valid JSON: expected a key in double quotes but found "}"'],
    ['single quotes', "{'a':1}", '1:2: not valid JSON: expected a key in double quotes or "}" but found "\'a\':1}"'],
    ['a comment', '{"a":1 // no\n}', '1:8: not valid JSON: expected "," or "}" but found "// no\\n}"'],
    ['a leading zero', '[01]', '1:3: not valid JSON: expected "," or "]" but found "1]"'],
    ['a raw newline in a string', '["a\nb"]', '1:2: not valid JSON: invalid string (a raw control character, a bad escape, or no closing quote)'],
    ['text after the value', '{}\n{}', '2:1: not valid JSON: unexpected "{}" after the end of the JSON value'],
    ['a missing colon', '{\n  "a" 1}', '2:7: not valid JSON: expected ":" after the key but found "1}"'],
  ])('reports %s with line and column', (_label, text, expected) => {
    expect(problemsOf(text)).toEqual([expected]);
  });

  it('keeps duplicate-key problems found before a syntax error', () => {
    expect(problemsOf('{"a":1,"a":2,')).toEqual([
      '1:8: duplicate key "a" (first at line 1, column 2); JSON readers disagree on which one counts, so remove one',
      '1:14: not valid JSON: unexpected end of the text: an object is not closed',
    ]);
  });

  it('walks 100,000 levels of nesting without overflowing the stack', () => {
    expect(problemsOf('['.repeat(100_000))).toEqual(['1:100001: not valid JSON: unexpected end of the text: an array is not closed']);
    expect(problemsOf(`${'{"a":'.repeat(50_000)}1${'}'.repeat(49_999)}`)).toEqual(['1:300001: not valid JSON: unexpected end of the text: an object is not closed']);
  });
});

describe('parsePolicy: duplicate keys, special keys and empty selectors (issue 15)', () => {
  const check = (text: string): readonly string[] => policyProblems(text, '/etc/airlock/policies.json', TOOLS);

  it('refuses the shipped policy when a deny rule gains a second "effect": "allow"', () => {
    const text = SHIPPED.replace('"effect": "deny",', '"effect": "deny", "effect": "allow",');
    expect(text).not.toBe(SHIPPED);
    const [problem, ...rest] = check(text);
    expect(rest).toEqual([]);
    expect(problem).toMatch(/^policies\.json:\d+:\d+: duplicate key "effect" \(first at line \d+, column \d+\); JSON readers disagree on which one counts, so remove one$/);
  });

  it.each([
    ['"rules": [] appended at the end', (t: string) => t.replace(/\}\s*$/, ', "rules": []\n}'), 'rules'],
    ['a second "tools"', (t: string) => t.replace('"tools": ["query_sql"],', '"tools": ["query_sql"], "tools": ["explain_policy"],'), 'tools'],
    ['a second "groups"', (t: string) => t.replace(/"groups": \[([^\]]*)\]/, '"groups": [$1], "groups": ["everyone"]'), 'groups'],
    ['a second "url"', (t: string) => t.replace(/"url": ("[^"]*")/, '"url": $1, "url": "env:OTHER"'), 'url'],
    ['a second "detectors"', (t: string) => t.replace(/"detectors": \[([^\]]*)\]/, '"detectors": [$1], "detectors": []'), 'detectors'],
  ])('refuses the shipped policy with %s', (_label, edit, key) => {
    const text = edit(SHIPPED);
    expect(text).not.toBe(SHIPPED);
    expect(check(text).some((p) => p.includes(`duplicate key "${key}"`))).toBe(true);
  });

  it('refuses a repeated "maxRows" inside limits', () => {
    const doc = '{"version":1,"defaults":{"limits":{"maxRows":10,\n  "maxRows":100000}},"rules":[]}';
    expect(check(doc)).toEqual(['policies.json:2:3: duplicate key "maxRows" (first at line 1, column 36); JSON readers disagree on which one counts, so remove one']);
  });

  it.each(['__proto__', 'constructor', 'prototype'])('refuses %s as a connection name', (name) => {
    const doc = `{"version":1,"resources":{"connections":{"${name}":{"url":"env:DB"}}},"rules":[]}`;
    expect(check(doc)).toEqual([`policies.json:1:42: the key "${name}" is not allowed (JavaScript gives it a special meaning)`]);
  });

  it('refuses a file that starts with a byte order mark', () => {
    expect(check(`\uFEFF${SHIPPED}`)).toEqual(['policies.json:1:1: the file starts with a byte order mark (U+FEFF); save it as UTF-8 without BOM']);
  });

  const EMPTY_PRINCIPALS = 'give at least one of "groups", "emails", "subs" or "issuers" (an empty "principals" would match every caller; leave it out to mean everyone)';
  it.each([
    ['an allow rule', { version: 1, rules: [{ id: 'r', effect: 'allow', tools: ['query_sql'], principals: {} }] }, `policies.json: rules[0].principals: ${EMPTY_PRINCIPALS}`],
    ['a deny rule', { version: 1, rules: [{ id: 'r', effect: 'deny', reason: 'no', tools: ['query_sql'], principals: {} }] }, `policies.json: rules[0].principals: ${EMPTY_PRINCIPALS}`],
    ['a masking override', { version: 1, rules: [], masking: { overrides: [{ id: 'o', principals: {}, add: ['EMAIL'] }] } }, `policies.json: masking.overrides[0].principals: ${EMPTY_PRINCIPALS}`],
  ])('refuses empty "principals" in %s', (_label, doc, expected) => {
    expect(check(JSON.stringify(doc))).toContain(expected);
  });

  it.each([
    ['groups', { groups: [] }, 'rules[0].principals.groups'],
    ['emails', { emails: [] }, 'rules[0].principals.emails'],
    ['subs', { subs: [] }, 'rules[0].principals.subs'],
    ['issuers', { issuers: [] }, 'rules[0].principals.issuers'],
    ['resources', undefined, 'rules[0].resources'],
    ['sql.tables', undefined, 'rules[0].sql.tables'],
    ['objects', undefined, 'rules[0].objects'],
    ['logNames', undefined, 'rules[0].logNames'],
  ])('refuses an empty %s list', (key, principals, path) => {
    const rule: Record<string, unknown> = { id: 'r', effect: 'allow', tools: ['query_sql'] };
    if (principals !== undefined) rule.principals = principals;
    else if (key === 'sql.tables') rule.sql = { tables: [] };
    else rule[key] = [];
    const found = check(JSON.stringify({ version: 1, rules: [rule] }));
    expect(found.some((p) => p.startsWith(`policies.json: ${path}: Too small`))).toBe(true);
  });

  it('refuses an empty "sql" block', () => {
    expect(check(JSON.stringify({ version: 1, rules: [{ id: 'r', effect: 'allow', tools: ['query_sql'], sql: {} }] }))).toContain(
      'policies.json: rules[0].sql: give at least one of "classes", "tables", "tablesWritten", "functions" or "columns"',
    );
  });
});
