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

/**
 * The card search as it was written before the Luhn sums were kept per start (issue 20): the digits of
 * groups g..k as a string, checked whole at each k. The scanner's cardsIn must find exactly what it finds.
 */
function cardsByString(text: string): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  const isDigit = (c: number): boolean => c >= 48 && c <= 57;
  const isWord = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
  let i = 0;
  while (i < text.length) {
    if (!isDigit(text.charCodeAt(i)) || (i > 0 && isWord(text.charCodeAt(i - 1)))) {
      i++;
      continue;
    }
    const groups: { start: number; end: number }[] = [];
    let j = i;
    for (;;) {
      const start = j;
      while (j < text.length && isDigit(text.charCodeAt(j))) j++;
      groups.push({ start, end: j });
      const sep = text.charCodeAt(j);
      if ((sep === 32 || sep === 45) && j + 1 < text.length && isDigit(text.charCodeAt(j + 1))) j++;
      else break;
    }
    if (j < text.length && isWord(text.charCodeAt(j)) && !isDigit(text.charCodeAt(j))) {
      i = j;
      continue;
    }
    const continued = (g: number, k: number): boolean => {
      if (k === g || k + 1 >= groups.length) return false;
      const joined = text.charCodeAt(groups[k]!.start - 1);
      return joined !== text.charCodeAt(groups[g + 1]!.start - 1) || (joined === 32 && text.charCodeAt(groups[k]!.end) === 45);
    };
    let g = 0;
    while (g < groups.length) {
      let digits = '';
      let best = -1;
      for (let k = g; k < groups.length; k++) {
        digits += text.slice(groups[k]!.start, groups[k]!.end);
        if (digits.length > 19) break;
        if (isCardNumber(digits) && !continued(g, k)) best = k;
      }
      if (best >= 0) {
        out.push({ start: groups[g]!.start, end: groups[best]!.end });
        g = best + 1;
      } else g++;
    }
    i = j;
  }
  return out;
}

describe('findCards against the search by strings (issue 20)', () => {
  it('finds the same cards on runs of random groups, real cards and digit-run noise', () => {
    let seed = 20261207;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const cards = ['4111111111111111', '5555555555554444', '378282246310005', '6011111111111117', '3530111333300000', '4222222222222', '6759649826438453', '2223003122003222'];
    let found = 0;
    for (let t = 0; t < 4000; t++) {
      let text = '';
      for (let part = 0; part < 1 + Math.floor(next() * 8); part++) {
        const r = next();
        let digits = r < 0.35 ? cards[Math.floor(next() * cards.length)]! : Array.from({ length: 1 + Math.floor(next() * 22) }, () => String(Math.floor(next() * 10))).join('');
        if (r > 0.9) digits = digits.replace(/\d/g, () => String(Math.floor(next() * 3) + 3));
        let grouped = '';
        for (let i = 0; i < digits.length; ) {
          const size = 1 + Math.floor(next() * (next() < 0.5 ? 2 : 6));
          grouped += digits.slice(i, i + size);
          i += size;
          if (i < digits.length) grouped += next() < 0.7 ? ' ' : next() < 0.8 ? '-' : '';
        }
        text += grouped + [' ', ' ', '-', ', ', 'x', ' call ', '\n'][Math.floor(next() * 7)]!;
      }
      const expected = cardsByString(text);
      found += expected.length;
      expect({ text, cards: findCards(text).map((f) => ({ start: f.start, end: f.end })) }).toEqual({ text, cards: expected });
    }
    expect(found).toBeGreaterThan(1000);
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
