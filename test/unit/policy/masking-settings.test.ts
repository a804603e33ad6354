import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/policy/load.js';
import { policyProblems } from '../../support/policy.js';
import { sensitiveColumns } from '../../../src/policy/sensitive.js';

const text = (masking: unknown): string => JSON.stringify({ version: 1, rules: [], masking });
const parse = (masking: unknown): ReturnType<typeof parsePolicy> => parsePolicy(text(masking), 'policies.json', ['query_sql']);
const problems = (masking: unknown): readonly string[] => policyProblems(text(masking), 'policies.json', ['query_sql']);

const approvers = { approverGroups: ['security'] };

describe('PolicyFileSchema masking', () => {
  it('keeps a column name alone as "*.name", so SQL lineage treats it as that column in any table', () => {
    const { masking } = parse({ columns: ['*ssn*', 'customers.card_number', '*.email'], sensitiveUse: approvers }).file;
    expect(masking.columns).toEqual(['*.*ssn*', 'customers.card_number', '*.email']);
    const sensitive = sensitiveColumns(masking.columns);
    expect(sensitive?.('public', 'patients', 'patient_ssn')).toBe(true);
    expect(sensitive?.('public', 'orders', 'card_number')).toBe(false);
  });

  it('accepts style hmac with a key reference, and custom detectors that run in linear time', () => {
    const { masking } = parse({
      detectors: ['EMAIL', 'GCP_SA_KEY'],
      style: 'hmac',
      hmacKey: 'env:AIRLOCK_MASKING_KEY',
      custom: [{ name: 'TICKET_SECRET', pattern: 'tks_[A-Za-z0-9]{8}[A-Za-z0-9]*', flags: 'm', validate: { minEntropy: 3, keyNames: ['ticket_*'] }, secret: true }],
    }).file;
    expect(masking).toMatchObject({ style: 'hmac', hmacKey: 'env:AIRLOCK_MASKING_KEY', custom: [{ name: 'TICKET_SECRET' }] });
  });

  it.each<[string, unknown, string]>([
    ['a key without style hmac', { style: 'redact', hmacKey: 'env:K' }, 'policies.json: masking.hmacKey: "hmacKey" only applies to style "hmac" (this style is "redact")'],
    ['a column pattern with four parts', { columns: ['a.b.c.d'], sensitiveUse: approvers }, 'policies.json: masking.columns[0]: must be "table.column", "schema.table.column" or a column name alone (globs allowed, e.g. "customers.card_number", "*ssn*")'],
    ['a lower-case custom name', { custom: [{ name: 'ticket', pattern: 't_[0-9]+' }] }, 'policies.json: masking.custom[0].name: must be 2-40 upper-case letters, digits or "_", starting with a letter (it is shown in placeholders like [NAME_1])'],
    ['a custom detector named like a placeholder of column rules', { custom: [{ name: 'SENSITIVE_COLUMN', pattern: 't_[0-9]+' }] }, 'policies.json: masking.custom[0].name: "SENSITIVE_COLUMN" is a built-in name; give the custom detector its own'],
    ['an unknown detector', { detectors: ['GCP_SERVICE_ACCOUNT'] }, 'policies.json: masking.detectors[0]: Invalid option: expected one of "CREDIT_CARD"|"EMAIL"|"IBAN"|"JWT"|"GCP_SA_KEY"|"PRIVATE_KEY"|"AWS_ACCESS_KEY"|"GCP_API_KEY"|"GITHUB_TOKEN"|"SLACK_TOKEN"|"STRIPE_KEY"|"PASSWORD_IN_URL"|"PASSWORD"|"AWS_SECRET_KEY"|"GENERIC_API_KEY"|"US_SSN"|"IP_ADDRESS"|"PHONE"'],
    ['a case-insensitive flag', { custom: [{ name: 'TICKET', pattern: 'tks_[a-z]+', flags: 'i' }] }, 'policies.json: masking.custom[0].flags: flags "i" are not allowed: use "m", "s" or both (the linear-time engine has no "i": write [Tt] for a letter in any case)'],
    ['a nested quantifier the linear engine cannot take', { custom: [{ name: 'NESTED', pattern: '(?:a{1,40}){1,40}' }] }, 'policies.json: masking.custom[0].pattern: pattern "(?:a{1,40}){1,40}" cannot run in linear time: backreferences, lookarounds and counted repeats above 16 are not supported (write X{16}X{16} for X{32}, or X+); custom patterns must not be able to hang the process'],
  ])('rejects %s with its path', (_label, masking, expected) => {
    expect(problems(masking)).toEqual([expected]);
  });
});
