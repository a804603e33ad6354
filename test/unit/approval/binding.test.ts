import { describe, expect, it } from 'vitest';
import { bindCall, hashBinding, type BindingInput } from '../../../src/approval/binding.js';

const base: BindingInput = {
  principal: { issuer: 'https://issuer.test', sub: 'ana' },
  tool: 'query_sql',
  resource: 'shop',
  input: { connection: 'shop', sql: 'UPDATE orders SET status = $1 WHERE id = $2', params: ['paid', 42] },
  ruleIds: ['writes-need-dba'],
  policyVersion: 'sha256:aaaa',
};

/** Every way one argument can differ by one byte or one type from the base call. */
function variants(): [string, BindingInput][] {
  const input = base.input as { connection: string; sql: string; params: unknown[] };
  const withInput = (name: string, next: unknown): [string, BindingInput] => [name, { ...base, input: next }];
  const out: [string, BindingInput][] = [
    ['issuer', { ...base, principal: { issuer: 'https://issuer.test/', sub: 'ana' } }],
    ['sub', { ...base, principal: { issuer: 'https://issuer.test', sub: 'anA' } }],
    ['tool', { ...base, tool: 'query_sqL' }],
    ['resource', { ...base, resource: 'shop2' }],
    ['rule ids', { ...base, ruleIds: ['writes-need-dba', 'other'] }],
    ['policy version', { ...base, policyVersion: 'sha256:aaab' }],
    withInput('param 42 as string', { ...input, params: ['paid', '42'] }),
    withInput('param 42 as 42.5', { ...input, params: ['paid', 42.5] }),
    withInput('param 0 vs -0', { ...input, params: ['paid', -0] }),
    withInput('param true', { ...input, params: ['paid', true] }),
    withInput('param null', { ...input, params: ['paid', null] }),
    withInput('param array', { ...input, params: ['paid', [42]] }),
    withInput('param object', { ...input, params: ['paid', { 0: 42 }] }),
    withInput('params swapped', { ...input, params: [42, 'paid'] }),
    withInput('extra param', { ...input, params: ['paid', 42, null] }),
    withInput('no params', { connection: 'shop', sql: input.sql }),
    withInput('empty params', { ...input, params: [] }),
    withInput('params as object', { ...input, params: { 0: 'paid', 1: 42 } }),
    withInput('extra member', { ...input, maxRows: 10 }),
    withInput('__proto__ member', JSON.parse(`{"connection":"shop","sql":${JSON.stringify(input.sql)},"params":["paid",42],"__proto__":{"x":1}}`) as unknown),
  ];
  // One byte changed, added or removed at every position of the SQL, and every character's case.
  for (let i = 0; i <= input.sql.length; i++) {
    out.push(withInput(`sql insert at ${i}`, { ...input, sql: `${input.sql.slice(0, i)}#${input.sql.slice(i)}` }));
    if (i < input.sql.length) {
      out.push(withInput(`sql delete at ${i}`, { ...input, sql: input.sql.slice(0, i) + input.sql.slice(i + 1) }));
      const c = input.sql.charCodeAt(i);
      out.push(withInput(`sql flip at ${i}`, { ...input, sql: input.sql.slice(0, i) + String.fromCharCode(c ^ 1) + input.sql.slice(i + 1) }));
    }
  }
  out.push(withInput('sql trailing semicolon', { ...input, sql: `${input.sql};` }));
  out.push(withInput('sql NFC vs NFD', { ...input, sql: 'SELECT \u00e9' }));
  out.push(withInput('sql NFD', { ...input, sql: 'SELECT e\u0301' }));
  // Two edits can give the same text (deleting either of two equal neighbours): keep one of each.
  const texts = new Set<string>();
  return out.filter(([, call]) => {
    const key = JSON.stringify(call) + (Object.is((call.input as { params?: unknown[] }).params?.[1], -0) ? '-0' : '');
    if (texts.has(key)) return false;
    texts.add(key);
    return true;
  });
}

describe('bindCall (issue 17)', () => {
  it('gives a sha256 hash that is the same after a JSON round trip and with keys in another order', () => {
    const { bindingHash, binding } = bindCall(base);
    expect(bindingHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    const reordered = { params: ['paid', 42], sql: 'UPDATE orders SET status = $1 WHERE id = $2', connection: 'shop' };
    expect(bindCall({ ...base, input: reordered }).bindingHash).toBe(bindingHash);
    expect(hashBinding(JSON.parse(JSON.stringify(binding)) as typeof binding)).toBe(bindingHash);
    expect(bindCall({ ...base, ruleIds: ['writes-need-dba', 'writes-need-dba'] }).bindingHash).toBe(bindingHash);
  });

  it('changes the hash when any field or argument differs by one byte or one type', () => {
    const seen = new Map<string, string>([[bindCall(base).bindingHash, 'base']]);
    const all = variants();
    expect(all.length).toBeGreaterThan(150);
    for (const [name, call] of all) {
      const hash = bindCall(call).bindingHash;
      expect(seen.get(hash), `${name} collides with ${seen.get(hash) ?? ''}`).toBeUndefined();
      seen.set(hash, name);
    }
  });

  it('keeps strings exact: the binding holds the SQL as given', () => {
    const sql = 'SELECT  1 -- \u0000 \ud83d\ude00';
    expect((bindCall({ ...base, input: { sql } }).binding.input as { sql: string }).sql).toBe(sql);
  });

  it('refuses values with no exact JSON form', () => {
    const bad: [string, unknown][] = [
      ['undefined member', { sql: 'x', params: undefined }],
      ['NaN', { params: [NaN] }],
      ['Infinity', { params: [Infinity] }],
      ['BigInt', { params: [1n] }],
      ['Date', { params: [new Date(0)] }],
      ['function', { f: () => 1 }],
      // eslint-disable-next-line no-sparse-arrays -- the hole is the case under test
      ['sparse array', { params: [1, , 3] }],
    ];
    for (const [name, input] of bad) expect(() => bindCall({ ...base, input }), name).toThrow(TypeError);
  });
});
