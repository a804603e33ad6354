/**
 * CSV with a header row: the header gives context to every value in its column, as a JSON key or a
 * `key=value` key does (a `password` column's values are passwords, bare nine digits under `ssn` are an
 * SSN, a column a rule names is masked whole). One pass over the text, and none at all unless the first
 * line is a header and some header names something.
 */

/** What a header says about the values under it (from the caller's rules). */
export interface ColumnContext {
  /** Values here are masked whole as this type, whatever they look like (column rules). */
  readonly whole?: string;
  /** The type of one value under this header, if it is one (key-name rules). */
  readonly valueType?: (value: string) => string | undefined;
}

export interface CsvFinding {
  readonly start: number;
  readonly end: number;
  readonly type: string;
}

const HEADER_NAME = /^[A-Za-z_][A-Za-z0-9_ .()-]{0,63}$/;
const MAX_HEADER = 8192;

interface Field {
  readonly start: number;
  readonly end: number;
  readonly quoted: boolean;
}

/**
 * Reads one field starting at `i`; returns it and where the next one starts (after the delimiter), or -1
 * at the end of the record (`next` is then the start of the next record).
 */
function field(text: string, i: number, delim: number): { field: Field; next: number; last: boolean } {
  const n = text.length;
  if (text.charCodeAt(i) === 34) {
    let j = i + 1;
    for (;;) {
      const q = text.indexOf('"', j);
      if (q < 0) return { field: { start: i + 1, end: n, quoted: true }, next: n, last: true };
      if (text.charCodeAt(q + 1) === 34) {
        j = q + 2;
        continue;
      }
      const after = text.charCodeAt(q + 1);
      const f = { start: i + 1, end: q, quoted: true };
      if (after === delim) return { field: f, next: q + 2, last: false };
      const eol = after === 13 && text.charCodeAt(q + 2) === 10 ? q + 3 : q + 2;
      return { field: f, next: Math.min(eol, n), last: true };
    }
  }
  let j = i;
  while (j < n) {
    const c = text.charCodeAt(j);
    if (c === delim) return { field: { start: i, end: j, quoted: false }, next: j + 1, last: false };
    if (c === 10) return { field: { start: i, end: j > i && text.charCodeAt(j - 1) === 13 ? j - 1 : j, quoted: false }, next: j + 1, last: true };
    j++;
  }
  return { field: { start: i, end: n, quoted: false }, next: n, last: true };
}

/** The fields of the record at `i` and the start of the next record. */
function record(text: string, i: number, delim: number): { fields: Field[]; next: number } {
  const fields: Field[] = [];
  let at = i;
  for (;;) {
    const r = field(text, at, delim);
    fields.push(r.field);
    at = r.next;
    if (r.last) return { fields, next: at };
  }
}

const value = (text: string, f: Field): string => {
  const raw = text.slice(f.start, f.end);
  return f.quoted ? raw.replace(/""/g, '"') : raw.trim();
};

/** The delimiter of a header line: the most frequent of ',', tab and ';' (at least one). */
function delimiterOf(header: string): number {
  let best = -1;
  let count = 0;
  for (const d of [44, 9, 59]) {
    let c = 0;
    for (let i = 0; i < header.length; i++) if (header.charCodeAt(i) === d) c++;
    if (c > count) {
      best = d;
      count = c;
    }
  }
  return best;
}

/** A CSV header row and what it says about each column (see `csvHeader`). */
export interface CsvHeader {
  readonly delim: number;
  readonly contexts: readonly (ColumnContext | undefined)[];
  /** Where the first data record starts in the text the header was read from. */
  readonly next: number;
}

/**
 * The header of text that is CSV with a header row: at least two identifier-like names on the first
 * line, at least one of which `contextOf` gives a context (undefined for an ordinary name), and a first
 * data record (if the text holds one, whole unless `partial`) with as many fields. Undefined when the text
 * is not such CSV or no header name means anything.
 */
export function csvHeader(text: string, contextOf: (name: string) => ColumnContext | undefined, partial = false): CsvHeader | undefined {
  const eol = text.indexOf('\n');
  if (eol < 0 || eol > MAX_HEADER) return undefined;
  const delim = delimiterOf(text.slice(0, eol));
  if (delim < 0) return undefined;
  const header = record(text, 0, delim);
  if (header.fields.length < 2 || header.next !== eol + 1) return undefined;
  const contexts: (ColumnContext | undefined)[] = [];
  let any = false;
  for (const f of header.fields) {
    const name = value(text, f);
    // Names of up to three words ("Social Security Number"); a sentence with commas is not a header.
    if (!HEADER_NAME.test(name) || name.split(' ').length > 3) return undefined;
    const ctx = contextOf(name);
    contexts.push(ctx);
    if (ctx !== undefined) any = true;
  }
  if (!any) return undefined;
  // The first data record (when the text holds one) has as many fields as the header.
  for (let at = header.next; at < text.length; ) {
    const row = record(text, at, delim);
    if (row.next <= at) break;
    at = row.next;
    if (row.fields.length === 1 && row.fields[0]?.start === row.fields[0]?.end) continue; // blank line
    // `partial`: more text follows (a stream), so a record that runs to the end (unterminated, or inside
    // an open quote) may not be whole yet: only too many fields already rule the header out.
    const last = row.fields[row.fields.length - 1];
    const cut = row.next >= text.length && (text.charCodeAt(text.length - 1) !== 10 || (last?.quoted === true && last.end === text.length));
    if (partial && cut) return row.fields.length > contexts.length ? undefined : { delim, contexts, next: header.next };
    if (row.fields.length !== contexts.length) return undefined;
    break;
  }
  return { delim, contexts, next: header.next };
}

/**
 * The header of text known to be CSV (an object declared `text/csv`): its first line names the columns,
 * whatever the names look like and however many fields the records have (a record cut at a byte cap, a
 * ragged export). Undefined when the text has no line break (no record) or no name gives any context.
 * A single column is read with ','.
 */
export function declaredCsvHeader(text: string, contextOf: (name: string) => ColumnContext | undefined): CsvHeader | undefined {
  const eol = text.indexOf('\n');
  if (eol < 0) return undefined;
  const found = delimiterOf(text.slice(0, eol));
  const delim = found < 0 ? 44 : found;
  const header = record(text, 0, delim);
  const contexts = header.fields.map((f) => contextOf(value(text, f)));
  return contexts.some((c) => c !== undefined) ? { delim, contexts, next: header.next } : undefined;
}

/**
 * Findings that only the header's context gives, for text that is CSV with a header row (`csvHeader`).
 * Offsets are JS string indices of the cells' contents.
 */
export function csvFindings(text: string, contextOf: (name: string) => ColumnContext | undefined): CsvFinding[] {
  const header = csvHeader(text, contextOf);
  return header === undefined ? [] : csvRecordFindings(text, header, header.next);
}

/** Findings in the records of `text` from `from` (a record's start) on, under a header read earlier. */
export function csvRecordFindings(text: string, header: CsvHeader, from: number): CsvFinding[] {
  const { delim, contexts } = header;
  const out: CsvFinding[] = [];
  let at = from;
  while (at < text.length) {
    const row = record(text, at, delim);
    if (row.next <= at) break;
    at = row.next;
    if (row.fields.length === 1 && row.fields[0]?.start === row.fields[0]?.end) continue; // blank line
    row.fields.forEach((f, c) => {
      const ctx = contexts[c];
      if (ctx === undefined || f.start >= f.end) return;
      if (ctx.whole !== undefined) {
        out.push({ start: f.start, end: f.end, type: ctx.whole });
        return;
      }
      const type = ctx.valueType?.(value(text, f));
      if (type !== undefined) {
        // The cell's content without the spaces around an unquoted value.
        let s = f.start;
        let e = f.end;
        if (!f.quoted) {
          while (s < e && text.charCodeAt(s) === 32) s++;
          while (e > s && text.charCodeAt(e - 1) === 32) e--;
        }
        out.push({ start: s, end: e, type });
      }
    });
  }
  return out;
}

/**
 * The start of the last record that starts at or before `cut`, reading records from `from` (a record's
 * start) as `csvRecordFindings` does; `from` when no record ends by `cut`.
 */
export function lastRecordStart(text: string, header: CsvHeader, from: number, cut: number): number {
  let start = from;
  for (let at = from; at < cut; ) {
    const row = record(text, at, header.delim);
    if (row.next <= at || row.next > cut) break;
    at = row.next;
    start = at;
  }
  return start;
}
