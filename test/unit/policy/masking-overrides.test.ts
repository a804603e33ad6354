import { describe, expect, it } from 'vitest';
import { parseDevIdentity } from '../../../src/identity/dev.js';
import { parsePolicy } from '../../../src/policy/load.js';
import { policyProblems } from '../../support/policy.js';
import { maskingFor } from '../../../src/policy/masking.js';

const TOOLS = ['query_sql', 'explain_policy'];
const text = (masking: unknown): string => JSON.stringify({ version: 1, rules: [], masking });
const parse = (masking: unknown): ReturnType<typeof parsePolicy> => parsePolicy(text(masking), 'policies.json', TOOLS);
const problems = (masking: unknown): readonly string[] => policyProblems(text(masking), 'policies.json', TOOLS);

const support = parseDevIdentity('sam@example.com,support');
const analyst = parseDevIdentity('ana@example.com,analysts');

const masking = parse({
  detectors: ['CREDIT_CARD', 'EMAIL', 'JWT'],
  overrides: [
    { id: 'payments-extra', resources: ['payments*'], add: ['IBAN', 'US_SSN'] },
    { id: 'support-sees-email', principals: { groups: ['support'] }, resources: ['shop'], remove: ['EMAIL'] },
    { id: 'phones-on-shop', tools: ['query_sql'], resources: ['shop'], add: ['PHONE'] },
    { id: 'payments-email-for-support', principals: { groups: ['support'] }, resources: ['payments-eu'], remove: ['EMAIL', 'IBAN'] },
  ],
}).file.masking;

describe('masking overrides', () => {
  it("gives the policy's detectors when no override matches", () => {
    expect(maskingFor(masking, { principal: analyst, tool: 'query_sql', resource: 'warehouse' })).toEqual({ detectors: ['CREDIT_CARD', 'EMAIL', 'JWT'], overrides: [] });
  });

  it('adds and removes detectors by caller, tool and resource; every matching override applies', () => {
    expect(maskingFor(masking, { principal: analyst, tool: 'query_sql', resource: 'shop' })).toEqual({ detectors: ['CREDIT_CARD', 'EMAIL', 'JWT', 'PHONE'], overrides: ['phones-on-shop'] });
    expect(maskingFor(masking, { principal: support, tool: 'query_sql', resource: 'shop' })).toEqual({ detectors: ['CREDIT_CARD', 'JWT', 'PHONE'], overrides: ['support-sees-email', 'phones-on-shop'] });
    expect(maskingFor(masking, { principal: analyst, tool: 'query_sql', resource: 'payments-us' })).toEqual({ detectors: ['CREDIT_CARD', 'EMAIL', 'IBAN', 'JWT', 'US_SSN'], overrides: ['payments-extra'] });
  });

  it('keeps a detector on when one override adds it and another removes it (more masking wins)', () => {
    expect(maskingFor(masking, { principal: support, tool: 'query_sql', resource: 'payments-eu' })).toEqual({
      detectors: ['CREDIT_CARD', 'IBAN', 'JWT', 'US_SSN'],
      overrides: ['payments-extra', 'payments-email-for-support'],
    });
  });

  it('does not match a principals override for a call without a verified principal', () => {
    expect(maskingFor(masking, { tool: 'query_sql', resource: 'shop' }).overrides).toEqual(['phones-on-shop']);
  });

  it.each<[string, unknown, string]>([
    ['a secret removed', { overrides: [{ id: 'x', resources: ['shop'], remove: ['EMAIL', 'JWT'] }] }, 'policies.json: masking.overrides[0].remove[1]: "JWT" is a secret and is always masked; it cannot be removed'],
    ['no condition', { overrides: [{ id: 'x', add: ['EMAIL'] }] }, 'policies.json: masking.overrides[0].resources: say which calls it is for: "principals", "tools" and/or "resources" (for every call, change "masking.detectors")'],
    ['nothing to change', { overrides: [{ id: 'x', resources: ['shop'] }] }, 'policies.json: masking.overrides[0].add: give "add" and/or "remove": the detectors to turn on or off for these calls'],
    ['a duplicate id', { overrides: [{ id: 'x', resources: ['a'], add: ['EMAIL'] }, { id: 'x', resources: ['b'], add: ['EMAIL'] }] }, 'policies.json: masking.overrides[1].id: duplicate override id "x" (also overrides[0])'],
    ['an unknown tool', { overrides: [{ id: 'x', tools: ['read_buckets'], add: ['EMAIL'] }] }, 'policies.json: masking.overrides[0].tools[0]: unknown tool "read_buckets" (known: query_sql, explain_policy)'],
    ['an unknown detector', { overrides: [{ id: 'x', resources: ['a'], add: ['EMAILS'] }] }, 'policies.json: masking.overrides[0].add[0]:'],
  ])('rejects %s with its path', (_name, m, expected) => {
    expect(problems(m).some((p) => p.startsWith(expected))).toBe(true);
  });
});
