import { MaskingFailedError } from '../errors.js';
import type { MaskingSettings } from '../policy/schema.js';
import type { JsonResult, RowsResult, ToolResult } from '../tool.js';
import { detectWith, maskOf, type DetectorName } from './detectors.js';

/** Per-response state: counts by detector, and numbered placeholders (same value → same placeholder). */
export class MaskContext {
  readonly counts = new Map<string, number>();
  // Made on first use: most contexts (one per log line in a stream) never need a placeholder.
  private placeholders: Map<string, string> | undefined;
  private next: Map<string, number> | undefined;
  private counted = 0;

  placeholder(type: string, value: string): string {
    const key = `${type}\u0000${value}`;
    this.placeholders ??= new Map();
    this.next ??= new Map();
    let p = this.placeholders.get(key);
    if (p === undefined) {
      const n = (this.next.get(type) ?? 0) + 1;
      this.next.set(type, n);
      p = `[${type}_${n}]`;
      this.placeholders.set(key, p);
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
    const findings = detectWith(text, this.detectors);
    if (findings.length === 0) return text;
    let out = '';
    let last = 0;
    for (const f of findings) {
      out += text.slice(last, f.start) + this.render(f.type, text.slice(f.start, f.end), ctx);
      last = f.end;
      ctx.count(f.type);
    }
    return out + text.slice(last);
  }

  private render(type: DetectorName, value: string, ctx: MaskContext): string {
    // Only card numbers keep their last four digits (last4 style); everything else, secrets included,
    // becomes a numbered placeholder.
    if (type === 'CREDIT_CARD' && this.settings.style === 'last4') return keepLast4(value);
    return ctx.placeholder(type, value);
  }

  /** Masks any JSON value, walking arrays and objects (jsonb cells, nested payloads). */
  maskValue(value: unknown, ctx: MaskContext): unknown {
    if (typeof value === 'string') return this.maskText(value, ctx);
    if (typeof value === 'number') {
      // No detector matches six digits or fewer (the shortest, PHONE, needs seven).
      if (!Number.isSafeInteger(value) || (value < 1_000_000 && value > -1_000_000)) return value;
      const text = String(value);
      const masked = this.maskText(text, ctx);
      return masked === text ? value : masked;
    }
    if (Array.isArray(value)) return value.map((v: unknown) => this.maskValue(v, ctx));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.maskValue(v, ctx)]));
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
    const value = this.maskValue(result.value, ctx) as Record<string, unknown>;
    const text = this.maskText(result.text, ctx);
    return { value: { ...result, value, text }, report: { findings: Object.fromEntries(ctx.counts), maskedColumns: [] } };
  }

  private maskRows(result: RowsResult, whole: ReadonlySet<number>): Masked<RowsResult> {
    const ctx = new MaskContext();
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
        const masked = this.maskValue(cell, ctx);
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
  const digitCount = card.replace(/\D/g, '').length;
  let seen = 0;
  let out = '';
  for (const ch of card) {
    if (ch >= '0' && ch <= '9') {
      seen++;
      out += seen > digitCount - 4 ? ch : '*';
    } else out += ch;
  }
  return out;
}
