import { MaskingFailedError } from '../errors.js';
import type { MaskingSettings } from '../policy/schema.js';
import type { JsonResult, RowsResult, ToolResult } from '../tool.js';
import { isDigitCode } from './chars.js';
import { detectWith, maskOf, type DetectorName } from './detectors.js';

/** Per-response state: counts by detector, and numbered placeholders (same value → same placeholder). */
export class MaskContext {
  readonly counts = new Map<string, number>();
  // Made on first use: most contexts (one per log line in a stream) never need a placeholder.
  private placeholders: Map<string, Map<string, string>> | undefined;
  private counted = 0;

  placeholder(type: string, value: string): string {
    this.placeholders ??= new Map();
    let byValue = this.placeholders.get(type);
    if (byValue === undefined) {
      byValue = new Map();
      this.placeholders.set(type, byValue);
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
  readonly types: readonly DetectorName[];
}

/**
 * Result sets repeat values (statuses, countries, timestamps, the same card on many orders). Masking is
 * a function of the string, and a repeated value maps to the placeholders it got the first time, so a
 * repeat reuses the first result and only counts its findings again. Bounded per response.
 */
class Repeats {
  private readonly seen = new Map<string, Seen>();

  // Short strings scan faster than they hash; long ones rarely repeat.
  get(text: string): Seen | undefined {
    return text.length < 8 || text.length > 256 ? undefined : this.seen.get(text);
  }

  set(text: string, masked: string, types: readonly DetectorName[]): void {
    if (text.length >= 8 && text.length <= 256 && this.seen.size < 20_000) this.seen.set(text, { masked, types });
  }
}

/** What masking did to one result: counts by detector and the columns touched, never the values. */
export interface MaskReport {
  readonly findings: Readonly<Record<string, number>>;
  readonly maskedColumns: readonly string[];
}

export interface Masked<T> {
  readonly value: T;
  readonly report: MaskReport;
}

/** Masks values on their way to the agent. Built once per policy version. */
export class Masker {
  private readonly settings: MaskingSettings;
  private readonly detectors: number;

  constructor(settings: MaskingSettings) {
    this.settings = settings;
    this.detectors = maskOf(settings.detectors);
  }

  /** Masks one string; returns it unchanged when nothing is found. */
  maskText(text: string, ctx: MaskContext): string {
    return this.maskString(text, ctx, undefined);
  }

  private maskString(text: string, ctx: MaskContext, repeats: Repeats | undefined): string {
    const seen = repeats?.get(text);
    if (seen !== undefined) {
      for (const type of seen.types) ctx.count(type);
      return seen.masked;
    }
    const findings = detectWith(text, this.detectors);
    if (findings.length === 0) {
      repeats?.set(text, text, []);
      return text;
    }
    let out = '';
    let last = 0;
    for (const f of findings) {
      out += text.slice(last, f.start) + this.render(f.type, text.slice(f.start, f.end), ctx);
      last = f.end;
      ctx.count(f.type);
    }
    out += text.slice(last);
    repeats?.set(text, out, findings.map((f) => f.type));
    return out;
  }

  private render(type: DetectorName, value: string, ctx: MaskContext): string {
    // Only card numbers keep their last four digits (last4 style); everything else, secrets included,
    // becomes a numbered placeholder.
    if (type === 'CREDIT_CARD' && this.settings.style === 'last4') return keepLast4(value);
    return ctx.placeholder(type, value);
  }

  /** Masks any JSON value, walking arrays and objects (jsonb cells, nested payloads). */
  maskValue(value: unknown, ctx: MaskContext): unknown {
    return this.maskAny(value, ctx, undefined);
  }

  private maskAny(value: unknown, ctx: MaskContext, repeats: Repeats | undefined): unknown {
    if (typeof value === 'string') return this.maskString(value, ctx, repeats);
    if (typeof value === 'number') {
      // No detector matches six digits or fewer (the shortest, PHONE, needs seven).
      if (!Number.isSafeInteger(value) || (value < 1_000_000 && value > -1_000_000)) return value;
      const text = String(value);
      const masked = this.maskString(text, ctx, repeats);
      return masked === text ? value : masked;
    }
    if (Array.isArray(value)) return value.map((v: unknown) => this.maskAny(v, ctx, repeats));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        // Defined, not assigned: a "__proto__" key stays an own property, as with Object.fromEntries.
        if (k === '__proto__') Object.defineProperty(out, k, { value: this.maskAny(v, ctx, repeats), enumerable: true, writable: true, configurable: true });
        else out[k] = this.maskAny(v, ctx, repeats);
      }
      return out;
    }
    return value;
  }

  /** Masks a tool result. Any failure is fatal for the call: no unmasked data leaves (fail closed). */
  maskResult(result: ToolResult, wholeColumns: readonly number[] = []): Masked<ToolResult> {
    try {
      return result.kind === 'rows' ? this.maskRows(result, new Set(wholeColumns)) : this.maskJson(result);
    } catch (error) {
      throw new MaskingFailedError({ detail: error instanceof Error ? error.message : String(error), cause: error });
    }
  }

  private maskJson(result: JsonResult): Masked<JsonResult> {
    const ctx = new MaskContext();
    const value = this.maskAny(result.value, ctx, new Repeats()) as Record<string, unknown>;
    const text = this.maskText(result.text, ctx);
    return { value: { ...result, value, text }, report: { findings: Object.fromEntries(ctx.counts), maskedColumns: [] } };
  }

  private maskRows(result: RowsResult, whole: ReadonlySet<number>): Masked<RowsResult> {
    const ctx = new MaskContext();
    const repeats = new Repeats();
    const touched = new Set<number>(whole);
    const rows = result.rows.map((row) =>
      row.map((cell, c) => {
        if (whole.has(c)) {
          // Derived from a sensitive column (SQL lineage): hidden whole, whatever it looks like.
          if (cell === null) return null;
          ctx.count('SENSITIVE_COLUMN');
          return '[MASKED]';
        }
        const before = ctx.total();
        const masked = this.maskAny(cell, ctx, repeats);
        if (ctx.total() !== before) touched.add(c);
        return masked;
      }),
    );
    const maskedColumns = [...touched].sort((a, b) => a - b).map((c) => result.columns[c]?.name ?? `#${c}`);
    return {
      value: { ...result, rows },
      report: { findings: Object.fromEntries(ctx.counts), maskedColumns },
    };
  }
}

/** `4111 1111 1111 1111` → `**** **** **** 1111` (separators kept). */
function keepLast4(card: string): string {
  let digits = 0;
  for (let i = 0; i < card.length; i++) if (isDigitCode(card.charCodeAt(i))) digits++;
  let seen = 0;
  let out = '';
  for (let i = 0; i < card.length; i++) {
    const c = card.charCodeAt(i);
    if (isDigitCode(c) && ++seen <= digits - 4) out += '*';
    else out += card[i];
  }
  return out;
}
