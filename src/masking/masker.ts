import { MaskingFailedError } from '../errors.js';
import type { MaskingSettings } from '../policy/schema.js';
import type { JsonResult, RowsResult, ToolResult } from '../tool.js';
import { findCards } from './cards.js';

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

  constructor(settings: MaskingSettings) {
    this.settings = settings;
  }

  /** Masks one string; returns it unchanged when nothing is found. */
  maskText(text: string, counts: Map<string, number>): string {
    if (!this.settings.detectors.includes('CREDIT_CARD')) return text;
    const findings = findCards(text);
    if (findings.length === 0) return text;
    let out = '';
    let last = 0;
    for (const f of findings) {
      out += text.slice(last, f.start) + this.render(text.slice(f.start, f.end));
      last = f.end;
      counts.set(f.type, (counts.get(f.type) ?? 0) + 1);
    }
    return out + text.slice(last);
  }

  private render(card: string): string {
    if (this.settings.style === 'redact') return '[CREDIT_CARD]';
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

  /** Masks any JSON value, walking arrays and objects (jsonb cells, nested payloads). */
  maskValue(value: unknown, counts: Map<string, number>): unknown {
    if (typeof value === 'string') return this.maskText(value, counts);
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) return value;
      const text = String(value);
      const masked = this.maskText(text, counts);
      return masked === text ? value : masked;
    }
    if (Array.isArray(value)) return value.map((v: unknown) => this.maskValue(v, counts));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.maskValue(v, counts)]));
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
    const counts = new Map<string, number>();
    const value = this.maskValue(result.value, counts) as Record<string, unknown>;
    const text = this.maskText(result.text, counts);
    return { value: { ...result, value, text }, report: { findings: Object.fromEntries(counts), maskedColumns: [] } };
  }

  private maskRows(result: RowsResult, whole: ReadonlySet<number>): Masked<RowsResult> {
    const counts = new Map<string, number>();
    const touched = new Set<number>(whole);
    const rows = result.rows.map((row) =>
      row.map((cell, c) => {
        if (whole.has(c)) {
          // Derived from a sensitive column (SQL lineage): hidden whole, whatever it looks like.
          if (cell === null) return null;
          counts.set('SENSITIVE_COLUMN', (counts.get('SENSITIVE_COLUMN') ?? 0) + 1);
          return '[MASKED]';
        }
        const before = sum(counts);
        const masked = this.maskValue(cell, counts);
        if (sum(counts) !== before) touched.add(c);
        return masked;
      }),
    );
    const maskedColumns = [...touched].sort((a, b) => a - b).map((c) => result.columns[c]?.name ?? `#${c}`);
    return {
      value: { ...result, rows },
      report: { findings: Object.fromEntries(counts), maskedColumns },
    };
  }
}

function sum(counts: Map<string, number>): number {
  let total = 0;
  for (const v of counts.values()) total += v;
  return total;
}
