/**
 * The text rendering of a rows result, the one many clients show the model: a count line, the column names,
 * one line per row with cells separated by ` | `, and the note. Written as bytes into one buffer that every
 * call reuses and decoded once: a 1,000-row table then costs the heap its final string only, instead of a
 * string and a concatenation per cell and a line per row (garbage that made the young generation collect
 * more often per call). The bytes are Latin-1 while every character fits in one byte (nearly every result:
 * "Chloé" too), which decodes by a copy into a one-byte string, half the heap of the two-byte string UTF-8
 * decoding makes of any text with a character past ASCII, and cheaper for everything that reads it later
 * (the response's JSON, its hash); the first wider character turns what was written into UTF-8 and the
 * rest is written so. Text with a lone surrogate (no UTF-8 form) switches, from that point on, to
 * building the same text from strings, so what the agent gets is the same character for character.
 */

/** Longest cell text shown (after escaping); longer ones end with `…`. */
export const MAX_CELL_TEXT = 200;

/** Characters that would break a table row: line breaks and the column separator. */
const TABLE_BREAKING = /[\r\n|]/;

/** One cell as text: NULL, numbers and booleans as JS writes them, JSON for the rest, escaped and bounded. */
export function cellText(value: unknown): string {
  let text: string;
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  text = typeof value === 'string' ? value : JSON.stringify(value);
  // Most cells need no escaping: test once before rewriting.
  if (TABLE_BREAKING.test(text)) text = text.replace(/\r?\n/g, '\\n').replace(/\|/g, '\\|');
  return text.length > MAX_CELL_TEXT ? `${text.slice(0, MAX_CELL_TEXT)}…` : text;
}

const PIPE = 0x7c;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;

/** Reused by every table (rendering is synchronous); a buffer grown past this is let go after its table. */
const KEEP_BYTES = 1024 * 1024;
let scratch: Buffer | undefined;

/**
 * A table's text, written as Latin-1 bytes while it can be, then as UTF-8, else as string pieces. Build with `raw`, `cell`,
 * `separator` and `newline`, then `finish` once.
 */
export class TableText {
  private buf: Buffer;
  private pos = 0;
  /** The bytes are UTF-8 (a character past Latin-1 was met); until then they are Latin-1. */
  private wide = false;
  /** Set once a text with no UTF-8 form is met: the text so far, then every later piece. */
  private parts: string[] | undefined;

  constructor() {
    this.buf = scratch ?? Buffer.allocUnsafe(64 * 1024);
    scratch = undefined;
  }

  /** Text as it is (the count line, column names, the note). */
  raw(text: string): void {
    if (this.parts !== undefined || !this.utf8(text, false)) this.piece(text);
  }

  /** One cell, as `cellText` renders it. */
  cell(value: unknown): void {
    if (this.parts === undefined) {
      if (typeof value === 'string') {
        if (value.length <= MAX_CELL_TEXT && this.utf8(value, true)) return;
      } else if (typeof value === 'number' && Number.isInteger(value) && value <= 0x7fffffff && value >= -0x7fffffff) {
        this.integer(value);
        return;
      } else if (value === null || value === undefined) {
        this.byte4(0x4e, 0x55, 0x4c, 0x4c); // NULL
        return;
      }
      // Escaped, cut, a number or boolean beyond the fast forms, or JSON: the string form.
      const text = cellText(value);
      if (this.utf8(text, false)) return;
      this.piece(text);
      return;
    }
    this.parts.push(cellText(value));
  }

  /** ` | ` between cells. */
  separator(): void {
    if (this.parts !== undefined) {
      this.parts.push(' | ');
      return;
    }
    this.room(3);
    this.buf[this.pos++] = SPACE;
    this.buf[this.pos++] = PIPE;
    this.buf[this.pos++] = SPACE;
  }

  newline(): void {
    if (this.parts !== undefined) {
      this.parts.push('\n');
      return;
    }
    this.room(1);
    this.buf[this.pos++] = LF;
  }

  /** The whole text; the builder is not used after this. */
  finish(): string {
    const bytes = this.buf.toString(this.wide ? 'utf8' : 'latin1', 0, this.pos);
    if (this.buf.length <= KEEP_BYTES) scratch = this.buf;
    this.buf = Buffer.alloc(0);
    if (this.parts === undefined) return bytes;
    this.parts[0] = bytes;
    return this.parts.join('');
  }

  /** Switches to string pieces (the bytes so far become the first piece, filled in by `finish`). */
  private piece(text: string): void {
    if (this.parts === undefined) this.parts = [''];
    this.parts.push(text);
  }

  /**
   * Writes `text` if it has a byte form (and, for a cell, needs no escaping); else writes nothing and says
   * so. A cell is at most MAX_CELL_TEXT characters here, so it is never cut.
   */
  private utf8(text: string, cell: boolean): boolean {
    if (this.wide) return this.wideBytes(text, cell);
    const n = text.length;
    this.room(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x100) {
        // Nothing of this text is kept: what came before it becomes UTF-8 and the text is written again.
        this.toUtf8();
        return this.wideBytes(text, cell);
      }
      if (cell && (c === LF || c === CR || c === PIPE)) return false;
      buf[p++] = c;
    }
    this.pos = p;
    return true;
  }

  /** The Latin-1 bytes written so far as UTF-8: from here on the buffer holds UTF-8. */
  private toUtf8(): void {
    const from = this.buf;
    let extra = 0;
    for (let i = 0; i < this.pos; i++) if ((from[i] as number) >= 0x80) extra++;
    const to = Buffer.allocUnsafe(Math.max(from.length, 2 * (this.pos + extra)));
    let p = 0;
    for (let i = 0; i < this.pos; i++) {
      const c = from[i] as number;
      if (c < 0x80) to[p++] = c;
      else {
        to[p++] = 0xc0 | (c >> 6);
        to[p++] = 0x80 | (c & 0x3f);
      }
    }
    this.buf = to;
    this.pos = p;
    this.wide = true;
  }

  /** `utf8` once the buffer holds UTF-8. */
  private wideBytes(text: string, cell: boolean): boolean {
    const n = text.length;
    this.room(3 * n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x80) {
        if (cell && (c === LF || c === CR || c === PIPE)) return false;
        buf[p++] = c;
      } else if (c < 0x800) {
        buf[p++] = 0xc0 | (c >> 6);
        buf[p++] = 0x80 | (c & 0x3f);
      } else if (c < 0xd800 || c > 0xdfff) {
        buf[p++] = 0xe0 | (c >> 12);
        buf[p++] = 0x80 | ((c >> 6) & 0x3f);
        buf[p++] = 0x80 | (c & 0x3f);
      } else {
        // A surrogate pair is one character of four bytes; a lone surrogate has no UTF-8 form, and JSON
        // escapes it: that text stays a string.
        const d = text.charCodeAt(i + 1);
        if (c > 0xdbff || !(d >= 0xdc00 && d <= 0xdfff)) return false;
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        buf[p++] = 0xf0 | (cp >> 18);
        buf[p++] = 0x80 | ((cp >> 12) & 0x3f);
        buf[p++] = 0x80 | ((cp >> 6) & 0x3f);
        buf[p++] = 0x80 | (cp & 0x3f);
        i++;
      }
    }
    this.pos = p;
    return true;
  }

  /** A 32-bit integer's decimal digits, as String() writes them, without making the string. */
  private integer(value: number): void {
    this.room(11);
    const buf = this.buf;
    let v = value;
    if (v < 0) {
      buf[this.pos++] = 0x2d;
      v = -v;
    }
    let digits = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    do {
      buf[--p] = 0x30 + (v % 10);
      v = Math.floor(v / 10);
    } while (v > 0);
  }

  private byte4(a: number, b: number, c: number, d: number): void {
    this.room(4);
    const buf = this.buf;
    buf[this.pos++] = a;
    buf[this.pos++] = b;
    buf[this.pos++] = c;
    buf[this.pos++] = d;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}
