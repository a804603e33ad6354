import { DEPTH_MARKER, MAX_JSON_DEPTH } from '../bounds.js';
import { MaskingFailedError } from '../errors.js';
import type { MaskingSettings } from '../policy/schema.js';
import type { ContentFormat, JsonResult, RowsResult, ToolResult } from '../tool.js';
import { isDigitCode } from './chars.js';
import { unicodeDigit } from './fold.js';
import { ColumnNameRules } from './columns.js';
import { keyedValue, nameKinds } from './context-detectors.js';
import { maskContent } from './content.js';
import { csvFindings, csvHeader, csvRecordFindings, declaredCsvHeader, type ColumnContext, type CsvHeader } from './csv.js';
import { CUSTOM_BUDGET_MS, CUSTOM_MATCHES_PER_STRING, CUSTOM_RESULT_BUDGET_MS, CustomDetector, type CustomDetectorSpec } from './custom.js';
import { detectEmailAt, detectWith, maskOf, withoutOverlaps } from './detectors.js';
import { candidatePlan, nextCandidate, type Plan as CandidatePlan } from './candidates.js';
import { CANDIDATES, candidatesIn, NO_CANDIDATE } from './prefilter.js';
import { HmacTokens } from './hmac.js';
import { BIT, KEYED_BITS as KEYED, RANK } from './names.js';
import { SECRET_TYPES } from './secrets.js';
import { pemPrivateKeyValue } from './tokens.js';

/** Per-response state: counts by detector, and numbered placeholders (same value → same placeholder). */
export class MaskContext {
  readonly counts = new Map<string, number>();
  // Made on first use: most contexts (one per log line in a stream) never need a placeholder.
  private placeholders: Map<string, Map<string, string>> | undefined;
  // The type numbered last and its values: a result's findings mostly come in runs of one type.
  private lastType: string | undefined;
  private lastValues: Map<string, string> | undefined;
  private counted = 0;

  placeholder(type: string, value: string): string {
    let byValue = type === this.lastType ? this.lastValues : undefined;
    if (byValue === undefined) {
      this.placeholders ??= new Map();
      byValue = this.placeholders.get(type);
      if (byValue === undefined) {
        byValue = new Map();
        this.placeholders.set(type, byValue);
      }
      this.lastType = type;
      this.lastValues = byValue;
    }
    let p = byValue.get(value);
    if (p === undefined) {
      p = `[${type}_${byValue.size + 1}]`;
      byValue.set(value, p);
    }
    return p;
  }

  count(type: string): void {
    this.counts.set(type, (this.counts.get(type) ?? 0) + 1);
    this.counted++;
  }

  /** Findings counted so far. */
  total(): number {
    return this.counted;
  }
}

/** A string already masked in this response: its masked form and the findings to count again. */
interface Seen {
  readonly masked: string;
  readonly types: readonly string[];
}

/**
 * Result sets repeat values (statuses, countries, timestamps, the same card on many orders). Masking is
 * a function of the string, and a repeated value maps to the placeholders it got the first time, so a
 * repeat reuses the first result and only counts its findings again. Bounded per response.
 */
class Repeats {
  private readonly seen = new Map<string, Seen>();
  /**
   * The cache line in use (a result's column, set per cell) and what each line last held: a column mostly
   * repeats the value of the row before (a status, a date, the same card), and comparing with it costs less
   * than hashing the string for the map. Any text may use any line: a hit is the same text either way.
   */
  line = 0;
  private readonly lastText: (string | undefined)[] = [];
  private readonly lastSeen: (Seen | undefined)[] = [];

  // Short strings scan faster than they hash; long ones rarely repeat.
  get(text: string): Seen | undefined {
    if (text.length < 8 || text.length > 256) return undefined;
    const line = this.line;
    if (this.lastText[line] === text) return this.lastSeen[line];
    const seen = this.seen.get(text);
    if (seen !== undefined) this.remember(text, seen);
    return seen;
  }

  set(text: string, masked: string, types: readonly string[]): void {
    if (text.length < 8 || text.length > 256) return;
    const seen = { masked, types };
    if (this.seen.size < 20_000) this.seen.set(text, seen);
    this.remember(text, seen);
  }

  private remember(text: string, seen: Seen): void {
    if (this.line >= 64) return;
    this.lastText[this.line] = text;
    this.lastSeen[this.line] = seen;
  }
}

/** What masking did to one result: counts by detector and the columns touched, never the values. */
export interface MaskReport {
  readonly findings: Readonly<Record<string, number>>;
  readonly maskedColumns: readonly string[];
  /** The policy's masking overrides that changed the detectors for this call (ids). */
  readonly overrides?: readonly string[];
}

export interface Masked<T> {
  readonly value: T;
  readonly report: MaskReport;
}

/** A finding of a built-in or custom detector, or of a column rule. Offsets are JS string indices. */
export interface Finding {
  readonly start: number;
  readonly end: number;
  readonly type: string;
}

/** What a whole value under a column rule is counted and shown as. */
export const SENSITIVE_COLUMN = 'SENSITIVE_COLUMN';

/** The settings a Masker needs (policy `masking`, or a subset for tools and tests). */
export type MaskerSettings = Pick<MaskingSettings, 'detectors' | 'style' | 'columns'> & {
  readonly custom?: readonly CustomDetectorSpec[] | undefined;
};

export interface MaskerOptions {
  /** The resolved `masking.hmacKey` (the key itself, never written in policy). Required for style "hmac". */
  readonly hmacKey?: string | undefined;
}

/** Detectors whose findings depend on a key name: a parsed object's key or a column name gives it. */
const KEYED_BITS = KEYED | BIT.GCP_SA_KEY;

/** The value of a service-account key file's `private_key`. */
const SA_KEY_NAME = 'private_key';

/** Masks values on their way to the agent. Built once per policy version; any wiring error throws here. */
export class Masker {
  private readonly settings: MaskerSettings;
  private readonly detectors: number;
  private readonly custom: readonly CustomDetector[];
  private readonly customRank: ReadonlyMap<string, number>;
  /** Built-in secret types and the custom detectors that are secrets. */
  private readonly secrets: ReadonlySet<string>;
  private readonly hmac: HmacTokens | undefined;
  private readonly nameRules: ColumnNameRules;
  /** A CSV header can give its columns context (a keyed detector or a column rule is on). */
  private readonly csvContext: boolean;
  /** Where the built-in detectors look (candidates.ts). */
  private readonly plan: CandidatePlan;
  /** When the result being masked runs out of custom-detector time (masking a result is synchronous). */
  private resultDeadline = Number.POSITIVE_INFINITY;

  constructor(settings: MaskerSettings, options: MaskerOptions = {}) {
    this.settings = settings;
    this.detectors = maskOf(settings.detectors);
    this.custom = (settings.custom ?? []).map((spec) => new CustomDetector(spec));
    this.customRank = new Map(this.custom.map((c, i) => [c.name, 1000 + i]));
    this.secrets = new Set([...SECRET_TYPES, ...this.custom.filter((c) => c.secret).map((c) => c.name)]);
    this.nameRules = new ColumnNameRules(settings.columns);
    this.csvContext = (this.detectors & KEYED_BITS) !== 0 || !this.nameRules.empty;
    this.plan = candidatePlan(this.detectors);
    if (settings.style === 'hmac') {
      // Fail closed: without the key there is no token to show, and no other style was chosen.
      if (options.hmacKey === undefined || options.hmacKey === '') throw new TypeError('masking.style "hmac" needs its key: set masking.hmacKey to a reference like "env:AIRLOCK_MASKING_KEY" and give that variable a value');
      this.hmac = new HmacTokens(options.hmacKey);
    }
  }

  /** Masks one string; returns it unchanged when nothing is found. */
  maskText(text: string, ctx: MaskContext): string {
    return this.maskString(text, ctx, undefined);
  }

  /**
   * Every finding in `text`, non-overlapping and in order: built-in detectors, the context a CSV header
   * gives its column, and custom detectors. On overlap the earlier, then the longer, wins; equal spans
   * go to built-in types (in `DETECTOR_NAMES` order), then custom ones in policy order. `csv`: the text
   * continues a CSV stream whose header was read earlier (`csvHeader`), with records from `from` on;
   * null: the text is part of a longer text already known not to be CSV (no header is looked for in it).
   */
  find(text: string, csv?: { readonly header: CsvHeader; readonly from: number } | null): Finding[] {
    const builtIn = detectWith(text, this.detectors);
    const extra: Finding[] = [];
    if (csv !== undefined && csv !== null) extra.push(...csvRecordFindings(text, csv.header, csv.from));
    else if (csv === undefined && text.length > 8 && this.csvContext && text.includes('\n')) {
      extra.push(...csvFindings(text, (name) => this.columnContext(name, false)));
    }
    if (this.custom.length > 0) {
      const budget = { deadline: Math.min(performance.now() + CUSTOM_BUDGET_MS, this.resultDeadline), matches: CUSTOM_MATCHES_PER_STRING };
      for (const c of this.custom) c.findIn(text, extra, budget);
    }
    if (extra.length === 0) return builtIn;
    const all: Finding[] = [...builtIn, ...extra];
    const rank = (f: Finding): number => (RANK as Readonly<Record<string, number | undefined>>)[f.type] ?? this.customRank.get(f.type) ?? 999;
    return withoutOverlaps(all, rank);
  }

  /**
   * The header of CSV text (its first line), if its names give any column context; see `find`.
   * `partial`: the text is the start of a stream (its last record may be cut).
   */
  csvHeader(text: string, partial = false): CsvHeader | undefined {
    return this.csvContext ? csvHeader(text, (name) => this.columnContext(name, false), partial) : undefined;
  }

  /** `text` with `findings` (from `find`, in order) replaced as the style says, each counted in `ctx`. */
  apply(text: string, findings: readonly Finding[], ctx: MaskContext): string {
    let out = '';
    let last = 0;
    for (const f of findings) {
      out += text.slice(last, f.start) + this.render(f.type, text.slice(f.start, f.end), ctx);
      last = f.end;
      ctx.count(f.type);
    }
    return out + text.slice(last);
  }

  /** Whether `find` would find nothing without running it: no candidate for a built-in detector, no
   * custom detector, and no CSV header to give context. Most values of a result are like this. */
  private clean(text: string): boolean {
    return this.candidates(text) === NO_CANDIDATE;
  }

  /**
   * `clean`, telling one more case apart: NO_CANDIDATE (clean), the index of the text's '@' when that is
   * the only place a built-in detector could find something (see `candidatesIn`), or CANDIDATES.
   */
  private candidates(text: string): number {
    if (this.custom.length > 0) return CANDIDATES;
    // Short values: a looser loop costs less than the candidate search, and finds a line break too.
    if (text.length < 256 && (this.plan.any || this.csvContext)) return text.length < 3 ? NO_CANDIDATE : candidatesIn(text, this.detectors, this.csvContext);
    if (text.length > 8 && this.csvContext && text.includes('\n')) return CANDIDATES;
    if (!this.plan.any || text.length < 3) return NO_CANDIDATE;
    return nextCandidate(text, 0, this.plan, 0) < text.length ? CANDIDATES : NO_CANDIDATE;
  }

  private maskString(text: string, ctx: MaskContext, repeats: Repeats | undefined): string {
    // Values of a result: most are clean and many repeat. Free text goes straight to the scan (which
    // runs the same candidate search first).
    if (repeats !== undefined) {
      const at = this.candidates(text);
      if (at === NO_CANDIDATE) return text;
      // An address alone (most often a whole cell): its detector at once, as `find` would run it. Not kept
      // among the repeats: addresses in a result are mostly distinct (one per customer), and a lookup and an
      // entry per address cost more than finding a repeated one again (which gets the placeholder it got
      // the first time).
      if (at >= 0) return this.maskLoneEmail(text, at, ctx);
    }
    const seen = repeats?.get(text);
    if (seen !== undefined) {
      for (const type of seen.types) ctx.count(type);
      return seen.masked;
    }
    const findings = this.find(text);
    if (findings.length === 0) {
      repeats?.set(text, text, []);
      return text;
    }
    const out = this.apply(text, findings, ctx);
    repeats?.set(text, out, findings.map((f) => f.type));
    return out;
  }

  /** `apply(text, find(text), ctx)` for a text whose only candidate is the '@' at `at`. */
  private maskLoneEmail(text: string, at: number, ctx: MaskContext): string {
    const d = detectEmailAt(text, at, this.detectors);
    if (d === undefined) return text;
    const out = text.slice(0, d.start) + this.render(d.type, text.slice(d.start, d.end), ctx) + text.slice(d.end);
    ctx.count(d.type);
    return out;
  }

  private render(type: string, value: string, ctx: MaskContext): string {
    if (this.secrets.has(type)) return ctx.placeholder(type, value);
    if (this.hmac !== undefined) return this.hmac.token(type, value);
    // Card and phone numbers keep their last four digits in style last4; everything else is a numbered
    // placeholder.
    if ((type === 'CREDIT_CARD' || type === 'PHONE') && this.settings.style === 'last4') return keepLast4(value);
    return ctx.placeholder(type, value);
  }

  /** A value hidden whole by a column rule: `[MASKED]`, or a keyed token in style hmac. */
  private wholeValue(cell: unknown, ctx: MaskContext): unknown {
    if (cell === null || cell === undefined) return cell;
    ctx.count(SENSITIVE_COLUMN);
    if (this.hmac === undefined) return '[MASKED]';
    return this.hmac.token('MASKED', typeof cell === 'string' ? cell : JSON.stringify(cell));
  }

  /**
   * What a key or column name says about the values under it: masked whole (a column rule), or a type
   * a single value can be (password-like, ssn-like, secret-like names; a service account's private_key).
   */
  private columnContext(name: string, lineageKnown: boolean): ColumnContext | undefined {
    if (this.nameRules.matches(name, lineageKnown)) return { whole: SENSITIVE_COLUMN };
    const kinds = (this.detectors & KEYED_BITS) === 0 ? 0 : nameKinds(name);
    const saKey = (this.detectors & BIT.GCP_SA_KEY) !== 0 && name.trim().toLowerCase() === SA_KEY_NAME;
    return kinds === 0 && !saKey ? undefined : this.valueContext(kinds, saKey);
  }

  /** Masks any JSON value, walking arrays and objects (jsonb cells, nested payloads). */
  maskValue(value: unknown, ctx: MaskContext): unknown {
    return this.maskAny(value, ctx, undefined);
  }

  private maskAny(value: unknown, ctx: MaskContext, repeats: Repeats | undefined, under?: ColumnContext, jsonDone = false, depth = 0): unknown {
    if (typeof value === 'string') {
      // A key that names what its value is (a password, a private_key): the whole value, found by name.
      const type = under?.valueType?.(value);
      if (type !== undefined) {
        ctx.count(type);
        return this.render(type, value, ctx);
      }
      return this.maskString(value, ctx, repeats);
    }
    if (typeof value === 'number') {
      if (under?.valueType !== undefined && Number.isSafeInteger(value) && value > 0) {
        const type = under.valueType(String(value));
        if (type !== undefined) {
          ctx.count(type);
          return this.render(type, String(value), ctx);
        }
      }
      // No detector matches six digits or fewer (the shortest, PHONE, needs seven).
      if (!Number.isSafeInteger(value) || (value < 1_000_000 && value > -1_000_000)) return value;
      const text = String(value);
      const masked = this.maskString(text, ctx, repeats);
      return masked === text ? value : masked;
    }
    if (typeof value === 'function') {
      // JSON drops a function (null in an array), unless it has a toJSON: then it sends what that returns.
      const fnJson = (value as { toJSON?: unknown }).toJSON;
      return typeof fnJson === 'function' && !jsonDone ? this.maskAny((fnJson as () => unknown).call(value), ctx, repeats, under, true, depth) : undefined;
    }
    if (value === null || typeof value !== 'object') return value;
    // A walk this deep would overflow the stack here or when the result is serialised: the subtree is cut.
    if (depth >= MAX_JSON_DEPTH) return DEPTH_MARKER;
    // What JSON would send is what is masked: a boxed primitive's value, whatever toJSON returns (called
    // once, as JSON.stringify does; what it returns is sent without asking it again, so it is rebuilt
    // below without any toJSON of its own).
    if (value instanceof String || value instanceof Number || value instanceof Boolean) return this.maskAny(value.valueOf(), ctx, repeats, under, false, depth);
    const toJson = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJson === 'function' && !jsonDone) return this.maskAny((toJson as () => unknown).call(value), ctx, repeats, under, true, depth);
    // Arrays and plain objects are copied only when something in them is masked (most are not).
    if (Array.isArray(value)) {
      // Items inherit their array's key: every value of `"passwords": ["…", "…"]`, `"api_keys": [[…]]` is one.
      const items = this.maskEach(value as readonly unknown[], (v) => this.maskAny(v, ctx, repeats, under, false, depth + 1));
      return jsonDone && items === value ? [...items] : items;
    }
    const keyed = (this.detectors & KEYED_BITS) !== 0;
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    // Only a plain object can go out as it came: a class instance (or what a toJSON returned) is rebuilt
    // from its own properties, without functions (JSON drops them), so what is sent is what was masked.
    const proto: unknown = Object.getPrototypeOf(record);
    const plain = !jsonDone && (proto === Object.prototype || proto === null);
    let out: Record<string, unknown> | undefined = plain ? undefined : {};
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      const v = record[k];
      // A function comes back undefined (JSON drops it) or as what its toJSON returns, so it is replaced.
      const masked = this.maskAny(v, ctx, repeats, keyed ? this.keyContext(k) : undefined, false, depth + 1);
      // Keys are output too (`json_object_agg(card_number, 1)`): scanned like values.
      const key = this.maskKey(k, ctx, repeats);
      if (out === undefined) {
        if (masked === v && key === k) continue;
        out = {};
        for (let j = 0; j < i; j++) setOwn(out, keys[j] as string, record[keys[j] as string]);
      }
      setOwn(out, key === k ? k : uniqueKey(out, key), masked);
    }
    return out ?? value;
  }

  /** An object key as it may go out: masked like a value; most keys are short names and clean. */
  private maskKey(key: string, ctx: MaskContext, repeats: Repeats | undefined): string {
    if (this.clean(key)) return key;
    return this.maskString(key, ctx, repeats);
  }

  /** `values` with `mask` applied to each: the same array when nothing changed. */
  private maskEach(values: readonly unknown[], mask: (value: unknown, index: number) => unknown): readonly unknown[] {
    let out: unknown[] | undefined;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const masked = mask(v, i);
      if (out === undefined) {
        if (masked === v) continue;
        // A plain array, whatever kind of array came in (a subclass could bring its own toJSON).
        out = new Array<unknown>(values.length);
        for (let j = 0; j < i; j++) out[j] = values[j];
      }
      out[i] = masked;
    }
    return out ?? values;
  }

  /**
   * One row of a result: the same array when nothing in it changed, else a plain copy. One loop over the
   * cells (no closure per row); a text cell with no column context goes straight to the string masking.
   */
  private maskRow(row: readonly unknown[], columns: RowColumns, ctx: MaskContext, repeats: Repeats): readonly unknown[] {
    let out: unknown[] | undefined;
    for (let c = 0; c < row.length; c++) {
      const cell = row[c];
      let masked: unknown;
      if (columns.whole[c] === true) masked = this.wholeValue(cell, ctx);
      else {
        const before = ctx.total();
        const context = columns.contexts[c];
        repeats.line = c;
        masked = typeof cell === 'string' && context === undefined ? this.maskString(cell, ctx, repeats) : this.maskAny(cell, ctx, repeats, context);
        if (ctx.total() !== before) columns.touched[c] = true;
      }
      if (out === undefined) {
        if (masked === cell) continue;
        // A plain array, whatever kind of array came in (a subclass could bring its own toJSON), made at
        // its final length: growing one by push allocates a larger backing store per row.
        out = new Array<unknown>(row.length);
        for (let j = 0; j < c; j++) out[j] = row[j];
      }
      out[c] = masked;
    }
    return out ?? row;
  }

  /** Key-name context for a parsed object's key (column rules do not apply to object keys). */
  private readonly keyContexts = new Map<string, ColumnContext | null>();
  private keyContext(key: string): ColumnContext | undefined {
    let context = this.keyContexts.get(key);
    if (context === undefined) {
      const kinds = nameKinds(key);
      const saKey = (this.detectors & BIT.GCP_SA_KEY) !== 0 && key.toLowerCase() === SA_KEY_NAME;
      context = kinds === 0 && !saKey ? null : this.valueContext(kinds, saKey);
      if (this.keyContexts.size >= 4096) this.keyContexts.clear();
      this.keyContexts.set(key, context);
    }
    return context ?? undefined;
  }

  /** The type one value under a key of `kinds` is, among the detectors that are on. */
  private valueContext(kinds: number, saKey: boolean): ColumnContext {
    return {
      valueType: (value) => {
        if (saKey && pemPrivateKeyValue(value)) return 'GCP_SA_KEY';
        const type = keyedValue(kinds, value);
        return type !== undefined && (this.detectors & BIT[type]) !== 0 ? type : undefined;
      },
    };
  }

  /**
   * Masks a tool result. `wholeColumns` are output columns SQL lineage marks as derived from sensitive
   * columns; `lineageKnown` says lineage was resolved for this result (then only table-less column
   * rules apply by name). Any failure is fatal for the call: no unmasked data leaves (fail closed).
   */
  maskResult(result: ToolResult, wholeColumns: readonly number[] = [], options: { readonly lineageKnown?: boolean } = {}): Masked<ToolResult> {
    if (this.custom.length > 0) this.resultDeadline = performance.now() + CUSTOM_RESULT_BUDGET_MS;
    try {
      return result.kind === 'rows' ? this.maskRows(result, new Set(wholeColumns), options.lineageKnown ?? false) : this.maskJson(result);
    } catch (error) {
      throw new MaskingFailedError({ detail: error instanceof Error ? error.message : String(error), cause: error });
    } finally {
      this.resultDeadline = Number.POSITIVE_INFINITY;
    }
  }

  /**
   * One JSON scalar as `maskValue` masks it under the object key `key` (undefined: no key gives it
   * context), for values read from JSON text rather than parsed (see content.ts). A number comes back
   * unchanged or as its masked text.
   */
  maskUnderKey(key: string | undefined, value: string | number, ctx: MaskContext): string | number {
    const under = key !== undefined && (this.detectors & KEYED_BITS) !== 0 ? this.keyContext(key) : undefined;
    return this.maskAny(value, ctx, undefined, under) as string | number;
  }

  /**
   * The header of text declared to be CSV (its first line, whatever its names look like), if a name gives
   * its column context (a column rule, a keyed name); see `find`. Undefined when none does or the text
   * holds no line break.
   */
  declaredCsvHeader(text: string): CsvHeader | undefined {
    return this.csvContext ? declaredCsvHeader(text, (name) => this.columnContext(name, false)) : undefined;
  }

  private maskJson(result: JsonResult): Masked<JsonResult> {
    const ctx = new MaskContext();
    const repeats = new Repeats();
    const formats = result.contentFormats;
    let value: Record<string, unknown>;
    if (formats === undefined) value = this.maskAny(result.value, ctx, repeats) as Record<string, unknown>;
    else {
      // Text content (an object's body) is masked by its format; the rest of the value as always.
      const content: [string, string, ContentFormat][] = [];
      const rest: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(result.value)) {
        const format = Object.hasOwn(formats, k) ? formats[k] : undefined;
        if (format !== undefined && typeof v === 'string') content.push([k, v, format]);
        else setOwn(rest, k, v);
      }
      value = this.maskAny(rest, ctx, repeats) as Record<string, unknown>;
      for (const [k, v, format] of content) {
        const key = this.maskKey(k, ctx, repeats);
        setOwn(value, key === k ? k : uniqueKey(value, key), maskContent(this, v, format, ctx));
      }
    }
    // A rendering from the masked value shows exactly what the structure holds; a tool's own text is masked as text.
    const text = result.render !== undefined ? result.render(value) : this.maskText(result.text, ctx);
    return { value: { ...result, value, text }, report: { findings: Object.fromEntries(ctx.counts), maskedColumns: [] } };
  }

  private maskRows(result: RowsResult, lineage: ReadonlySet<number>, lineageKnown: boolean): Masked<RowsResult> {
    const ctx = new MaskContext();
    const repeats = new Repeats();
    const whole = new Set(lineage);
    const contexts: (ColumnContext | undefined)[] = result.columns.map((col, c) => {
      const context = this.columnContext(col.name, lineageKnown);
      if (context?.whole !== undefined) whole.add(c);
      return context;
    });
    const touched = result.columns.map(() => false);
    const columns: RowColumns = { whole: result.columns.map((_, c) => whole.has(c)), contexts, touched };
    const source = result.rows;
    const rows = new Array<readonly unknown[]>(source.length);
    for (let r = 0; r < source.length; r++) rows[r] = this.maskRow(source[r] as readonly unknown[], columns, ctx, repeats);
    // Whole columns count as masked (lineage may name one the result does not have: reported as `#n`).
    const masked = new Set(whole);
    for (let c = 0; c < touched.length; c++) if (touched[c] === true) masked.add(c);
    const maskedColumns = [...masked].sort((a, b) => a - b).map((c) => result.columns[c]?.name ?? `#${c}`);
    return {
      value: { ...result, rows },
      report: { findings: Object.fromEntries(ctx.counts), maskedColumns },
    };
  }
}

/** What the columns of a result say about masking their cells, worked out once per result. */
interface RowColumns {
  /** Per column: hidden whole (a column rule, or SQL lineage from a sensitive column). */
  readonly whole: readonly boolean[];
  readonly contexts: readonly (ColumnContext | undefined)[];
  /** Per column: something in it was masked (filled in as rows are masked). */
  readonly touched: boolean[];
}

/**
 * A masked key that does not overwrite another key of the same object (two cards ending in 1111 both
 * mask to `**** **** **** 1111`): later ones get ` (2)`, ` (3)`, ….
 */
function uniqueKey(out: Record<string, unknown>, key: string): string {
  if (!Object.hasOwn(out, key)) return key;
  for (let n = 2; ; n++) {
    const candidate = `${key} (${n})`;
    if (!Object.hasOwn(out, candidate)) return candidate;
  }
}

/** Defined, not assigned: a "__proto__" key stays an own property, as with Object.fromEntries. */
function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/**
 * `4111 1111 1111 1111` → `**** **** **** 1111`, `+1 (415) 555-2671` → `+* (***) ***-2671` (separators
 * kept). Digits in other Unicode forms (full-width, other scripts) count as digits: each becomes one `*`.
 */
function keepLast4(card: string): string {
  let digits = 0;
  for (let i = 0; i < card.length; i++) {
    const c = card.charCodeAt(i);
    if (c >= 0x80) return keepLast4Unicode(card);
    if (isDigitCode(c)) digits++;
  }
  let seen = 0;
  let out = '';
  for (let i = 0; i < card.length; i++) {
    if (isDigitCode(card.charCodeAt(i)) && ++seen <= digits - 4) out += '*';
    else out += card[i];
  }
  return out;
}

/** `keepLast4` by code point, for numbers written with digits or separators beyond ASCII. */
function keepLast4Unicode(card: string): string {
  const isDigit = (cp: number): boolean => isDigitCode(cp) || unicodeDigit(cp) >= 0;
  let digits = 0;
  for (const ch of card) if (isDigit(ch.codePointAt(0) ?? 0)) digits++;
  let seen = 0;
  let out = '';
  for (const ch of card) {
    if (isDigit(ch.codePointAt(0) ?? 0) && ++seen <= digits - 4) out += '*';
    else out += ch;
  }
  return out;
}
