import { describe, expect, it } from 'vitest';
import { MaskingFailedError } from '../../../src/errors.js';
import { compileCustomPattern, linearEngineAvailable } from '../../../src/masking/custom.js';
import { MaskContext, Masker, type MaskerSettings } from '../../../src/masking/masker.js';

const withCustom = (custom: MaskerSettings['custom'], extra: Partial<MaskerSettings> = {}): Masker => new Masker({ detectors: [], style: 'redact', columns: [], custom, ...extra }, { hmacKey: 'deployment-key-0123456789abcdef' });

describe('custom detectors', () => {
  it("run on V8's linear-time engine, available on this Node.js", () => {
    expect(linearEngineAvailable()).toBe(true);
    expect(compileCustomPattern('tks_[A-Za-z0-9]{16}').flags).toContain('l');
  });

  it('mask matches with numbered placeholders under their own name', () => {
    const masker = withCustom([{ name: 'TICKET_SECRET', pattern: 'tks_[A-Za-z0-9]{8}[A-Za-z0-9]*' }]);
    const ctx = new MaskContext();
    expect(masker.maskText('use tks_Ab12Cd34Ef and tks_Ab12Cd34Ef, not tks_short', ctx)).toBe('use [TICKET_SECRET_1] and [TICKET_SECRET_1], not tks_short');
    expect(Object.fromEntries(ctx.counts)).toEqual({ TICKET_SECRET: 2 });
  });

  it.each<[string, NonNullable<MaskerSettings['custom']>[number], string, string]>([
    ['luhn', { name: 'LOYALTY', pattern: 'L[0-9]{16}', validate: { luhn: true } }, 'L4111111111111111 L4111111111111112', '[LOYALTY_1] L4111111111111112'],
    ['minEntropy', { name: 'TOKEN', pattern: 'tok_[a-z0-9]{12}', validate: { minEntropy: 3 } }, 'tok_aaaaaaaaaaaa tok_q8zr4lk2vx9t', 'tok_aaaaaaaaaaaa [TOKEN_1]'],
    ['keyNames', { name: 'PIN', pattern: '[0-9]{4}', validate: { keyNames: ['pin', '*_pin'] } }, 'room 1234, card_pin=4321, "pin": "9876", spin=1111', 'room 1234, card_pin=[PIN_1], "pin": "[PIN_2]", spin=1111'],
  ])('validate with %s', (_, spec, text, expected) => {
    expect(withCustom([spec]).maskText(text, new MaskContext())).toBe(expected);
  });

  it('follows the style when the policy says the detector is not a secret', () => {
    const masker = withCustom([{ name: 'CUSTOMER_ID', pattern: 'cus_[0-9]{8}', secret: false }], { style: 'hmac' });
    expect(masker.maskText('cus_12345678', new MaskContext())).toMatch(/^\[CUSTOMER_ID:hmac:[0-9a-f]{12}\]$/);
  });

  it('lose to a built-in finding of the same span, and win a longer one', () => {
    const masker = withCustom([{ name: 'MAILISH', pattern: '[a-z]+@example\\.com' }, { name: 'LONG', pattern: 'ref-[0-9]+-[a-z]+' }], { detectors: ['EMAIL'] });
    expect(masker.find('ana@example.com ref-12-ab').map((f) => f.type)).toEqual(['EMAIL', 'LONG']);
  });

  it('fail closed when a pattern explores too much on hostile input (budget per value)', () => {
    const masker = withCustom([{ name: 'BUSY', pattern: '[^z]*z|a' }]);
    const started = performance.now();
    expect(() => masker.maskText('a'.repeat(300_000), new MaskContext())).toThrow(/custom detector BUSY exceeded its budget/);
    expect(performance.now() - started).toBeLessThan(4000);
  });

  it('stay linear on adversarial input for patterns with nested quantifiers (no backtracking)', () => {
    const masker = withCustom([{ name: 'NESTED', pattern: '(?:a+)+b' }, { name: 'ALT', pattern: '(?:a|aa)+c' }]);
    const started = performance.now();
    expect(masker.maskText(`${'a'.repeat(100_000)}!`, new MaskContext())).toBe(`${'a'.repeat(100_000)}!`);
    expect(performance.now() - started).toBeLessThan(4000);
  });
});

describe('custom detectors on a whole result', () => {
  it('share one time budget across every value of a result, so slow values cannot add up', () => {
    const masker = withCustom([{ name: 'BUSY', pattern: '[^z]*z|a' }]);
    // Each value alone stays under the per-value budget; together they exceed the per-result one.
    const value = 'a'.repeat(800);
    const started = performance.now();
    let perValue = performance.now();
    masker.maskText(value, new MaskContext());
    perValue = performance.now() - perValue;
    const rows = Array.from({ length: Math.ceil(4000 / Math.max(perValue, 1)) + 10 }, (_, i) => [`${i}${value}`]);
    expect(() => masker.maskResult({ kind: 'rows', columns: [{ name: 'v', type: 'text' }], rows, rowCount: rows.length, truncated: false })).toThrow(MaskingFailedError);
    expect(performance.now() - started).toBeLessThan(8000);
  });
});
