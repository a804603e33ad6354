/**
 * Strict JSON for reviewed files (policies.json, the runtime config). `JSON.parse` keeps the last of two
 * equal keys, so `"effect": "deny", "effect": "allow"` silently reads as allow, and it drops a
 * `__proto__` key from what validation sees. This reader refuses both, and a byte order mark, with the
 * line and column of each problem; the value itself then comes from `JSON.parse`, whose result it has
 * checked to be unambiguous.
 */

/** One problem in a JSON text, at a 1-based line and column. */
export interface JsonProblem {
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** Raised by {@link parseStrictJson}; `problems` holds every duplicate or forbidden key, or the syntax error. */
export class StrictJsonError extends Error {
  readonly problems: readonly JsonProblem[];
  constructor(problems: readonly JsonProblem[]) {
    super(problems.map((p) => `line ${p.line}, column ${p.column}: ${p.message}`).join('; '));
    this.name = 'StrictJsonError';
    this.problems = problems;
  }
}

/**
 * Keys that JavaScript treats specially: `__proto__` is dropped or turns into the prototype, and
 * `constructor`/`prototype` as names in a map resolve to built-ins wherever a lookup forgets `hasOwn`.
 */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

interface Frame {
  readonly kind: 'object' | 'array';
  readonly keys: Map<string, { line: number; column: number }>;
  /** What the next token must be. */
  state: 'first' | 'key' | 'colon' | 'value' | 'comma';
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// RFC 8259 strings: no raw control characters, only the listed escapes.
// eslint-disable-next-line no-control-regex -- the control range is exactly what JSON forbids in strings
const STRING = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;

/**
 * Parses `text` as JSON, refusing a byte order mark, duplicate keys in any object at any depth, and the
 * keys `__proto__`, `constructor` and `prototype`. Every such problem is reported (a syntax error ends
 * the scan). Walks with an explicit stack, so deep nesting cannot overflow the call stack.
 */
export function parseStrictJson(text: string): unknown {
  const problems: JsonProblem[] = [];
  let pos = 0;
  let line = 1;
  let lineStart = 0;
  const at = (offset: number): { line: number; column: number } => ({ line, column: offset - lineStart + 1 });
  const fail = (message: string, offset = pos): never => {
    throw new StrictJsonError([...problems, { ...at(offset), message: `not valid JSON: ${message}` }]);
  };
  if (text.charCodeAt(0) === 0xfeff) {
    throw new StrictJsonError([{ line: 1, column: 1, message: 'the file starts with a byte order mark (U+FEFF); save it as UTF-8 without BOM' }]);
  }
  const stack: Frame[] = [];
  let done = false;
  const skipSpace = (): void => {
    while (pos < text.length) {
      const c = text[pos] as string;
      if (!WHITESPACE.has(c)) return;
      pos++;
      if (c === '\n') {
        line++;
        lineStart = pos;
      }
    }
  };
  const describe = (offset: number): string => (offset >= text.length ? 'the end of the text' : `${JSON.stringify(text.slice(offset, offset + 12))}`);
  // A value has been read: move the enclosing frame (if any) on.
  const valueDone = (): void => {
    const top = stack.at(-1);
    if (top === undefined) done = true;
    else top.state = 'comma';
  };
  for (;;) {
    skipSpace();
    if (done) {
      if (pos < text.length) fail(`unexpected ${describe(pos)} after the end of the JSON value`);
      break;
    }
    const top = stack.at(-1);
    const c = text[pos];
    if (c === undefined) fail(top === undefined ? 'the text is empty' : `unexpected end of the text: an ${top.kind} is not closed`);
    if (top !== undefined && top.state === 'comma') {
      if (c === ',') {
        top.state = top.kind === 'object' ? 'key' : 'value';
        pos++;
      } else if ((c === '}' && top.kind === 'object') || (c === ']' && top.kind === 'array')) {
        stack.pop();
        pos++;
        valueDone();
      } else fail(`expected "," or "${top.kind === 'object' ? '}' : ']'}" but found ${describe(pos)}`);
      continue;
    }
    if (top !== undefined && top.kind === 'object' && top.state === 'colon') {
      if (c !== ':') fail(`expected ":" after the key but found ${describe(pos)}`);
      pos++;
      top.state = 'value';
      continue;
    }
    if (top !== undefined && top.kind === 'object' && (top.state === 'first' || top.state === 'key')) {
      if (c === '}' && top.state === 'first') {
        stack.pop();
        pos++;
        valueDone();
        continue;
      }
      if (c !== '"') fail(`expected a key in double quotes${top.state === 'first' ? ' or "}"' : ''} but found ${describe(pos)}`);
      const where = at(pos);
      STRING.lastIndex = pos;
      const match = STRING.exec(text);
      if (match === null) fail('invalid string (a raw control character, a bad escape, or no closing quote)');
      const raw = (match as RegExpExecArray)[0];
      const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
      const first = top.keys.get(key);
      if (first !== undefined) {
        problems.push({ ...where, message: `duplicate key ${JSON.stringify(key)} (first at line ${first.line}, column ${first.column}); JSON readers disagree on which one counts, so remove one` });
      } else top.keys.set(key, where);
      if (FORBIDDEN_KEYS.has(key)) problems.push({ ...where, message: `the key ${JSON.stringify(key)} is not allowed (JavaScript gives it a special meaning)` });
      pos += raw.length;
      top.state = 'colon';
      continue;
    }
    // A value is expected: at the top, after ":", or in an array.
    if (top !== undefined && top.kind === 'array' && top.state === 'first' && c === ']') {
      stack.pop();
      pos++;
      valueDone();
      continue;
    }
    if (c === '{' || c === '[') {
      stack.push({ kind: c === '{' ? 'object' : 'array', keys: new Map(), state: 'first' });
      pos++;
      continue;
    }
    if (c === '"') {
      STRING.lastIndex = pos;
      const match = STRING.exec(text);
      if (match === null) fail('invalid string (a raw control character, a bad escape, or no closing quote)');
      pos += (match as RegExpExecArray)[0].length;
      valueDone();
      continue;
    }
    const word = ['true', 'false', 'null'].find((w) => text.startsWith(w, pos));
    if (word !== undefined) {
      pos += word.length;
      valueDone();
      continue;
    }
    NUMBER.lastIndex = pos;
    const number = NUMBER.exec(text);
    if (number !== null) {
      pos += number[0].length;
      valueDone();
      continue;
    }
    fail(`expected a value but found ${describe(pos)}`);
  }
  if (problems.length > 0) throw new StrictJsonError(problems);
  return JSON.parse(text) as unknown;
}
