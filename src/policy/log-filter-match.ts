/**
 * Evaluates a parsed Logging filter on one entry in the Logging REST JSON shape (`timestamp` RFC 3339,
 * `severity` by name, `logName`, `resource {type, labels}`, `labels`, `textPayload`, `jsonPayload`,
 * `protoPayload`, `httpRequest`, `trace`, `insertId`). It backs the loopback Logging server of the demo
 * and the tests, so it follows the documented semantics of the common forms; exotic ones are approximated
 * (noted per case) and unknown functions match nothing.
 */
import { parseLogFilter, type LogComparison, type LogFilter, type LogFunctionCall, type LogValue, type LogValueExpr } from './log-filter.js';

const SEVERITY_RANK: Readonly<Record<string, number>> = {
  DEFAULT: 0,
  DEBUG: 100,
  INFO: 200,
  NOTICE: 300,
  WARNING: 400,
  ERROR: 500,
  CRITICAL: 600,
  ALERT: 700,
  EMERGENCY: 800,
};
const TIMESTAMP_FIELDS = new Set(['timestamp', 'receiveTimestamp']);
const MAX_PATTERN = 1_024;
const MAX_SEARCH_DEPTH = 32;
const regexCache = new Map<string, RegExp | null>();

/** True when `entry` satisfies `f`. A missing field makes its comparison false (so `NOT` of it true), as in Logging. */
export function matchesLogFilter(f: LogFilter, entry: Readonly<Record<string, unknown>>): boolean {
  switch (f.kind) {
    case 'and':
      return f.items.every((x) => matchesLogFilter(x, entry));
    case 'or':
      return f.items.some((x) => matchesLogFilter(x, entry));
    case 'not':
      return !matchesLogFilter(f.item, entry);
    case 'global':
      return containsText(entry, valueText(f.value), 0);
    case 'call':
      return matchesCall(f, entry);
    case 'compare':
      return matchesComparison(f, entry);
    default:
      return false;
  }
}

function matchesComparison(c: LogComparison, entry: Readonly<Record<string, unknown>>): boolean {
  let candidates: unknown[];
  let field = '';
  if (c.left.kind === 'field') {
    field = c.left.path.length === 1 ? (c.left.path[0] as string) : '';
    candidates = resolve(entry, c.left.path);
  } else {
    const v = evaluateCall(c.left, entry);
    candidates = v === undefined ? [] : [v];
  }
  if (candidates.length === 0) return false;
  // `f:(a AND b)` distributes to `f:a AND f:b`, each true when any element of an array field matches.
  return matchesValueExpr(c.value, (v) => candidates.some((actual) => compare(field, actual, c.op, v)));
}

function matchesValueExpr(e: LogValueExpr, test: (v: LogValue) => boolean): boolean {
  switch (e.kind) {
    case 'and':
      return e.items.every((x) => matchesValueExpr(x, test));
    case 'or':
      return e.items.some((x) => matchesValueExpr(x, test));
    case 'not':
      return !matchesValueExpr(e.item, test);
    default:
      return test(e);
  }
}

/** Values at `path`; arrays on the way fan out, as Logging matches any element. Missing and null give none. */
function resolve(root: unknown, path: readonly string[]): unknown[] {
  let current: unknown[] = [root];
  for (const seg of path) {
    const next: unknown[] = [];
    for (const v of current) {
      for (const item of asList(v)) {
        if (item !== null && typeof item === 'object' && Object.hasOwn(item, seg)) {
          next.push((item as Record<string, unknown>)[seg]);
        }
      }
    }
    current = next;
  }
  return current.flatMap(asList).filter((v) => v !== undefined && v !== null);
}

function asList(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? (v as unknown[]) : [v];
}

/** The text of a scalar (string, number, boolean); undefined for objects, arrays and the rest. */
function scalar(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : undefined;
}

function compare(field: string, actual: unknown, op: LogComparison['op'], value: LogValue): boolean {
  if (value.kind === 'any') return op === ':';
  const want = value.text;
  switch (op) {
    case ':':
      return containsText(actual, want, 0);
    case '=~':
    case '!~': {
      const re = compileRegex(want);
      const text = scalar(actual);
      if (re === null || text === undefined) return false;
      return re.test(text) === (op === '=~');
    }
    default: {
      const order = ordering(field, actual, value);
      if (order === undefined) return op === '!=';
      switch (op) {
        case '=':
          return order === 0;
        case '!=':
          return order !== 0;
        case '<':
          return order < 0;
        case '<=':
          return order <= 0;
        case '>':
          return order > 0;
        case '>=':
          return order >= 0;
      }
    }
  }
}

/** -1/0/1 for actual vs wanted by the field's kind (severity rank, instant, number, string); undefined when not comparable. */
function ordering(field: string, actual: unknown, value: LogValue & { text: string }): number | undefined {
  const a = scalar(actual);
  if (a === undefined) return undefined;
  const w = value.text;
  if (field === 'severity') {
    const ra = severityRank(a);
    const rw = severityRank(w);
    return ra === undefined || rw === undefined ? undefined : Math.sign(ra - rw);
  }
  if (TIMESTAMP_FIELDS.has(field)) {
    const ta = Date.parse(a);
    const tw = Date.parse(w);
    if (Number.isNaN(ta) || Number.isNaN(tw)) return undefined;
    // Date.parse keeps milliseconds only; nanosecond strings of the same millisecond order by their digits.
    return ta === tw ? Math.sign(fraction(a).localeCompare(fraction(w))) : Math.sign(ta - tw);
  }
  if ((typeof actual === 'number' || value.kind === 'number' || typeof actual === 'string') && isNumeric(a) && isNumeric(w)) {
    return Math.sign(Number(a) - Number(w));
  }
  if (typeof actual === 'boolean') return a === w.toLowerCase() ? 0 : 1;
  return a === w ? 0 : a < w ? -1 : 1;
}

function fraction(t: string): string {
  const m = /\.(\d+)/.exec(t);
  return (m?.[1] ?? '').padEnd(9, '0');
}

function severityRank(s: string): number | undefined {
  if (isNumeric(s)) return Number(s);
  return SEVERITY_RANK[s.toUpperCase()];
}

function isNumeric(s: string): boolean {
  return s.trim() !== '' && Number.isFinite(Number(s));
}

function valueText(v: LogValue): string {
  return v.kind === 'any' ? '' : v.text;
}

/** Case-insensitive substring over a value and, for objects and arrays, everything inside them (keys excluded). */
function containsText(v: unknown, needle: string, depth: number): boolean {
  if (v === null || v === undefined || depth > MAX_SEARCH_DEPTH) return false;
  if (typeof v === 'object') {
    const items = Array.isArray(v) ? v : Object.values(v);
    return items.some((x) => containsText(x, needle, depth + 1));
  }
  return (scalar(v) ?? '').toLowerCase().includes(needle.toLowerCase());
}

/** Compiled with the `v` flag and length-capped; a pattern that does not compile matches nothing. */
function compileRegex(pattern: string): RegExp | null {
  const hit = regexCache.get(pattern);
  if (hit !== undefined) return hit;
  let re: RegExp | null = null;
  if (pattern.length <= MAX_PATTERN) {
    try {
      re = new RegExp(pattern, 'v');
    } catch {
      re = null;
    }
  }
  if (regexCache.size > 500) regexCache.clear();
  regexCache.set(pattern, re);
  return re;
}

function argText(call: LogFunctionCall, i: number): string | undefined {
  const a = call.args[i];
  return a !== undefined && (a.kind === 'string' || a.kind === 'number') ? a.text : undefined;
}

function argValues(call: LogFunctionCall, i: number, entry: Readonly<Record<string, unknown>>): unknown[] {
  const a = call.args[i];
  return a?.kind === 'field' ? resolve(entry, a.path) : [];
}

function matchesCall(call: LogFunctionCall, entry: Readonly<Record<string, unknown>>): boolean {
  switch (call.name) {
    case 'log_id': {
      const id = argText(call, 0);
      const logName = entry['logName'];
      if (id === undefined || typeof logName !== 'string') return false;
      return logName.endsWith(`/logs/${encodeURIComponent(id)}`) || logName.endsWith(`/logs/${id}`);
    }
    case 'sample': {
      const fraction = Number(argText(call, 1));
      const v = scalar(argValues(call, 0, entry)[0]);
      // Deterministic per value, like Logging's: the same insertId is always in or out of the sample.
      return v !== undefined && fnv1a(v) / 2 ** 32 < fraction;
    }
    case 'ip_in_net': {
      const net = argText(call, 1);
      return net !== undefined && argValues(call, 0, entry).some((v) => typeof v === 'string' && ipv4InNet(v, net));
    }
    case 'SEARCH': {
      // Approximation: Logging's SEARCH matches tokens; this is a case-insensitive substring.
      if (call.args.length === 1) return containsText(entry, argText(call, 0) ?? '', 0);
      const text = argText(call, 1) ?? '';
      return argValues(call, 0, entry).some((v) => containsText(v, text, 0));
    }
    default:
      return false;
  }
}

/** The value of `cast(...)` or `regex_extract(...)` on the left of a comparison; undefined when it has none. */
function evaluateCall(call: LogFunctionCall, entry: Readonly<Record<string, unknown>>): unknown {
  const v = scalar(argValues(call, 0, entry)[0]);
  if (v === undefined) return undefined;
  switch (call.name) {
    case 'cast':
      // Time zones are not applied: the value is cast as stored.
      return v;
    case 'regex_extract': {
      const re = compileRegex(argText(call, 1) ?? '');
      const m = re === null ? null : re.exec(v);
      return m === null ? undefined : (m[1] ?? m[0]);
    }
    default:
      return undefined;
  }
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // FNV alone spreads similar short ids poorly; the murmur3 finaliser mixes the high bits.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function ipv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** IPv4 only; an IPv6 address or network matches nothing. */
function ipv4InNet(ip: string, net: string): boolean {
  const [base, bitsText] = net.split('/');
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  const a = ipv4(ip);
  const b = ipv4(base ?? '');
  if (a === undefined || b === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const size = 2 ** (32 - bits);
  return Math.floor(a / size) === Math.floor(b / size);
}

/**
 * A matcher from filter text, as a local Logging server takes it: each filter is parsed once (the most
 * recent 256 are kept); a filter that does not parse throws its LogFilterError.
 */
export function logFilterMatcher(): (filter: string, entry: object) => boolean {
  const parsed = new Map<string, LogFilter>();
  return (filter, entry) => {
    let f = parsed.get(filter);
    if (f === undefined) {
      f = parseLogFilter(filter);
      if (parsed.size >= 256) parsed.clear();
      parsed.set(filter, f);
    }
    return matchesLogFilter(f, entry as Readonly<Record<string, unknown>>);
  };
}
