import type { ChainedRecord } from './chain.js';
import { printable, printableValue, textOf } from './printable.js';

/** What `airlock audit search|export|tail` can filter on. All given filters must match. */
export interface AuditFilter {
  /** Email or subject, exact (case-insensitive) or with `*` wildcards. */
  readonly principal?: string;
  readonly tool?: string;
  readonly session?: string;
  readonly outcomes?: readonly string[];
  readonly since?: Date;
  readonly until?: Date;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `2026-11-29T10:00:00Z`, `2026-11-29`, or a duration back from `now` (`90s`, `15m`, `2h`, `7d`). */
export function parseTime(text: string, now: Date, flag: string): Date {
  const relative = /^(\d+)([smhd])$/.exec(text);
  if (relative !== null) return new Date(now.getTime() - Number(relative[1]) * (UNITS[relative[2] as string] as number));
  const date = new Date(text);
  if (Number.isNaN(date.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(text)) {
    throw new TypeError(`${flag}: "${text}" is not a time (use an ISO time like 2026-11-29T10:00:00Z, a date, or a duration like 15m, 2h, 7d)`);
  }
  return date;
}

function wildcard(pattern: string, value: string): boolean {
  const body = pattern
    .toLowerCase()
    .split('*')
    .map((part) => part.replace(/[\\^$.|?+()[\]{}]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 's').test(value.toLowerCase());
}

export function matches(record: ChainedRecord, filter: AuditFilter): boolean {
  if (filter.tool !== undefined && record.tool !== filter.tool) return false;
  if (filter.session !== undefined && record.sessionId !== filter.session) return false;
  if (filter.outcomes !== undefined && !filter.outcomes.includes(record.outcome)) return false;
  const time = Date.parse(record.time);
  if (filter.since !== undefined && time < filter.since.getTime()) return false;
  if (filter.until !== undefined && time >= filter.until.getTime()) return false;
  if (filter.principal !== undefined) {
    const p = record.principal;
    if (p === null) return false;
    if (!wildcard(filter.principal, p.email ?? '') && !wildcard(filter.principal, p.sub)) return false;
  }
  return true;
}

/** The statement, path or filter the call was about, on one line, escaped and cut to about `width`. */
export function inputSummary(input: unknown, width = 60): string {
  const i = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  // A value the audit kept as digest + prefix (too long to store whole) reads as its prefix, cut.
  const text = (value: unknown): string | undefined => {
    if (typeof value === 'string') return value;
    const kept = value as { $truncated?: unknown; prefix?: unknown } | null;
    return typeof kept === 'object' && kept !== null && kept.$truncated === true && typeof kept.prefix === 'string' ? `${kept.prefix}…` : undefined;
  };
  const main = text(i.sql) ?? text(i.path) ?? text(i.filter) ?? textOf(input);
  const prefix = typeof i.connection === 'string' ? `${i.connection.slice(0, width)}: ` : '';
  // Only the part that can be shown is looked at: a 1 MB statement costs what a short one does.
  const head = (prefix + main.slice(0, width * 4)).replace(/[ \n\t]+/g, ' ').trim();
  const shown = printable(head, width - 1, { short: true });
  return main.length > width * 4 && !shown.endsWith('…') ? `${shown}…` : shown;
}

const TABLE_COLUMNS = ['time', 'outcome', 'principal', 'tool', 'input', 'rows', 'id'] as const;

/** Every cell escaped and cut: records hold agent-controlled text (and a store may have been tampered with). */
function tableRow(r: ChainedRecord): string[] {
  return [
    printableValue(r.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), 32),
    printableValue(r.outcome === 'ok' ? 'ok' : `${r.outcome}${r.error === null ? '' : ` (${r.error.code})`}`, 48),
    printableValue(r.principal?.email ?? r.principal?.sub ?? '-', 64),
    printableValue(r.tool, 48),
    inputSummary(r.input),
    r.result === null ? '-' : printableValue(`${r.result.rowCount}${r.result.truncated ? '+' : ''}`, 16),
    printableValue(r.id, 64),
  ];
}

/** A plain-text table, columns padded to their widest cell. */
export function formatTable(records: readonly ChainedRecord[]): string {
  const rows = [TABLE_COLUMNS.map((c) => c.toUpperCase()), ...records.map(tableRow)];
  const widths = TABLE_COLUMNS.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

export const CSV_HEADER = [
  'seq',
  'id',
  'time',
  'session',
  'transport',
  'principal_email',
  'principal_sub',
  'groups',
  'tool',
  'input',
  'effect',
  'rule_ids',
  'outcome',
  'error_code',
  'row_count',
  'truncated',
  'masked_columns',
  'findings',
  'duration_ms',
  'response_sha256',
  'hash',
] as const;

/**
 * One CSV field: quoted when needed, and a leading `=`, `+`, `-`, `@`, tab or CR defused with `'` so a
 * spreadsheet never runs an agent-supplied value as a formula.
 */
export function csvField(value: unknown): string {
  let text = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvRow(r: ChainedRecord): string {
  return [
    r.chain.seq,
    r.id,
    r.time,
    r.sessionId,
    r.transport,
    r.principal?.email ?? '',
    r.principal?.sub ?? '',
    (r.principal?.groups ?? []).join(' '),
    r.tool,
    r.input,
    r.decision?.effect ?? '',
    (r.decision?.ruleIds ?? []).join(' '),
    r.outcome,
    r.error?.code ?? '',
    r.result?.rowCount ?? '',
    r.result?.truncated ?? '',
    (r.result?.maskedColumns ?? []).join(' '),
    r.result === null ? '' : r.result.findings,
    r.durationMs,
    r.response.sha256,
    r.chain.hash,
  ]
    .map((v) => csvField(typeof v === 'number' || typeof v === 'boolean' ? String(v) : v))
    .join(',');
}

/**
 * An input as replay shows it: a cut value (`$truncated`) with its digest and size before its long prefix, as
 * it was recorded. Stored records have their keys in canonical (sorted) order, which would put the digest
 * after the prefix, beyond the width replay shows.
 */
function replayInput(input: unknown): string {
  if (typeof input === 'string') return input;
  try {
    return (
      JSON.stringify(input, (_key, value: unknown) => {
        const v = value as Partial<Record<'$truncated' | 'sha256' | 'bytes' | 'prefix', unknown>> | null;
        return typeof v === 'object' && v !== null && v.$truncated === true && Object.keys(v).length === 4 ? { $truncated: true, sha256: v.sha256, bytes: v.bytes, prefix: v.prefix } : value;
      }) ?? String(input)
    );
  } catch {
    return '(not printable)';
  }
}

/** Longest input shown per call in `audit replay`; the whole record is in `--format json`. */
const REPLAY_INPUT_WIDTH = 2000;

/** A session's calls as a readable timeline: input, decision, outcome and result summary per call; every field escaped and cut. */
export function formatReplay(records: readonly ChainedRecord[]): string {
  if (records.length === 0) return 'no calls in this session';
  const first = records[0] as ChainedRecord;
  const p = printableValue;
  // Joined first and escaped once: an item's own escapes must not be escaped again.
  const list = (items: readonly unknown[] | undefined, width = 200): string => p((Array.isArray(items) ? items : []).map(textOf).join(', '), width);
  const who = first.principal === null ? 'no verified identity' : `${p(first.principal.email ?? first.principal.sub, 64)} (${list(first.principal.groups) || 'no groups'})`;
  const lines = [`session ${p(first.sessionId, 80)} over ${p(first.transport, 16)}: ${records.length} call(s) by ${who}`, ''];
  records.forEach((r, i) => {
    lines.push(`#${i + 1}  ${p(r.time, 32)}  ${p(r.tool, 64)}  → ${p(r.outcome, 32)}${r.error === null ? '' : ` ${p(r.error.code, 32)}`}  (${p(r.durationMs, 16)} ms, id ${p(r.id, 64)})`);
    lines.push(`    input:    ${printable(replayInput(r.input), REPLAY_INPUT_WIDTH)}`);
    if (r.decision !== null) lines.push(`    decision: ${p(r.decision.effect, 16)} by ${list(r.decision.ruleIds) || '(no rule)'}: ${p(r.decision.reason, 500)}`);
    if (r.error !== null) lines.push(`    error:    ${p(r.error.message, 500)}`);
    if (r.result !== null) {
      const findings = p(Object.entries(r.result.findings).map(([k, v]) => `${k}×${textOf(v)}`).join(', '), 300);
      lines.push(
        `    result:   ${p(r.result.rowCount, 16)} row(s)${r.result.truncated ? ' (truncated)' : ''}${r.result.rowsAffected === undefined ? '' : `, ${p(r.result.rowsAffected, 16)} affected`}${r.result.maskedColumns.length > 0 ? `; masked columns: ${list(r.result.maskedColumns, 500)}` : ''}${findings === '' ? '' : `; findings: ${findings}`}`,
      );
    }
    lines.push(`    response: ${p(r.response.bytes, 16)} bytes, sha256 ${p(r.response.sha256.slice(0, 16), 16)}…${r.response.truncated ? ' (kept in part)' : ''}`);
  });
  return lines.join('\n');
}
