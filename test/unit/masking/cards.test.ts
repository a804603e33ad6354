import { describe, expect, it } from 'vitest';
import { findCards, isCardNumber, luhnValid } from '../../../src/masking/cards.js';
import { redactAll } from '../../../src/masking/detectors.js';
import { MaskContext, Masker } from '../../../src/masking/masker.js';

describe('luhnValid', () => {
  it.each([
    ['4111111111111111', true],
    ['4111111111111112', false],
    ['378282246310005', true],
    ['0', true],
    ['', false],
  ])('%s → %s', (digits, valid) => {
    expect(luhnValid(digits)).toBe(valid);
  });
});

describe('isCardNumber', () => {
  it.each([
    ['4111111111111111', true],
    ['5555555555554444', true],
    ['378282246310005', true],
    ['6011111111111117', true],
    ['3530111333300000', true],
    ['1234567812345670', false], // Luhn-valid, but no card brand starts with 1
    ['4111111111111112', false], // brand ok, Luhn fails
    ['41111111111111', false], // Visa prefix with a length Visa does not issue
  ])('%s → %s', (digits, expected) => {
    expect(isCardNumber(digits)).toBe(expected);
  });
});

describe('findCards', () => {
  it.each([
    ['card 4111 1111 1111 1111 on file', [[5, 24]]],
    ['4111-1111-1111-1111', [[0, 19]]],
    ['a:4111111111111111,b:5555555555554444', [[2, 18], [21, 37]]],
    ['order 20261129123456 shipped', []],
    ['id 4111111111111112', []],
    ['x4111111111111111', []],
    ['4111111111111111abc', []],
    ['uuid 550e8400-e29b-41d4-a716-446655440000', []],
    ['4111 1111 1111 1111 2026', [[0, 19]]],
  ])('finds cards in %j', (text, expected) => {
    expect(findCards(text).map((f) => [f.start, f.end])).toEqual(expected);
  });

  it('stays linear on a long run of digits and separators', () => {
    const text = '4 '.repeat(200_000);
    const started = performance.now();
    findCards(text);
    // Not a timing assertion on the product: a generous bound that only a quadratic scan would break.
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe('redactAll', () => {
  it('replaces whatever any detector finds in free text (audit error details)', () => {
    expect(redactAll('invalid input syntax for type integer: "4111 1111 1111 1111"')).toBe('invalid input syntax for type integer: "[CREDIT_CARD]"');
    expect(redactAll('Key (email)=(ana@example.com) already exists')).toBe('Key (email)=([EMAIL]) already exists');
  });
});

describe('Masker', () => {
  it('keeps the last four digits and separators in last4 style, and reports columns and counts', () => {
    const masker = new Masker({ detectors: ['CREDIT_CARD'], style: 'last4', columns: [] });
    const masked = masker.maskResult({
      kind: 'rows',
      columns: [{ name: 'name', type: 'text' }, { name: 'card', type: 'text' }, { name: 'meta', type: 'jsonb' }],
      rows: [
        ['Ana', '4111 1111 1111 1111', { pay: { card: 5555555555554444 } }],
        ['Ben', '5555-5555-5555-4444', null],
      ],
      rowCount: 2,
      truncated: false,
    });
    expect(masked.value.kind === 'rows' ? masked.value.rows : undefined).toEqual([
      ['Ana', '**** **** **** 1111', { pay: { card: '************4444' } }],
      ['Ben', '****-****-****-4444', null],
    ]);
    expect(masked.report).toEqual({ findings: { CREDIT_CARD: 3 }, maskedColumns: ['card', 'meta'] });
  });

  it('hides the whole number in redact style', () => {
    const masker = new Masker({ detectors: ['CREDIT_CARD'], style: 'redact', columns: [] });
    expect(masker.maskText('pay 4111111111111111 now, again 4111111111111111, and 5555555555554444', new MaskContext())).toBe(
      'pay [CREDIT_CARD_1] now, again [CREDIT_CARD_1], and [CREDIT_CARD_2]',
    );
  });

  it('leaves values alone when the detector is off', () => {
    const masker = new Masker({ detectors: [], style: 'last4', columns: [] });
    expect(masker.maskText('4111111111111111', new MaskContext())).toBe('4111111111111111');
  });
});
