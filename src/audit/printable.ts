/**
 * Agent-controlled text on an operator's terminal. Tool names, SQL, principals, column names and error
 * messages in audit records come from callers; printed raw, a `\r` or an ANSI escape rewrites the line the
 * operator reads (a forged entry), bidi overrides reorder it, and a 1 MB tool name floods the screen.
 * Human-readable output goes through {@link printable}; JSON output stays exact JSON.
 */

/** Default longest cell, in characters of output, before it is cut. */
export const DEFAULT_CELL_WIDTH = 200;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

/**
 * C0 controls and DEL, C1 controls, bidi embeddings/overrides/isolates and marks, zero-width characters,
 * line and paragraph separators, the BOM, and unpaired surrogates: everything that moves the cursor,
 * changes how a line reads, or hides.
 */
// Tested one character at a time, surrogate pairs excepted, so any surrogate here is unpaired.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\\]/;

function escapeChar(c: string): string {
  return NAMED[c] ?? `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`;
}

/**
 * `text` as one safe line: unsafe characters (and `\`) escaped as `\r`, `\u001b`, `\u202e`, …, and cut at
 * `width` characters of output with the number of characters left out, e.g. `abc…[+1048573 chars]`. Only
 * the part that is shown is examined, so a huge value costs no more than a short one.
 */
export function printable(text: string, width = DEFAULT_CELL_WIDTH, { short = false }: { readonly short?: boolean } = {}): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (out.length >= width) return short ? `${out}…` : `${out}…[+${text.length - i} chars]`;
    const code = text.charCodeAt(i);
    // Keep surrogate pairs whole (never cut an emoji in half); lone halves are escaped below.
    const isPair = code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && ((text.charCodeAt(i + 1) & 0xfc00) === 0xdc00);
    const c = isPair ? text.slice(i, i + 2) : (text[i] as string);
    out += !isPair && UNSAFE.test(c) ? escapeChar(c) : c;
    i += c.length;
  }
  return out;
}

/** A value as text: strings as they are, everything else as JSON (unescaped: pass the result to {@link printable}). */
export function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // Deep nesting or a cycle: say so rather than fail the whole listing.
    return '(not printable)';
  }
}

/** {@link printable} for any value: strings as they are, everything else as (cut) JSON. */
export function printableValue(value: unknown, width = DEFAULT_CELL_WIDTH): string {
  return printable(textOf(value), width);
}
