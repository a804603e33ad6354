import { describe, expect, it } from 'vitest';
import { MaskingFailedError } from '../../../src/errors.js';
import { globMatchLinear } from '../../../src/masking/columns.js';
import { MaskContext, Masker } from '../../../src/masking/masker.js';
import type { RowsResult } from '../../../src/tool.js';

const rows = (names: string[], data: unknown[][]): RowsResult => ({ kind: 'rows', columns: names.map((name) => ({ name, type: 'text' })), rows: data, rowCount: data.length, truncated: false });
const KEY = 'deployment-key-0123456789abcdef';

describe('Masker column rules by name', () => {
  const result = rows(
    ['id', 'customer_ssn', 'card_number', 'note'],
    [
      [1, '123-45-6789', '4111 1111 1111 1111', 'ok'],
      [2, null, '5555555555554444', 'ok'],
    ],
  );

  it('masks a column whose name matches a pattern without a table part, whatever it holds', () => {
    const masker = new Masker({ detectors: ['CREDIT_CARD'], style: 'last4', columns: ['*ssn*'] });
    const masked = masker.maskResult(result, [], { lineageKnown: true });
    expect(masked.value).toMatchObject({
      rows: [
        [1, '[MASKED]', '**** **** **** 1111', 'ok'],
        [2, null, '************4444', 'ok'],
      ],
    });
    expect(masked.report).toEqual({ findings: { SENSITIVE_COLUMN: 1, CREDIT_CARD: 2 }, maskedColumns: ['customer_ssn', 'card_number'] });
  });

  it('applies "table.column" by its column name only where no lineage is known (an alias, a non-SQL tool)', () => {
    const masker = new Masker({ detectors: ['CREDIT_CARD'], style: 'last4', columns: ['customers.card_number', '*.*.ssn'] });
    const unknown = masker.maskResult(result);
    expect((unknown.value as RowsResult).rows.map((r) => r[2])).toEqual(['[MASKED]', '[MASKED]']);
    const known = masker.maskResult(result, [], { lineageKnown: true });
    expect((known.value as RowsResult).rows.map((r) => r[2])).toEqual(['**** **** **** 1111', '************4444']);
  });

  it('keeps lineage: outputs marked by SQL lineage are masked whole with lineage known', () => {
    const masker = new Masker({ detectors: [], style: 'last4', columns: ['customers.card_number'] });
    const masked = masker.maskResult(rows(['c'], [['4111111111111111']]), [0], { lineageKnown: true });
    expect(masked.value).toMatchObject({ rows: [['[MASKED]']] });
    expect(masked.report.maskedColumns).toEqual(['c']);
  });

  it('gives column names the context of key names (bare nine digits under an ssn-like column)', () => {
    const masker = new Masker({ detectors: ['US_SSN', 'PASSWORD'], style: 'redact', columns: [] });
    const masked = masker.maskResult(rows(['ssn', 'order_no', 'db_password'], [['123456789', '123456789', 'hunter2x']]));
    expect(masked.value).toMatchObject({ rows: [['[US_SSN_1]', '123456789', '[PASSWORD_1]']] });
  });

  it('matches globs in linear time', () => {
    expect(globMatchLinear('*ssn*', 'customer_ssn_last')).toBe(true);
    expect(globMatchLinear('card_?umber', 'card_number')).toBe(true);
    expect(globMatchLinear('*a*a*a*a*b', 'a'.repeat(256))).toBe(false);
  });
});

describe('Masker style hmac', () => {
  const masker = new Masker({ detectors: ['EMAIL', 'CREDIT_CARD', 'AWS_ACCESS_KEY', 'PASSWORD'], style: 'hmac', columns: ['*ssn*'] }, { hmacKey: KEY });

  it('turns values into keyed tokens that are stable across calls and maskers with the same key', () => {
    const a = masker.maskText('mail ana@example.com', new MaskContext());
    expect(a).toMatch(/^mail \[EMAIL:hmac:[0-9a-f]{12}\]$/);
    const again = new Masker({ detectors: ['EMAIL'], style: 'hmac', columns: [] }, { hmacKey: KEY });
    expect(again.maskText('from ANA@example.com', new MaskContext())).toBe(`from ${a.slice(5)}`);
    const other = new Masker({ detectors: ['EMAIL'], style: 'hmac', columns: [] }, { hmacKey: `${KEY}-other` });
    expect(other.maskText('mail ana@example.com', new MaskContext())).not.toBe(a);
  });

  it('gives a card the same token however it is written, and does not contain the value', () => {
    const spaced = masker.maskText('4111 1111 1111 1111', new MaskContext());
    expect(masker.maskText('4111-1111-1111-1111', new MaskContext())).toBe(spaced);
    expect(spaced).toMatch(/^\[CREDIT_CARD:hmac:[0-9a-f]{12}\]$/);
    expect(spaced).not.toContain('1111');
  });

  it('still fully redacts secrets with numbered placeholders', () => {
    expect(masker.maskText('AKIAIOSFODNN7EXAMPLE password=hunter2x', new MaskContext())).toBe('[AWS_ACCESS_KEY_1] password=[PASSWORD_1]');
  });

  it('tokens whole columns too, so they stay joinable', () => {
    const masked = masker.maskResult(rows(['ssn'], [['123-45-6789'], ['123-45-6789']]));
    const [first, second] = (masked.value as RowsResult).rows.map((r) => r[0]);
    expect(first).toMatch(/^\[MASKED:hmac:[0-9a-f]{12}\]$/);
    expect(second).toBe(first);
  });

  it('fails closed without a key, or with a short one', () => {
    expect(() => new Masker({ detectors: ['EMAIL'], style: 'hmac', columns: [] })).toThrow('masking.style "hmac" needs its key: set masking.hmacKey to a reference like "env:AIRLOCK_MASKING_KEY" and give that variable a value');
    expect(() => new Masker({ detectors: ['EMAIL'], style: 'hmac', columns: [] }, { hmacKey: 'short' })).toThrow('masking.hmacKey: the key must be at least 16 characters');
  });
});

describe('Masker on parsed objects', () => {
  it('gives object keys the context of key names, as in JSON text', () => {
    const masker = new Masker({ detectors: ['PASSWORD', 'US_SSN', 'EMAIL'], style: 'redact', columns: [] });
    const ctx = new MaskContext();
    expect(masker.maskValue({ user: 'ana@example.com', password: 'hunter2x', ssn: 123456789, nested: [{ Password: '****' }] }, ctx)).toEqual({
      user: '[EMAIL_1]',
      password: '[PASSWORD_1]',
      ssn: '[US_SSN_1]',
      nested: [{ Password: '****' }],
    });
  });

  it('reports a masker error as MASKING_FAILED (fail closed)', () => {
    const masker = new Masker({ detectors: [], style: 'redact', columns: [], custom: [{ name: 'BUSY', pattern: '[^z]*z|a' }] });
    const error = (() => {
      try {
        masker.maskResult({ kind: 'json', value: { text: 'a'.repeat(200_000) }, text: '' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(MaskingFailedError);
    expect((error as MaskingFailedError).code).toBe('MASKING_FAILED');
  });
});
