/**
 * The Cloud Logging query language: a bounded parser, a canonical printer and a narrow-only composer.
 *
 * Nothing the agent types goes upstream as typed: the filter is parsed to a tree and the tree is printed
 * back, every string re-quoted and every compound child parenthesised. A `)` inside a string, a comment
 * swallowing the rest of a line or an unterminated string therefore cannot close the agent's group and
 * widen the policy's scope; input that does not parse is refused with the position of the fault.
 *
 * Precedence follows Logging, not SQL: NOT binds tightest, then OR, then AND (so `a OR b AND c` is
 * `(a OR b) AND c`); juxtaposed terms are ANDed.
 */

/** Comparison operators of the Logging query language. */
export type LogCompareOp = '=' | '!=' | '>' | '<' | '>=' | '<=' | ':' | '=~' | '!~';

/** A field path: `jsonPayload.user.id` is `["jsonPayload", "user", "id"]`; `labels."k8s-pod/app"` keeps the quoted segment whole. */
export interface LogFieldPath {
  readonly kind: 'field';
  readonly path: readonly string[];
}

/** A literal: a quoted string or bare word (`string`), a number, or `*` (only in `field:*`). */
export type LogValue =
  | { readonly kind: 'string'; readonly text: string }
  | { readonly kind: 'number'; readonly text: string }
  | { readonly kind: 'any' };

/** A function call such as `sample(insertId, 0.25)`; `name` is the canonical spelling. */
export interface LogFunctionCall {
  readonly kind: 'call';
  readonly name: string;
  readonly args: readonly LogFunctionArg[];
}

/** What a function takes: field paths, literals and (for `cast`) a nested call. */
export type LogFunctionArg = LogFieldPath | LogFunctionCall | Exclude<LogValue, { kind: 'any' }>;

/** AND over `T` (filters, or the values of `field = (a AND b)`). */
export interface LogAnd<T> {
  readonly kind: 'and';
  readonly items: readonly T[];
}

/** OR over `T`. */
export interface LogOr<T> {
  readonly kind: 'or';
  readonly items: readonly T[];
}

/** NOT (or `-`) over `T`. */
export interface LogNot<T> {
  readonly kind: 'not';
  readonly item: T;
}

/** The right side of a comparison: a literal or a parenthesised Boolean expression of literals. */
export type LogValueExpr = LogValue | LogAnd<LogValueExpr> | LogOr<LogValueExpr> | LogNot<LogValueExpr>;

/** `left op value`, e.g. `severity>=ERROR`, `cast(timestamp, STRING) =~ "^2026"`. */
export interface LogComparison {
  readonly kind: 'compare';
  readonly left: LogFieldPath | LogFunctionCall;
  readonly op: LogCompareOp;
  readonly value: LogValueExpr;
}

/** A bare word or quoted phrase matched against every field (`"timeout"`, `error`). */
export interface LogGlobalRestriction {
  readonly kind: 'global';
  readonly value: Exclude<LogValue, { kind: 'any' }>;
}

/** A parsed filter. Positions and comments are not kept: two texts with the same tree mean the same. */
export type LogFilter = LogAnd<LogFilter> | LogOr<LogFilter> | LogNot<LogFilter> | LogComparison | LogGlobalRestriction | LogFunctionCall;

/** Bounds on agent input: each is far above a real query and far below what would hurt. */
export const LOG_FILTER_LIMITS = { maxLength: 20_000, maxDepth: 64, maxTerms: 1_000 } as const;

/** A filter that does not parse. `message` ends with `at line L, column C`; `snippet` shows the line with a caret. */
export class LogFilterError extends Error {
  override readonly name = 'LogFilterError';
  /** 0-based offset into the text. */
  readonly position: number;
  /** 1-based. */
  readonly line: number;
  /** 1-based, in UTF-16 code units. */
  readonly column: number;
  /** What was wrong, without the location. */
  readonly reason: string;
  /** The offending line (clipped to 80 characters) and a caret under the spot. */
  readonly snippet: string;

  constructor(reason: string, text: string, position: number) {
    const { line, column, snippet } = locate(text, position);
    super(`${reason} at line ${line}, column ${column}`);
    this.reason = reason;
    this.position = position;
    this.line = line;
    this.column = column;
    this.snippet = snippet;
  }
}

function locate(text: string, position: number): { line: number; column: number; snippet: string } {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  const lineStart = before.lastIndexOf('\n') + 1;
  const column = position - lineStart + 1;
  let lineEnd = text.indexOf('\n', lineStart);
  if (lineEnd === -1) lineEnd = text.length;
  const width = 80;
  const from = Math.max(lineStart, Math.min(position - width / 2, lineEnd - width));
  const to = Math.min(lineEnd, from + width);
  // Tabs become spaces so the caret lines up; other control characters are never echoed raw.
  const shown = text.slice(from, to).replace(/[\p{Cc}]/gu, (c) => (c === '\t' ? ' ' : '?'));
  const prefix = from > lineStart ? '…' : '';
  const suffix = to < lineEnd ? '…' : '';
  return { line, column, snippet: `${prefix}${shown}${suffix}\n${' '.repeat(prefix.length + position - from)}^` };
}

/** Functions the Logging documentation lists, by lower-case name; the value is the canonical spelling. */
const FUNCTIONS: ReadonlyMap<string, string> = new Map([
  ['log_id', 'log_id'],
  ['sample', 'sample'],
  ['ip_in_net', 'ip_in_net'],
  ['search', 'SEARCH'],
  ['cast', 'cast'],
  ['regex_extract', 'regex_extract'],
  ['timezone', 'TIMEZONE'],
]);
/** Functions that are whole restrictions; the others yield a value to compare. */
const RESTRICTION_FUNCTIONS = new Set(['log_id', 'sample', 'ip_in_net', 'SEARCH']);
const NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SEGMENT = /^[A-Za-z0-9_]+$/;
// Characters that end a bare word (besides whitespace).
const WORD_STOP = new Set(['(', ')', '"', '=', '!', '<', '>', ':', ',', '~']);
const OPS: readonly LogCompareOp[] = ['>=', '<=', '!=', '=~', '!~', '=', '>', '<', ':'];
const KEYWORDS = new Set(['AND', 'OR', 'NOT']);
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', n: '\n', t: '\t', r: '\r', '/': '/' };

/**
 * Parses a Logging filter. Throws `LogFilterError` for anything it does not accept: syntax errors,
 * unknown functions, more than 20,000 characters, nesting deeper than 64, more than 1,000 terms,
 * control characters other than tab, newline and carriage return, lone surrogates and bidi overrides.
 */
export function parseLogFilter(text: string): LogFilter {
  return new Parser(text).parseAll();
}

class Parser {
  private pos = 0;
  private depth = 0;
  private terms = 0;

  constructor(private readonly src: string) {}

  parseAll(): LogFilter {
    if (typeof this.src !== 'string') throw new TypeError('parseLogFilter: text must be a string');
    if (this.src.length > LOG_FILTER_LIMITS.maxLength) {
      throw this.fail(`filter is longer than ${LOG_FILTER_LIMITS.maxLength} characters`, LOG_FILTER_LIMITS.maxLength);
    }
    this.checkCharacters();
    this.skip();
    if (this.eof()) throw this.fail('filter is empty', this.pos);
    const f = this.parseAnd();
    this.skip();
    if (!this.eof()) throw this.fail(`unexpected ${this.describe()}`, this.pos);
    return f;
  }

  private checkCharacters(): void {
    const s = this.src;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || (c >= 0x7f && c <= 0x9f)) {
        throw this.fail(`control character U+${hex4(c)} is not allowed`, i);
      }
      if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)) {
        throw this.fail(`bidirectional control character U+${hex4(c)} is not allowed`, i);
      }
      if (c >= 0xd800 && c <= 0xdbff) {
        const next = s.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          i++;
          continue;
        }
        throw this.fail('invalid Unicode (lone surrogate)', i);
      }
      if (c >= 0xdc00 && c <= 0xdfff) throw this.fail('invalid Unicode (lone surrogate)', i);
    }
  }

  private fail(reason: string, position: number): LogFilterError {
    return new LogFilterError(reason, this.src, position);
  }

  private eof(): boolean {
    return this.pos >= this.src.length;
  }

  private ch(offset = 0): string {
    return this.src.charAt(this.pos + offset);
  }

  /** Skips whitespace and `--` comments. */
  private skip(): void {
    for (;;) {
      const c = this.ch();
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.pos++;
      else if (c === '-' && this.ch(1) === '-') {
        const nl = this.src.indexOf('\n', this.pos);
        this.pos = nl === -1 ? this.src.length : nl + 1;
      } else return;
    }
  }

  /** Describes what is at the cursor for an error message. */
  private describe(at = this.pos): string {
    if (at >= this.src.length) return 'end of filter';
    const c = this.src.charAt(at);
    if (c === '"') return 'string';
    if (isWordChar(c) && c !== '-') {
      let end = at;
      while (end < this.src.length && isWordChar(this.src.charAt(end))) end++;
      const word = this.src.slice(at, end);
      return JSON.stringify(word.length > 40 ? `${word.slice(0, 40)}…` : word);
    }
    return JSON.stringify(String.fromCodePoint(this.src.codePointAt(at) ?? 0));
  }

  /** The keyword at the cursor, if a whole word AND/OR/NOT stands there. */
  private keyword(): string | undefined {
    for (const k of KEYWORDS) {
      if (this.src.startsWith(k, this.pos)) {
        const after = this.src.charAt(this.pos + k.length);
        if (after === '' || !isWordChar(after)) return k;
      }
    }
    return undefined;
  }

  private enter(position: number): void {
    this.depth++;
    if (this.depth > LOG_FILTER_LIMITS.maxDepth) {
      throw this.fail(`filter nests deeper than ${LOG_FILTER_LIMITS.maxDepth} levels`, position);
    }
  }

  private countTerm(position: number): void {
    this.terms++;
    if (this.terms > LOG_FILTER_LIMITS.maxTerms) {
      throw this.fail(`filter has more than ${LOG_FILTER_LIMITS.maxTerms} terms`, position);
    }
  }

  /** and := or { ["AND"] or } */
  private parseAnd(): LogFilter {
    const items = [this.parseOr()];
    for (;;) {
      this.skip();
      if (this.eof() || this.ch() === ')') break;
      if (this.keyword() === 'AND') {
        this.pos += 3;
        this.skip();
        if (this.eof() || this.ch() === ')') throw this.fail(`expected a term after "AND", found ${this.describe()}`, this.pos);
      }
      items.push(this.parseOr());
    }
    return items.length === 1 ? (items[0] as LogFilter) : { kind: 'and', items };
  }

  /** or := unary { "OR" unary } */
  private parseOr(): LogFilter {
    const items = [this.parseUnary()];
    for (;;) {
      this.skip();
      if (this.keyword() !== 'OR') break;
      this.pos += 2;
      this.skip();
      if (this.eof() || this.ch() === ')') throw this.fail(`expected a term after "OR", found ${this.describe()}`, this.pos);
      items.push(this.parseUnary());
    }
    return items.length === 1 ? (items[0] as LogFilter) : { kind: 'or', items };
  }

  /** unary := ("NOT" | "-") unary | primary */
  private parseUnary(): LogFilter {
    this.skip();
    const start = this.pos;
    const kw = this.keyword();
    if (kw === 'NOT' || (this.ch() === '-' && this.ch(1) !== '')) {
      const what = kw === 'NOT' ? '"NOT"' : '"-"';
      this.pos += kw === 'NOT' ? 3 : 1;
      if (what === '"-"' && /[\s)]/.test(this.ch())) throw this.fail('unexpected "-"', start);
      this.skip();
      if (this.eof() || this.ch() === ')') throw this.fail(`expected a term after ${what}, found ${this.describe()}`, this.pos);
      this.enter(start);
      const item = this.parseUnary();
      this.depth--;
      return { kind: 'not', item };
    }
    return this.parsePrimary();
  }

  /** primary := "(" and ")" | comparison | function call | global restriction */
  private parsePrimary(): LogFilter {
    this.skip();
    const start = this.pos;
    const c = this.ch();
    if (c === '(') {
      this.enter(start);
      this.pos++;
      this.skip();
      if (this.ch() === ')') throw this.fail('empty parentheses', this.pos);
      if (this.eof()) throw this.fail('expected a term after "(", found end of filter', this.pos);
      const inner = this.parseAnd();
      this.expectClose(start);
      this.depth--;
      return inner;
    }
    const kw = this.keyword();
    if (kw !== undefined || this.eof() || !(c === '"' || isWordChar(c))) {
      throw this.fail(`unexpected ${this.describe()}`, start);
    }
    this.countTerm(start);
    if (/[A-Za-z_]/.test(c)) {
      const path = this.tryPath();
      if (path !== undefined) {
        if (path.path.length === 1 && this.ch() === '(') {
          const call = this.parseCall(path.path[0] as string, start);
          this.skip();
          const op = this.peekOp();
          if (RESTRICTION_FUNCTIONS.has(call.name)) {
            if (op !== undefined) throw this.fail(`function "${call.name}" is a whole restriction and cannot be compared`, this.pos);
            return call;
          }
          if (op === undefined) throw this.fail(`expected a comparison operator after ${call.name}(…), found ${this.describe()}`, this.pos);
          return this.finishComparison(call, op);
        }
        this.skip();
        const op = this.peekOp();
        if (op !== undefined) return this.finishComparison(path, op);
        if (path.quoted) throw this.fail(`expected a comparison operator after field path, found ${this.describe()}`, this.pos);
        this.pos = start;
      }
    }
    const value = this.parseLiteral();
    const end = this.pos;
    this.skip();
    if (this.peekOp() !== undefined) {
      if (value.kind === 'string' && this.src.charAt(start) !== '"') {
        throw this.fail(`invalid field path "${clip(value.text)}": quote segments with other characters than letters, digits and "_", as in labels."k8s-pod/app"`, start);
      }
      throw this.fail(`unexpected ${this.describe()}`, this.pos);
    }
    this.pos = end;
    if (value.kind === 'any') throw this.fail('"*" is only allowed in field:*', start);
    return { kind: 'global', value };
  }

  private expectClose(open: number): void {
    this.skip();
    if (this.ch() !== ')') {
      const { line, column } = locate(this.src, open);
      throw this.fail(`expected ")" to close "(" at line ${line}, column ${column}, found ${this.describe()}`, this.pos);
    }
    this.pos++;
  }

  /** A field path, or undefined (cursor unchanged) when the text here is not one. */
  private tryPath(): (LogFieldPath & { quoted: boolean }) | undefined {
    const start = this.pos;
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.src.slice(this.pos, this.pos + 512));
    if (m === null) return undefined;
    this.pos += m[0].length;
    const path = [m[0]];
    let quoted = false;
    while (this.ch() === '.') {
      const next = this.ch(1);
      if (next === '"') {
        this.pos++;
        path.push(this.parseString());
        quoted = true;
      } else {
        const seg = /^[A-Za-z0-9_]+/.exec(this.src.slice(this.pos + 1, this.pos + 513));
        if (seg === null) {
          this.pos = start;
          return undefined;
        }
        this.pos += 1 + seg[0].length;
        path.push(seg[0]);
      }
    }
    // A path glued to more word characters (`labels.k8s-pod`) is not a path; the caller reads a word.
    const after = this.ch();
    if (after !== '' && isWordChar(after) && after !== '(') {
      if (quoted) throw this.fail(`unexpected ${this.describe()}`, this.pos);
      this.pos = start;
      return undefined;
    }
    return { kind: 'field', path, quoted };
  }

  private peekOp(): LogCompareOp | undefined {
    for (const op of OPS) if (this.src.startsWith(op, this.pos)) return op;
    return undefined;
  }

  private finishComparison(left: LogFieldPath | LogFunctionCall, op: LogCompareOp): LogComparison {
    const opAt = this.pos;
    this.pos += op.length;
    this.skip();
    if (this.eof() || this.ch() === ')' || this.keyword() !== undefined || this.peekOp() !== undefined || this.ch() === ',') {
      throw this.fail(`expected a value after "${op}", found ${this.describe()}`, this.pos);
    }
    const value = this.parseValueExpr();
    if (value.kind === 'any' && op !== ':') throw this.fail(`"*" is only allowed in field:*, not after "${op}"`, opAt + op.length);
    const l: LogFieldPath | LogFunctionCall = left.kind === 'field' ? { kind: 'field', path: left.path } : left;
    return { kind: 'compare', left: l, op, value };
  }

  /** value := literal | "(" value-and ")" */
  private parseValueExpr(): LogValueExpr {
    this.skip();
    const start = this.pos;
    if (this.ch() === '(') {
      this.enter(start);
      this.pos++;
      this.skip();
      if (this.ch() === ')') throw this.fail('empty parentheses', this.pos);
      const inner = this.parseValueAnd();
      this.expectClose(start);
      this.depth--;
      return inner;
    }
    const kw = this.keyword();
    if (kw === 'NOT') {
      this.pos += 3;
      this.skip();
      this.enter(start);
      const item = this.parseValueExpr();
      this.depth--;
      return { kind: 'not', item };
    }
    if (kw !== undefined || this.eof() || !(this.ch() === '"' || isWordChar(this.ch()))) {
      throw this.fail(`expected a value, found ${this.describe()}`, start);
    }
    return this.parseLiteral();
  }

  private parseValueAnd(): LogValueExpr {
    const items = [this.parseValueOr()];
    for (;;) {
      this.skip();
      if (this.eof() || this.ch() === ')') break;
      if (this.keyword() === 'AND') this.pos += 3;
      items.push(this.parseValueOr());
    }
    return items.length === 1 ? (items[0] as LogValueExpr) : { kind: 'and', items };
  }

  private parseValueOr(): LogValueExpr {
    const items = [this.parseValueExpr()];
    for (;;) {
      this.skip();
      if (this.keyword() !== 'OR') break;
      this.pos += 2;
      items.push(this.parseValueExpr());
    }
    return items.length === 1 ? (items[0] as LogValueExpr) : { kind: 'or', items };
  }

  /** A quoted string, a number, `*`, or a bare word. */
  private parseLiteral(): LogValue {
    const start = this.pos;
    if (this.ch() === '"') return { kind: 'string', text: this.parseString() };
    while (!this.eof() && isWordChar(this.ch())) this.pos++;
    const word = this.src.slice(start, this.pos);
    if (word === '') throw this.fail(`expected a value, found ${this.describe()}`, start);
    if (word === '*') return { kind: 'any' };
    if (NUMBER.test(word)) return { kind: 'number', text: word };
    if (word.startsWith('-')) throw this.fail(`unexpected "-"`, start);
    return { kind: 'string', text: word };
  }

  /** A double-quoted string at the cursor, escapes decoded. */
  private parseString(): string {
    const start = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      if (this.eof()) throw this.fail('unterminated string', start);
      const c = this.ch();
      if (c === '"') {
        this.pos++;
        return out;
      }
      if (c !== '\\') {
        out += c;
        this.pos++;
        continue;
      }
      const e = this.ch(1);
      const simple = SIMPLE_ESCAPES[e];
      if (simple !== undefined) {
        out += simple;
        this.pos += 2;
      } else if (e === 'u' && /^[0-9A-Fa-f]{4}$/.test(this.src.slice(this.pos + 2, this.pos + 6))) {
        const code = Number.parseInt(this.src.slice(this.pos + 2, this.pos + 6), 16);
        if ((code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) || (code >= 0x7f && code <= 0x9f) || (code >= 0xd800 && code <= 0xdfff)) {
          throw this.fail(`escape "\\u${hex4(code)}" is not allowed`, this.pos);
        }
        out += String.fromCharCode(code);
        this.pos += 6;
      } else {
        const shown = e === '' ? '\\' : `\\${e}`;
        throw this.fail(`invalid escape "${shown}" in string (use \\\\ for a backslash)`, this.pos);
      }
    }
  }

  /** name "(" [arg {"," arg}] ")" with the cursor on "(". */
  private parseCall(name: string, start: number): LogFunctionCall {
    const canonical = FUNCTIONS.get(name.toLowerCase());
    if (canonical === undefined) {
      throw this.fail(`unknown function "${clip(name)}" (known: log_id, sample, ip_in_net, SEARCH, cast, regex_extract)`, start);
    }
    const open = this.pos;
    this.enter(open);
    this.pos++;
    const args: LogFunctionArg[] = [];
    this.skip();
    if (this.ch() !== ')') {
      for (;;) {
        args.push(this.parseArg());
        this.skip();
        if (this.ch() === ',') {
          this.pos++;
          continue;
        }
        break;
      }
    }
    this.expectClose(open);
    this.depth--;
    const call: LogFunctionCall = { kind: 'call', name: canonical, args };
    const problem = checkCall(call);
    if (problem !== undefined) throw this.fail(problem, start);
    return call;
  }

  private parseArg(): LogFunctionArg {
    this.skip();
    const start = this.pos;
    if (this.keyword() !== undefined) throw this.fail(`expected a function argument, found ${this.describe()}`, start);
    if (/[A-Za-z_]/.test(this.ch())) {
      const path = this.tryPath();
      if (path !== undefined) {
        if (path.path.length === 1 && this.ch() === '(') return this.parseCall(path.path[0] as string, start);
        return { kind: 'field', path: path.path };
      }
    }
    if (this.ch() === '"' || (isWordChar(this.ch()) && this.keyword() === undefined)) {
      const v = this.parseLiteral();
      if (v.kind !== 'any') return v;
    }
    throw this.fail(`expected a function argument, found ${this.describe(start)}`, start);
  }
}

/** Why a call's arguments do not fit its function, or undefined. Shared by the parser and the printer. */
function checkCall(call: LogFunctionCall): string | undefined {
  const a = call.args;
  const kinds = a.map((x) => x.kind).join(',');
  switch (call.name) {
    case 'log_id':
      return kinds === 'string' ? undefined : 'function "log_id" takes one string: log_id("cloudaudit.googleapis.com/activity")';
    case 'sample': {
      const f = a[1];
      const ok = kinds === 'field,number' && f?.kind === 'number' && Number(f.text) > 0 && Number(f.text) <= 1;
      return ok ? undefined : 'function "sample" takes a field and a fraction in (0, 1]: sample(insertId, 0.25)';
    }
    case 'ip_in_net':
      return kinds === 'field,string' ? undefined : 'function "ip_in_net" takes a field and a network: ip_in_net(jsonPayload.ip, "10.0.0.0/8")';
    case 'SEARCH':
      return kinds === 'string' || kinds === 'field,string' ? undefined : 'function "SEARCH" takes a string, or a field and a string: SEARCH(textPayload, "hello")';
    case 'cast':
      return kinds === 'field,field' || kinds === 'field,field,call' ? undefined : 'function "cast" takes a field, a type and an optional TIMEZONE(…): cast(timestamp, STRING)';
    case 'regex_extract':
      return kinds === 'field,string' ? undefined : 'function "regex_extract" takes a field and a pattern: regex_extract(jsonPayload.msg, "id=(\\\\d+)")';
    case 'TIMEZONE':
      return kinds === 'string' ? undefined : 'function "TIMEZONE" takes one string: TIMEZONE("America/New_York")';
    default:
      return `unknown function "${clip(call.name)}"`;
  }
}

function isWordChar(c: string): boolean {
  return c !== '' && c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r' && !WORD_STOP.has(c);
}

function hex4(c: number): string {
  return c.toString(16).toUpperCase().padStart(4, '0');
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/**
 * Prints a filter in canonical form: strings quoted and escaped, every compound child of AND, OR and NOT
 * parenthesised, comments gone. `printLogFilter(parseLogFilter(printLogFilter(f)))` equals
 * `printLogFilter(f)`. A tree that no parse could produce (an unknown operator or function, an empty
 * AND) is a caller bug: TypeError.
 */
export function printLogFilter(f: LogFilter): string {
  switch (f.kind) {
    case 'and':
    case 'or':
      return printItems(f.kind, f.items, printLogFilter);
    case 'not':
      return `NOT ${wrap(f.item, printLogFilter)}`;
    case 'compare':
      if (!OPS.includes(f.op)) throw new TypeError(`printLogFilter: unknown operator ${JSON.stringify(f.op)}`);
      return `${f.left.kind === 'call' ? printCall(f.left) : printPath(f.left)}${f.op}${printValueExpr(f.value, true)}`;
    case 'global':
      // `-5` alone reads as NOT 5: a negative number standing alone is printed as the phrase it is.
      return f.value.kind === 'number' && f.value.text.startsWith('-') ? quote(f.value.text) : printValue(f.value);
    case 'call':
      return printCall(f);
    default:
      throw new TypeError(`printLogFilter: unknown node ${JSON.stringify((f as { kind?: unknown }).kind)}`);
  }
}

function printItems<T extends { kind: string }>(kind: 'and' | 'or', items: readonly T[], print: (x: T) => string): string {
  if (items.length === 0) throw new TypeError(`printLogFilter: empty ${kind.toUpperCase()}`);
  return items.map((x) => wrap(x, print)).join(kind === 'and' ? ' AND ' : ' OR ');
}

function wrap<T extends { kind: string }>(x: T, print: (x: T) => string): string {
  return x.kind === 'and' || x.kind === 'or' ? `(${print(x)})` : print(x);
}

function printValueExpr(v: LogValueExpr, top: boolean): string {
  switch (v.kind) {
    case 'and':
    case 'or': {
      const body = printItems(v.kind, v.items, (x) => printValueExpr(x, false));
      return top ? `(${body})` : body;
    }
    case 'not': {
      const body = `NOT ${wrap(v.item, (x) => printValueExpr(x, false))}`;
      return top ? `(${body})` : body;
    }
    default:
      return printValue(v);
  }
}

function printValue(v: LogValue): string {
  switch (v.kind) {
    case 'string':
      return quote(v.text);
    case 'number':
      if (!NUMBER.test(v.text)) throw new TypeError(`printLogFilter: not a number: ${JSON.stringify(v.text)}`);
      return v.text;
    case 'any':
      return '*';
    default:
      throw new TypeError(`printLogFilter: unknown value ${JSON.stringify((v as { kind?: unknown }).kind)}`);
  }
}

function printPath(p: LogFieldPath): string {
  const [first, ...rest] = p.path;
  // A lone AND/OR/NOT would print as the keyword; `AND.x` is still a path.
  if (first === undefined || !IDENT.test(first) || (rest.length === 0 && KEYWORDS.has(first))) throw new TypeError(`printLogFilter: bad field path ${JSON.stringify(p.path)}`);
  return [first, ...rest.map((s) => (SEGMENT.test(s) ? s : quote(s)))].join('.');
}

function printCall(c: LogFunctionCall): string {
  const problem = FUNCTIONS.get(c.name.toLowerCase()) === c.name ? checkCall(c) : `unknown function ${JSON.stringify(c.name)}`;
  if (problem !== undefined) throw new TypeError(`printLogFilter: ${problem}`);
  const args = c.args.map((a) => (a.kind === 'field' ? printPath(a) : a.kind === 'call' ? printCall(a) : printValue(a)));
  return `${c.name}(${args.join(', ')})`;
}

function quote(s: string): string {
  const body = s.replace(/[\\"\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu, (c) => {
    switch (c) {
      case '\\':
        return '\\\\';
      case '"':
        return '\\"';
      case '\n':
        return '\\n';
      case '\t':
        return '\\t';
      case '\r':
        return '\\r';
      default:
        return `\\u${hex4(c.charCodeAt(0))}`;
    }
  });
  return `"${body}"`;
}

/** Inputs of `composeLogFilter`. */
export interface ComposeLogFilterInput {
  /** Filters policy forces (scope and rules): parsed trees, or texts that are parsed here. */
  readonly forced: readonly (LogFilter | string)[];
  /** Log ids the scope allows (unencoded, e.g. `cloudaudit.googleapis.com/activity`); absent or empty: no log name clause. */
  readonly logNames?: { readonly project: string; readonly names: readonly string[] };
  /** The agent's parsed filter. */
  readonly agent?: LogFilter;
  readonly since: Date;
  readonly until: Date;
}

const PROJECT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const LOG_ID = /^[A-Za-z0-9_./-]{1,512}$/;

/**
 * The filter sent upstream: `(<forced 1>) AND … AND (logName="projects/p/logs/a" OR …) AND (<agent>)
 * AND timestamp>="<since>" AND timestamp<"<until>"`. Every part is a printed tree inside its own
 * parentheses, so the agent's part can only narrow what policy allows.
 */
export function composeLogFilter(input: ComposeLogFilterInput): string {
  const { since, until } = input;
  if (!(since instanceof Date) || !(until instanceof Date) || Number.isNaN(since.getTime()) || Number.isNaN(until.getTime())) {
    throw new TypeError('composeLogFilter: since and until must be valid Dates');
  }
  if (since.getTime() >= until.getTime()) throw new TypeError('composeLogFilter: since must be before until');
  const parts: string[] = [];
  for (const f of input.forced) parts.push(`(${printLogFilter(typeof f === 'string' ? parseLogFilter(f) : f)})`);
  if (input.logNames !== undefined && input.logNames.names.length > 0) {
    const { project, names } = input.logNames;
    if (!PROJECT.test(project)) throw new TypeError(`composeLogFilter: not a project id: ${JSON.stringify(project)}`);
    const clauses = names.map((n) => {
      if (!LOG_ID.test(n) || n.split('/').some((s) => s === '' || s === '.' || s === '..')) {
        throw new TypeError(`composeLogFilter: not a log id: ${JSON.stringify(n)}`);
      }
      return `logName=${quote(`projects/${project}/logs/${encodeURIComponent(n)}`)}`;
    });
    parts.push(`(${clauses.join(' OR ')})`);
  }
  if (input.agent !== undefined) parts.push(`(${printLogFilter(input.agent)})`);
  parts.push(`timestamp>=${quote(since.toISOString())}`, `timestamp<${quote(until.toISOString())}`);
  return parts.join(' AND ');
}

/** A `since`/`until` text that is neither a duration nor an RFC 3339 time. */
export class LogTimeError extends Error {
  override readonly name = 'LogTimeError';
}

const DURATION = /^(\d{1,9})([smhd])$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `"15m"`, `"2h"`, `"1d"`, `"90s"` (that long before `now`) or an RFC 3339 time → Date.
 * Throws `LogTimeError` naming the field (`name`, default "since") and the accepted forms.
 */
export function parseSince(text: string, now: Date, name = 'since'): Date {
  const t = typeof text === 'string' ? text.trim() : '';
  const d = DURATION.exec(t);
  if (d !== null) {
    const at = new Date(now.getTime() - Number(d[1]) * (UNIT_MS[d[2] as string] as number));
    if (!Number.isNaN(at.getTime())) return at;
  }
  if (RFC3339.test(t)) {
    const ms = Date.parse(t.toUpperCase());
    // Date.parse rolls 2026-02-30 over to March; a time that does not print back to its own date is refused.
    if (!Number.isNaN(ms) && validCalendarDate(t)) return new Date(ms);
  }
  const shown = typeof text === 'string' ? JSON.stringify(clip(text)) : typeof text;
  throw new LogTimeError(`${name} must be a duration such as "15m", "2h", "1d" or "90s", or an RFC 3339 time such as "2026-01-02T03:04:05Z"; got ${shown}`);
}

function validCalendarDate(t: string): boolean {
  const [y, m, d] = [Number(t.slice(0, 4)), Number(t.slice(5, 7)), Number(t.slice(8, 10))];
  const hh = Number(t.slice(11, 13));
  const mm = Number(t.slice(14, 16));
  const ss = Number(t.slice(17, 19));
  if (m < 1 || m > 12 || d < 1 || hh > 23 || mm > 59 || ss > 59) return false;
  return d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}
