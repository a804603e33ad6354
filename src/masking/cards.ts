/**
 * CREDIT_CARD detector: digit runs of 13-19 digits (single spaces or dashes between groups allowed),
 * standing alone, that pass the Luhn check and match a card brand's prefix and length.
 * A linear scan, not a regex: long digit runs cannot make it backtrack.
 */

export interface Finding {
  readonly start: number;
  readonly end: number;
  readonly type: 'CREDIT_CARD';
}

/** Luhn (mod 10) check over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

interface Brand {
  readonly ranges: readonly (readonly [number, number])[];
  readonly lengths: readonly number[];
}

const span = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** IIN prefixes (as [low, high] over the first N digits, N = digit count of low) and valid lengths. */
const BRANDS: readonly Brand[] = [
  { ranges: [[4, 4]], lengths: [13, 16, 19] }, // Visa
  { ranges: [[51, 55], [2221, 2720]], lengths: [16] }, // Mastercard
  { ranges: [[34, 34], [37, 37]], lengths: [15] }, // American Express
  { ranges: [[6011, 6011], [644, 649], [65, 65]], lengths: span(16, 19) }, // Discover
  { ranges: [[300, 305], [36, 36], [38, 39]], lengths: span(14, 19) }, // Diners Club
  { ranges: [[3528, 3589]], lengths: span(16, 19) }, // JCB
  { ranges: [[62, 62]], lengths: span(16, 19) }, // UnionPay
  { ranges: [[2200, 2204]], lengths: span(16, 19) }, // Mir
  { ranges: [[5018, 5018], [5020, 5020], [5038, 5038], [5893, 5893], [6304, 6304], [6759, 6759], [6761, 6763]], lengths: span(13, 19) }, // Maestro
];

/** Each range with the number of leading digits it compares. */
const PREFIXES = BRANDS.map((brand) => ({ lengths: brand.lengths, ranges: brand.ranges.map(([low, high]) => ({ low, high, digits: String(low).length })) }));

export function hasCardBrand(digits: string): boolean {
  return PREFIXES.some(
    (brand) =>
      brand.lengths.includes(digits.length) &&
      brand.ranges.some(({ low, high, digits: count }) => {
        const n = Number(digits.slice(0, count));
        return n >= low && n <= high;
      }),
  );
}

export function isCardNumber(digits: string): boolean {
  // Luhn first: it is cheaper than the brand table and rejects nine in ten digit runs.
  return digits.length >= 13 && digits.length <= 19 && luhnValid(digits) && hasCardBrand(digits);
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isWordChar = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;

interface Group {
  readonly start: number;
  readonly end: number;
}

/**
 * Whether the card made of groups `g..k` takes its last group from the next token: that group is joined
 * by another separator than the card's first ("6011-2408-7535-9925 415-755-0240"), or by a space while a
 * dash joins it to the digits after it ("4246 6501 6165 9006 702-349-2929"), and more digits follow it:
 * a card, then a phone number.
 */
function continuedOtherwise(text: string, groups: readonly Group[], g: number, k: number): boolean {
  // A card that ends its run may mix separators ("4111 1111 1111-1111").
  if (k === g || k + 1 >= groups.length) return false;
  const last = groups[k] as Group;
  const joined = text.charCodeAt(last.start - 1);
  return joined !== text.charCodeAt((groups[g + 1] as Group).start - 1) || (joined === 32 && text.charCodeAt(last.end) === 45);
}

/** The digits of groups `g..k`. */
function digitsOf(text: string, groups: readonly Group[], g: number, k: number): string {
  let digits = '';
  for (let j = g; j <= k; j++) digits += text.slice((groups[j] as Group).start, (groups[j] as Group).end);
  return digits;
}

/** Finds card numbers in text. Offsets are JS string indices into `text`. */
export function findCards(text: string): Finding[] {
  const findings: Finding[] = [];
  cardsIn(text, 0, text.length, findings);
  return findings;
}

/**
 * Finds card numbers that start in `[from, to)` and appends them to `out`. The scanner calls it on one
 * run of digits, spaces and dashes at a time; neighbours outside the range are still read from `text`.
 */
export function cardsIn(text: string, from: number, to: number, out: { push(finding: Finding): unknown }): void {
  let i = from;
  const n = text.length;
  while (i < to) {
    if (!isDigit(text.charCodeAt(i)) || (i > 0 && isWordChar(text.charCodeAt(i - 1)))) {
      i++;
      continue;
    }
    // Collect digit groups separated by a single space or dash.
    const groups: Group[] = [];
    let j = i;
    for (;;) {
      const start = j;
      while (j < n && isDigit(text.charCodeAt(j))) j++;
      groups.push({ start, end: j });
      const sep = text.charCodeAt(j);
      if ((sep === 32 || sep === 45) && j + 1 < n && isDigit(text.charCodeAt(j + 1))) j++;
      else break;
    }
    const runEnd = j;
    if (runEnd < n && isWordChar(text.charCodeAt(runEnd)) && !isDigit(text.charCodeAt(runEnd))) {
      // Glued to letters (an id like 4111111111111111abc): not a card on its own.
      i = runEnd;
      continue;
    }
    let g = 0;
    while (g < groups.length) {
      // The Luhn sum of groups g..k for every k at once: digit sums and doubled-digit sums by the parity of
      // each digit's place from the left, so a run of short groups (`4 4 4 …`) costs each digit once per start
      // instead of a string and a whole check per length.
      let length = 0;
      let plainEven = 0;
      let plainOdd = 0;
      let doubledEven = 0;
      let doubledOdd = 0;
      let best = -1;
      for (let k = g; k < groups.length; k++) {
        const group = groups[k] as Group;
        if (length + group.end - group.start > 19) break;
        for (let p = group.start; p < group.end; p++) {
          const d = text.charCodeAt(p) - 48;
          length++;
          if ((length & 1) === 0) {
            plainEven += d;
            doubledEven += d > 4 ? 2 * d - 9 : 2 * d;
          } else {
            plainOdd += d;
            doubledOdd += d > 4 ? 2 * d - 9 : 2 * d;
          }
        }
        if (length < 13) continue;
        // From the right, the last digit is not doubled: with an even length the odd places are doubled.
        const sum = (length & 1) === 0 ? plainEven + doubledOdd : plainOdd + doubledEven;
        if (sum % 10 === 0 && hasCardBrand(digitsOf(text, groups, g, k)) && !continuedOtherwise(text, groups, g, k)) best = k;
      }
      if (best >= 0) {
        out.push({ start: (groups[g] as Group).start, end: (groups[best] as Group).end, type: 'CREDIT_CARD' });
        g = best + 1;
      } else g++;
    }
    i = runEnd;
  }
}
