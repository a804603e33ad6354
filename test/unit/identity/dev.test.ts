import { describe, expect, it } from 'vitest';
import { parseDevIdentity } from '../../../src/identity/dev.js';
import { DEV_ISSUER } from '../../../src/identity/principal.js';

describe('parseDevIdentity', () => {
  it('parses an email and groups into a principal marked dev', () => {
    expect(parseDevIdentity('ana@example.com,analysts,dba')).toEqual({
      issuer: DEV_ISSUER,
      sub: 'ana@example.com',
      email: 'ana@example.com',
      groups: ['analysts', 'dba'],
      clientId: undefined,
      dev: true,
    });
  });

  it('throws TypeError naming the flag when the first item is not an email', () => {
    expect(() => parseDevIdentity('analysts')).toThrow('--dev-identity: expected EMAIL[,GROUP,...], got "analysts"');
  });

  it('throws TypeError on an invalid group name', () => {
    expect(() => parseDevIdentity('ana@example.com,bad group')).toThrow('--dev-identity: invalid group name "bad group"');
  });
});
