import { describe, expect, it } from 'vitest';
import { authorizationEmail, claimAt, domainMatches, identifierClaim } from '../../../src/identity/claims.js';

describe('authorizationEmail', () => {
  it('returns the comparable form, or undefined when folding would change the address (issue 15)', () => {
    const cases: [string, string | undefined][] = [
      ['Kate@Corp.Example', 'kate@corp.example'],
      ['kate@b\u00FCcher.example', 'kate@xn--bcher-kva.example'],
      ['j\u00FCrgen@corp.example', 'j\u00FCrgen@corp.example'],
      ['\u212Aate@corp.example', undefined],
      ['\u017Fam@corp.example', undefined],
      ['t\u0131m@corp.example', undefined],
      ['J\u00DCRGEN@corp.example', undefined],
      ['\uFF4Bate@corp.example', undefined],
      ['ka\u0301te@corp.example', undefined],
      ['kate@\u212Aorp.example', undefined],
      ['kate@corp..example', undefined],
      ['kate corp@example', undefined],
      ['@corp.example', undefined],
      ['kate@', undefined],
      [`${'a'.repeat(65)}@corp.example`, undefined],
    ];
    for (const [input, expected] of cases) expect(authorizationEmail(input), input).toBe(expected);
  });
});

describe('claimAt', () => {
  it('walks objects only (issue 15)', () => {
    const payload = { 'a.b': ['literal'], a: { b: ['nested'] }, arr: [{ b: 1 }] };
    expect(claimAt(payload, ['a', 'b'])).toEqual(['nested']);
    expect(claimAt({ 'a.b': ['literal'] }, ['a', 'b'])).toBeUndefined();
    expect(claimAt(payload, ['arr', '0'])).toBeUndefined();
    expect(claimAt(payload, ['a.b'])).toEqual(['literal']);
    expect(claimAt(payload, ['toString'])).toBeUndefined();
  });
});

describe('identifierClaim and domainMatches', () => {
  it('accepts bounded strings only and matches exact or subdomain patterns (issue 15)', () => {
    expect(identifierClaim('sub', 'abc', 3)).toBe('abc');
    for (const bad of ['abcd', '', 1, null, 'a\tb', 'a\u200Db']) expect(() => identifierClaim('sub', bad, 3), JSON.stringify(bad)).toThrow(/^sub: /);
    expect(domainMatches('corp.example', ['corp.example'])).toBe(true);
    expect(domainMatches('evilcorp.example', ['*.corp.example', 'corp.example'])).toBe(false);
    expect(domainMatches('eu.corp.example', ['*.corp.example'])).toBe(true);
  });
});
