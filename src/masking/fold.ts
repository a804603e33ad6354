/**
 * Unicode forms of what the digit detectors read: decimal digits of every script (full-width
 * `４１１１`, Arabic-Indic, mathematical `𝟒𝟏𝟏𝟏`, …), spaces (no-break, narrow, ideographic), dashes (en
 * dash, hyphen, minus sign, full-width hyphen-minus) and characters that show nothing (zero-width space
 * and joiners, soft hyphen, word joiner, BOM, variation selectors, tags). A value written with them reads
 * as the number it is, so the detectors see it folded to ASCII: digits to `0`–`9`, spaces to ` `, dashes
 * to `-`, and invisible characters removed. Findings are mapped back to the original text.
 *
 * The table holds Unicode's own classes (Nd, Zs, Pd and U+2212, Default_Ignorable_Code_Point) beyond
 * ASCII; a unit test checks every entry against the engine's `\p{…}` classes.
 */

const D = 0; // decimal digit: a run of tens, each starting at zero
const S = 1; // space
const H = 2; // dash
const X = 3; // shows nothing: removed

/** [first, last, kind] code point ranges, sorted. */
const RANGES: readonly number[] = [
  0xa0, 0xa0, S, 0xad, 0xad, X, 0x34f, 0x34f, X, 0x58a, 0x58a, H, 0x5be, 0x5be, H, 0x61c, 0x61c, X,
  0x660, 0x669, D, 0x6f0, 0x6f9, D, 0x7c0, 0x7c9, D, 0x966, 0x96f, D, 0x9e6, 0x9ef, D, 0xa66, 0xa6f, D,
  0xae6, 0xaef, D, 0xb66, 0xb6f, D, 0xbe6, 0xbef, D, 0xc66, 0xc6f, D, 0xce6, 0xcef, D, 0xd66, 0xd6f, D,
  0xde6, 0xdef, D, 0xe50, 0xe59, D, 0xed0, 0xed9, D, 0xf20, 0xf29, D, 0x1040, 0x1049, D, 0x1090, 0x1099, D,
  0x115f, 0x1160, X, 0x1400, 0x1400, H, 0x1680, 0x1680, S, 0x17b4, 0x17b5, X, 0x17e0, 0x17e9, D,
  0x1806, 0x1806, H, 0x180b, 0x180f, X, 0x1810, 0x1819, D, 0x1946, 0x194f, D, 0x19d0, 0x19d9, D,
  0x1a80, 0x1a89, D, 0x1a90, 0x1a99, D, 0x1b50, 0x1b59, D, 0x1bb0, 0x1bb9, D, 0x1c40, 0x1c49, D,
  0x1c50, 0x1c59, D, 0x2000, 0x200a, S, 0x200b, 0x200f, X, 0x2010, 0x2015, H, 0x202a, 0x202e, X,
  0x202f, 0x202f, S, 0x205f, 0x205f, S, 0x2060, 0x206f, X, 0x2212, 0x2212, H, 0x2e17, 0x2e17, H,
  0x2e1a, 0x2e1a, H, 0x2e3a, 0x2e3b, H, 0x2e40, 0x2e40, H, 0x2e5d, 0x2e5d, H, 0x3000, 0x3000, S,
  0x301c, 0x301c, H, 0x3030, 0x3030, H, 0x30a0, 0x30a0, H, 0x3164, 0x3164, X, 0xa620, 0xa629, D,
  0xa8d0, 0xa8d9, D, 0xa900, 0xa909, D, 0xa9d0, 0xa9d9, D, 0xa9f0, 0xa9f9, D, 0xaa50, 0xaa59, D,
  0xabf0, 0xabf9, D, 0xfe00, 0xfe0f, X, 0xfe31, 0xfe32, H, 0xfe58, 0xfe58, H, 0xfe63, 0xfe63, H,
  0xfeff, 0xfeff, X, 0xff0d, 0xff0d, H, 0xff10, 0xff19, D, 0xffa0, 0xffa0, X, 0xfff0, 0xfff8, X,
  0x104a0, 0x104a9, D, 0x10d30, 0x10d39, D, 0x10d40, 0x10d49, D, 0x10d6e, 0x10d6e, H, 0x10ead, 0x10ead, H,
  0x11066, 0x1106f, D, 0x110f0, 0x110f9, D, 0x11136, 0x1113f, D, 0x111d0, 0x111d9, D, 0x112f0, 0x112f9, D,
  0x11450, 0x11459, D, 0x114d0, 0x114d9, D, 0x11650, 0x11659, D, 0x116c0, 0x116c9, D, 0x116d0, 0x116e3, D,
  0x11730, 0x11739, D, 0x118e0, 0x118e9, D, 0x11950, 0x11959, D, 0x11bf0, 0x11bf9, D, 0x11c50, 0x11c59, D,
  0x11d50, 0x11d59, D, 0x11da0, 0x11da9, D, 0x11de0, 0x11de9, D, 0x11f50, 0x11f59, D, 0x16130, 0x16139, D,
  0x16a60, 0x16a69, D, 0x16ac0, 0x16ac9, D, 0x16b50, 0x16b59, D, 0x16d70, 0x16d79, D, 0x1bca0, 0x1bca3, X,
  0x1ccf0, 0x1ccf9, D, 0x1d173, 0x1d17a, X, 0x1d7ce, 0x1d7ff, D, 0x1e140, 0x1e149, D, 0x1e2f0, 0x1e2f9, D,
  0x1e4f0, 0x1e4f9, D, 0x1e5f1, 0x1e5fa, D, 0x1e950, 0x1e959, D, 0x1fbf0, 0x1fbf9, D, 0xe0000, 0xe0fff, X,
];

const COUNT = RANGES.length / 3;

/** The range index holding `cp`, or -1. Binary search: only non-ASCII characters get here. */
function rangeOf(cp: number): number {
  let lo = 0;
  let hi = COUNT - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < (RANGES[mid * 3] as number)) hi = mid - 1;
    else if (cp > (RANGES[mid * 3 + 1] as number)) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** Whether the code point is one the detectors read folded (never true for ASCII). */
export function isFoldable(cp: number): boolean {
  return cp >= 0x80 && rangeOf(cp) >= 0;
}

/** The ASCII digit value of a non-ASCII decimal digit, or -1. */
export function unicodeDigit(cp: number): number {
  if (cp < 0x80) return -1;
  const r = rangeOf(cp);
  return r >= 0 && RANGES[r * 3 + 2] === D ? (cp - (RANGES[r * 3] as number)) % 10 : -1;
}

/**
 * The ranges as one-character alternatives for a regex without the `u` flag: a BMP class, and for astral
 * ranges their high surrogate followed (lookahead) by a low surrogate of the range, so every match is
 * one UTF-16 unit long.
 */
export function foldableSource(): string {
  const bmp: string[] = [];
  const astral: string[] = [];
  const u = (n: number): string => `\\u${n.toString(16).padStart(4, '0')}`;
  for (let i = 0; i < COUNT; i++) {
    const first = RANGES[i * 3] as number;
    const last = RANGES[i * 3 + 1] as number;
    if (last <= 0xffff) bmp.push(first === last ? u(first) : `${u(first)}-${u(last)}`);
    else {
      // Per high surrogate: the low surrogates of this range under it.
      for (let hi = 0xd800 + ((first - 0x10000) >> 10); hi <= 0xd800 + ((last - 0x10000) >> 10); hi++) {
        const base = 0x10000 + ((hi - 0xd800) << 10);
        const lo = Math.max(first, base) - base + 0xdc00;
        const up = Math.min(last, base + 0x3ff) - base + 0xdc00;
        astral.push(`${u(hi)}(?=[${u(lo)}-${u(up)}])`);
      }
    }
  }
  return [`[${bmp.join('')}]`, ...astral].join('|');
}

/** Folded text and, for each of its characters, where it starts in the original. */
export interface Folded {
  readonly text: string;
  /** offsets[i]: index in the original of folded character i; offsets[text.length]: the original's length. */
  readonly offsets: Int32Array;
}

/** `text` folded as described above, or `undefined` when nothing in it folds. */
export function fold(text: string): Folded | undefined {
  const n = text.length;
  let out: string[] | undefined;
  let offsets: Int32Array | undefined;
  let w = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80 && out === undefined) continue;
    const cp = c >= 0xd800 && c <= 0xdbff ? (text.codePointAt(i) ?? c) : c;
    const width = cp > 0xffff ? 2 : 1;
    const r = cp < 0x80 ? -1 : rangeOf(cp);
    if (r < 0) {
      if (out !== undefined && offsets !== undefined) {
        for (let k = 0; k < width; k++) {
          out.push(text[i + k] ?? '');
          offsets[w++] = i + k;
        }
      }
      i += width - 1;
      continue;
    }
    if (out === undefined || offsets === undefined) {
      // First character that folds: copy what came before it as it is.
      out = [text.slice(0, i)];
      offsets = new Int32Array(n + 1);
      for (let k = 0; k < i; k++) offsets[k] = k;
      w = i;
    }
    const kind = RANGES[r * 3 + 2];
    if (kind !== X) {
      out.push(kind === D ? String.fromCharCode(48 + ((cp - (RANGES[r * 3] as number)) % 10)) : kind === S ? ' ' : '-');
      offsets[w++] = i;
    }
    i += width - 1;
  }
  if (out === undefined || offsets === undefined) return undefined;
  offsets[w] = n;
  return { text: out.join(''), offsets: offsets.subarray(0, w + 1) };
}
