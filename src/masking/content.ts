/**
 * Text content (an object's body) masked by its format. CSV: the header names give every record's cells
 * their context. JSON and NDJSON: a tolerant scanner walks the text in place and masks each string (and
 * each number) with the key it sits under, exactly as `Masker.maskValue` masks the parsed value, and
 * replaces only that token; whitespace, order and every other byte stay as they were. Content is often
 * cut at a byte cap or simply invalid: from where the scanner cannot follow, the rest is masked as text
 * (never returned unmasked).
 */
import type { ContentFormat } from '../tool.js';
import type { MaskContext, Masker } from './masker.js';

/** Characters before the point the scanner gave up that text detectors still see (a key before its value). */
const LEFT_CONTEXT = 256;

/** `text` of `format`, masked; findings are counted in `ctx`. Throws only when masking itself fails. */
export function maskContent(masker: Masker, text: string, format: ContentFormat, ctx: MaskContext): string {
  switch (format) {
    case 'text':
      return masker.maskText(text, ctx);
    case 'csv':
      return maskCsv(masker, text, ctx);
    case 'json':
      return maskJsonText(masker, text, ctx);
    case 'ndjson':
      return maskNdjson(masker, text, ctx);
  }
}

function maskCsv(masker: Masker, text: string, ctx: MaskContext): string {
  const header = masker.declaredCsvHeader(text);
  if (header === undefined) return masker.maskText(text, ctx);
  return masker.apply(text, masker.find(text, { header, from: header.next }), ctx);
}

function maskNdjson(masker: Masker, text: string, ctx: MaskContext): string {
  let out = '';
  for (let at = 0; at <= text.length; ) {
    const eol = text.indexOf('\n', at);
    const end = eol < 0 ? text.length : eol;
    out += maskJsonText(masker, text.slice(at, end), ctx);
    if (eol < 0) break;
    out += '\n';
    at = eol + 1;
  }
  return out;
}

/** Text detectors over `text` from `from` on, seeing up to LEFT_CONTEXT characters before it. */
function maskRest(masker: Masker, text: string, from: number, ctx: MaskContext): string {
  if (from >= text.length) return '';
  const left = Math.max(0, from - LEFT_CONTEXT);
  const window = left === 0 && from === 0 ? text : text.slice(left);
  const off = from - left;
  const findings = [];
  for (const f of masker.find(window)) {
    if (f.end <= off) continue;
    // A finding that starts in text already written: the rest of it is masked.
    findings.push({ start: Math.max(f.start, off) - off, end: f.end - off, type: f.type });
  }
  return masker.apply(from === 0 ? text : text.slice(from), findings, ctx);
}

const isSpace = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9;

/** A container being scanned: an object (its values take their own keys) or an array (items take `key`). */
interface Frame {
  readonly object: boolean;
  readonly key: string | undefined;
}

type Want = 'value' | 'value-or-close' | 'key' | 'key-or-close' | 'colon' | 'after';

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * JSON text masked in place. Text that does not start with an object or array is not JSON to this
 * scanner: it is masked as text.
 */
function maskJsonText(masker: Masker, text: string, ctx: MaskContext): string {
  const n = text.length;
  let i = 0;
  while (i < n && isSpace(text.charCodeAt(i))) i++;
  const first = text.charCodeAt(i);
  if (i >= n) return text;
  if (first !== 123 && first !== 91) return masker.maskText(text, ctx);

  let out = '';
  /** Original text up to here is in `out` (or replaced there). */
  let copied = 0;
  const replace = (start: number, end: number, by: string): void => {
    out += text.slice(copied, start) + by;
    copied = end;
  };
  const stack: Frame[] = [];
  let want: Want = 'value';
  /** The key the next value sits under (an object's key, or its array's key). */
  let under: string | undefined;
  let key: string | undefined;

  for (;;) {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    if (i >= n) break;
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (want === 'after') {
      if (top === undefined) {
        // Another document after the first (concatenated JSON); anything else is masked as text.
        if (c !== 123 && c !== 91) break;
        want = 'value';
        under = undefined;
        continue;
      }
      if (c === 44) {
        i++;
        want = top.object ? 'key' : 'value';
        under = top.object ? undefined : top.key;
        continue;
      }
      if (c === (top.object ? 125 : 93)) {
        i++;
        stack.pop();
        continue;
      }
      break;
    }
    if (want === 'colon') {
      if (c !== 58) break;
      i++;
      want = 'value';
      under = key;
      continue;
    }
    if (want === 'key' || want === 'key-or-close') {
      if (want === 'key-or-close' && c === 125) {
        i++;
        stack.pop();
        want = 'after';
        continue;
      }
      if (c !== 34) break;
      const token = stringToken(text, i);
      if (token === undefined) break;
      // Keys are output too: scanned like values, without a key of their own.
      const masked = masker.maskUnderKey(undefined, token.value, ctx);
      if (masked !== token.value) replace(i, token.end, encode(String(masked), token.closed));
      key = token.value;
      i = token.end;
      if (!token.closed) break;
      want = 'colon';
      continue;
    }
    // A value.
    if (want === 'value-or-close' && c === 93) {
      i++;
      stack.pop();
      want = 'after';
      continue;
    }
    if (c === 123 || c === 91) {
      stack.push({ object: c === 123, key: under });
      i++;
      want = c === 123 ? 'key-or-close' : 'value-or-close';
      continue;
    }
    if (c === 34) {
      const token = stringToken(text, i);
      if (token === undefined) break;
      const masked = masker.maskUnderKey(under, token.value, ctx);
      if (masked !== token.value) replace(i, token.end, encode(String(masked), token.closed));
      i = token.end;
      if (!token.closed) break;
      want = 'after';
      continue;
    }
    if (c === 45 || (c >= 48 && c <= 57)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (m === null) break;
      const raw = m[0];
      const end = i + raw.length;
      const masked = maskNumber(masker, under, raw, ctx);
      if (masked !== undefined) replace(i, end, JSON.stringify(masked));
      i = end;
      want = 'after';
      continue;
    }
    const literal = c === 116 ? 'true' : c === 102 ? 'false' : c === 110 ? 'null' : undefined;
    if (literal === undefined) break;
    const part = text.slice(i, i + literal.length);
    if (!literal.startsWith(part)) break;
    i += part.length;
    want = 'after';
  }
  return out + text.slice(copied, i) + maskRest(masker, text, i, ctx);
}

/**
 * A number token as `maskValue` masks the number JSON.parse makes of it; a whole number too large to be
 * held exactly (a 19-digit card) is masked by its digits. Undefined when it stays as it is.
 */
function maskNumber(masker: Masker, under: string | undefined, raw: string, ctx: MaskContext): string | undefined {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) && /^-?[0-9]+$/.test(raw)) {
    const masked = masker.maskUnderKey(under, raw, ctx);
    return masked === raw ? undefined : String(masked);
  }
  const masked = masker.maskUnderKey(under, value, ctx);
  return typeof masked === 'number' ? undefined : masked;
}

interface StringToken {
  /** The decoded string. */
  readonly value: string;
  /** Where the token ends (after its closing quote, or at the end of the text). */
  readonly end: number;
  /** False when the text ends inside the string (cut at a byte cap). */
  readonly closed: boolean;
}

/** A JSON string token at `start` (a quote), decoded; undefined when it is not valid JSON. */
function stringToken(text: string, start: number): StringToken | undefined {
  for (let j = start + 1; ; ) {
    const q = text.indexOf('"', j);
    if (q < 0) {
      // Cut inside the string: what there is of it is decoded (without a half escape at the end).
      const body = text.slice(start + 1).replace(/(?<!\\)((?:\\\\)*)\\(?:u[0-9a-fA-F]{0,3})?$/, '$1');
      const value = decode(body);
      return value === undefined ? undefined : { value, end: text.length, closed: false };
    }
    let backslashes = 0;
    for (let k = q - 1; k > start && text.charCodeAt(k) === 92; k--) backslashes++;
    if (backslashes % 2 === 1) {
      j = q + 1;
      continue;
    }
    const value = decode(text.slice(start + 1, q));
    return value === undefined ? undefined : { value, end: q + 1, closed: true };
  }
}

function decode(body: string): string | undefined {
  // Most strings hold no escape and no control character: they are their own value.
  let plain = true;
  for (let k = 0; k < body.length && plain; k++) {
    const c = body.charCodeAt(k);
    plain = c !== 92 && c >= 32;
  }
  if (plain) return body;
  try {
    return JSON.parse(`"${body}"`) as string;
  } catch {
    return undefined;
  }
}

/** A masked string as a JSON string token; without its closing quote when the original was cut. */
function encode(value: string, closed: boolean): string {
  const token = JSON.stringify(value);
  return closed ? token : token.slice(0, -1);
}
