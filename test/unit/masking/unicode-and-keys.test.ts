/**
 * Issue 15 (point 10): content detection as a backstop must not be beaten by Unicode forms of digits and
 * separators, nor by values that go out as JSON object keys.
 */
import { describe, expect, it } from 'vitest';
import { detect, maskOf, redactAll, type DetectorName } from '../../../src/masking/detectors.js';
import { fold, foldableSource, isFoldable, unicodeDigit } from '../../../src/masking/fold.js';
import { MaskContext, Masker } from '../../../src/masking/masker.js';
import { candidatePlan, nextCandidate } from '../../../src/masking/candidates.js';
import { mayMatch } from '../../../src/masking/prefilter.js';
import { scan } from '../../../src/masking/scan.js';
import type { RowsResult } from '../../../src/tool.js';

const masker = (style: 'last4' | 'redact' = 'last4', detectors: string[] = ['CREDIT_CARD']): Masker =>
  new Masker({ detectors: detectors as DetectorName[], style, columns: [] });
const mask = (text: string, m = masker()): string => m.maskText(text, new MaskContext());

const fullWidth = (s: string): string => s.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)));
const arabicIndic = (s: string): string => s.replace(/[0-9]/g, (d) => String.fromCharCode(0x0660 + Number(d)));
const mathBold = (s: string): string => s.replace(/[0-9]/g, (d) => String.fromCodePoint(0x1d7ce + Number(d)));

/** One card number, written every way the issue names and then some. */
const CARD_FORMS: [string, string, string][] = [
  ['no-break spaces', '4111\u00a01111\u00a01111\u00a01111', '****\u00a0****\u00a0****\u00a01111'],
  ['narrow no-break spaces', '4111\u202f1111\u202f1111\u202f1111', '****\u202f****\u202f****\u202f1111'],
  ['figure spaces', '4111\u20071111\u20071111\u20071111', '****\u2007****\u2007****\u20071111'],
  ['ideographic spaces', '4111\u30001111\u30001111\u30001111', '****\u3000****\u3000****\u30001111'],
  ['zero-width spaces', '4111\u200b1111\u200b1111\u200b1111', '****\u200b****\u200b****\u200b1111'],
  ['a zero-width space between every digit', [...'4111111111111111'].join('\u200b'), `${'*\u200b'.repeat(12)}${[...'1111'].join('\u200b')}`],
  ['zero-width joiners', '4111\u200d1111\u200d1111\u200d1111', '****\u200d****\u200d****\u200d1111'],
  ['word joiners and soft hyphens', '4111\u20601111\u00ad1111\ufeff1111', '****\u2060****\u00ad****\ufeff1111'],
  ['en dashes', '4111\u20131111\u20131111\u20131111', '****\u2013****\u2013****\u20131111'],
  ['minus signs', '4111\u22121111\u22121111\u22121111', '****\u2212****\u2212****\u22121111'],
  ['non-breaking hyphens', '4111\u20111111\u20111111\u20111111', '****\u2011****\u2011****\u20111111'],
  ['full-width digits', fullWidth('4111 1111 1111 1111'), `**** **** **** ${fullWidth('1111')}`],
  ['full-width digits and hyphen', fullWidth('5555').concat('\uff0d', fullWidth('5555'), '\uff0d', fullWidth('5555'), '\uff0d', fullWidth('4444')), `****\uff0d****\uff0d****\uff0d${fullWidth('4444')}`],
  ['Arabic-Indic digits', arabicIndic('4111111111111111'), `************${arabicIndic('1111')}`],
  ['mathematical bold digits (astral)', mathBold('4111111111111111'), `************${mathBold('1111')}`],
  ['mixed forms', `4${fullWidth('1')}11\u00a0${arabicIndic('1')}111 1111\u20131111`, '****\u00a0**** ****\u20131111'],
];

describe('Masker: digits and separators in other Unicode forms (issue 15)', () => {
  it.each(CARD_FORMS)('masks a card number written with %s, keeping everything around it', (_name, card, masked) => {
    expect(mask(`paid with ${card} today`)).toBe(`paid with ${masked} today`);
    expect(redactAll(`paid with ${card} today`)).toBe('paid with [CREDIT_CARD] today');
    expect(mask(card, masker('redact'))).toBe('[CREDIT_CARD_1]');
  });

  it.each(CARD_FORMS)('finds it with %s in every scan mode (candidate search, every anchor, short-string test)', (_name, card) => {
    const m = maskOf(['CREDIT_CARD']);
    const text = `id ${card} end`;
    const found = scan(text, m);
    expect(found).toEqual(scan(text, m, 'US', true));
    expect(found).toHaveLength(1);
    expect(text.slice(found[0]?.start, found[0]?.end)).toBe(card);
    expect(mayMatch(card, m)).toBe(true);
    expect(nextCandidate(card, 0, candidatePlan(m), 0)).toBeLessThan(card.length);
  });

  it('masks other number detectors written in other forms too (SSN, phone)', () => {
    expect(detect(`ssn ${fullWidth('123')}\u2013${fullWidth('45')}\u2013${fullWidth('6789')}`, ['US_SSN']).map((d) => d.type)).toEqual(['US_SSN']);
    expect(mask(`call +1\u00a0(415)\u00a0555\u20132671`, masker('last4', ['PHONE']))).toBe('call +*\u00a0(***)\u00a0***\u20132671');
  });

  it('leaves look-alikes readable: other-form digits that fail Luhn, and text with accents, dashes and CJK', () => {
    for (const text of [fullWidth('4111 1111 1111 1112'), arabicIndic('4111111111111112'), 'Chloé — café – 2026-11-29', '価格は１２３円です', 'a\u200bb\u00a0c', 'ISBN 978\u20133\u201316\u2013148410\u20130']) {
      expect(mask(text)).toBe(text);
    }
  });

  it('keeps masking plain ASCII text exactly as before', () => {
    expect(mask('card 4111 1111 1111 1111 and 5555-5555-5555-4444')).toBe('card **** **** **** 1111 and ****-****-****-4444');
    expect(mask('order 4111111111111111abc')).toBe('order 4111111111111111abc');
  });

  it('folds to ASCII with offsets back into the original, and only what Unicode calls digits, spaces, dashes and invisible', () => {
    const text = `a${mathBold('12')}\u200b3\u00a0b`;
    const folded = fold(text);
    expect(folded?.text).toBe('a123 b');
    expect([...(folded?.offsets ?? [])]).toEqual([0, 1, 3, 6, 7, 8, 9]);
    expect(fold('plain ascii 123')).toBeUndefined();
    expect(fold('Chloé')).toBeUndefined();
    expect(unicodeDigit(0xff17)).toBe(7);
    expect(unicodeDigit(0x1d7d8 + 3)).toBe(3);
    expect(unicodeDigit(0x41)).toBe(-1);
    // Every code point the table folds is in the Unicode class it is folded as.
    const cls = /^[\p{Nd}\p{Zs}\p{Pd}\p{Default_Ignorable_Code_Point}\u2212]$/u;
    let checked = 0;
    for (let cp = 0x80; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const ch = String.fromCodePoint(cp);
      if (isFoldable(cp)) {
        checked++;
        expect(cls.test(ch), ch).toBe(true);
        if (/\p{Nd}/u.test(ch)) expect(unicodeDigit(cp)).toBeGreaterThanOrEqual(0);
      } else if (/\p{Nd}/u.test(ch) || ch === '\u00a0' || ch === '\u2013' || ch === '\u200b') throw new Error(`U+${cp.toString(16)} is not folded`);
    }
    expect(checked).toBeGreaterThan(4000);
    expect(() => new RegExp(foldableSource())).not.toThrow();
  });
});

describe('Masker: addresses written with other digits in result cells (issue 20 review)', () => {
  it('masks them when IP_ADDRESS is the only digit detector on, alone in a cell or beside an address', () => {
    const ip = `${fullWidth('192')}.${fullWidth('168')}.${fullWidth('1')}.${fullWidth('1')}`;
    for (const detectors of [['IP_ADDRESS', 'EMAIL'], ['IP_ADDRESS', 'EMAIL', 'PASSWORD'], ['IP_ADDRESS']]) {
      const m = masker('last4', detectors);
      const result: RowsResult = { kind: 'rows', columns: [{ name: 'note', type: 'text' }], rows: [[`ana@example.com ${ip}`], [ip]], rowCount: 2, truncated: false };
      const rows = (m.maskResult(result).value as RowsResult).rows;
      // Cell by cell as free text is masked: the same findings.
      expect(rows).toEqual([[mask(`ana@example.com ${ip}`, m)], [mask(ip, m)]]);
      expect(JSON.stringify(rows)).not.toContain(fullWidth('168'));
    }
  });
});

describe('Masker: JSON object keys (issue 15)', () => {
  it('masks card numbers that are keys, at any depth, keeping values and clean keys', () => {
    const value = { '4111 1111 1111 1111': 1, name: 'Ana', nested: [{ '5555555555554444': { '378282246310005': true } }] };
    expect(masker().maskValue(value, new MaskContext())).toEqual({
      '**** **** **** 1111': 1,
      name: 'Ana',
      nested: [{ '************4444': { '***********0005': true } }],
    });
  });

  it('keeps two keys that mask alike apart instead of dropping one', () => {
    const value = { '4111111111111111': 1, '4012888888881881': 2, '4000000000061111': 3 };
    expect(masker().maskValue(value, new MaskContext())).toEqual({ '************1111': 1, '************1881': 2, '************1111 (2)': 3 });
    expect(masker('redact').maskValue(value, new MaskContext())).toEqual({ '[CREDIT_CARD_1]': 1, '[CREDIT_CARD_2]': 2, '[CREDIT_CARD_3]': 3 });
  });

  it('masks keys of object cells in a result (json_object_agg(card_number, 1)) and names the column', () => {
    const result: RowsResult = {
      kind: 'rows',
      columns: [{ name: 'agg', type: 'json' }],
      rows: [[{ '4111 1111 1111 1111': 1, '5555-5555-5555-4444': 1, [fullWidth('4242424242424242')]: 1 }]],
      rowCount: 1,
      truncated: false,
    };
    const masked = masker().maskResult(result);
    expect((masked.value as RowsResult).rows).toEqual([[{ '**** **** **** 1111': 1, '****-****-****-4444': 1, [`************${fullWidth('4242')}`]: 1 }]]);
    expect(masked.report).toEqual({ findings: { CREDIT_CARD: 3 }, maskedColumns: ['agg'] });
  });

  it('returns a clean object as it is (no copy), and keeps a "__proto__" key an own property', () => {
    const clean = { a: 1, b: { c: 'd' } };
    expect(masker().maskValue(clean, new MaskContext())).toBe(clean);
    const hostile = JSON.parse('{"__proto__": {"x": 1}, "4111111111111111": 2}') as Record<string, unknown>;
    const out = masker().maskValue(hostile, new MaskContext()) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['__proto__', '************1111']);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });
});
