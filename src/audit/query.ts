import type { ChainedRecord } from './chain.js';

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

/** The statement, path or filter the call was about, on one line. */
export function inputSummary(input: unknown, width = 60): string {
  const i = (input ?? {}) as Record<string, unknown>;
  const main = typeof i.sql === 'string' ? i.sql : typeof i.path === 'string' ? i.path : typeof i.filter === 'string' ? i.filter : JSON.stringify(input);
  const text = (typeof i.connection === 'string' ? `${i.connection}: ` : '') + main.replace(/\s+/g, ' ').trim();
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

const TABLE_COLUMNS = ['time', 'outcome', 'principal', 'tool', 'input', 'rows', 'id'] as const;

function tableRow(r: ChainedRecord): string[] {
  return [
    r.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    r.outcome === 'ok' ? 'ok' : `${r.outcome}${r.error === null ? '' : ` (${r.error.code})`}`,
    r.principal?.email ?? r.principal?.sub ?? '-',
    r.tool,
    inputSummary(r.input),
    r.result === null ? '-' : `${r.result.rowCount}${r.result.truncated ? '+' : ''}`,
    r.id,
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

/** A session's calls as a readable timeline: input, decision, outcome and result summary per call. */
export function formatReplay(records: readonly ChainedRecord[]): string {
  if (records.length === 0) return 'no calls in this session';
  const first = records[0] as ChainedRecord;
  const who = first.principal === null ? 'no verified identity' : `${first.principal.email ?? first.principal.sub} (${first.principal.groups.join(', ') || 'no groups'})`;
  const lines = [`session ${first.sessionId} over ${first.transport}: ${records.length} call(s) by ${who}`, ''];
  records.forEach((r, i) => {
    lines.push(`#${i + 1}  ${r.time}  ${r.tool}  → ${r.outcome}${r.error === null ? '' : ` ${r.error.code}`}  (${r.durationMs} ms, id ${r.id})`);
    lines.push(`    input:    ${JSON.stringify(r.input)}`);
    if (r.decision !== null) lines.push(`    decision: ${r.decision.effect} by ${r.decision.ruleIds.join(', ') || '(no rule)'}: ${r.decision.reason}`);
    if (r.error !== null) lines.push(`    error:    ${r.error.message}`);
    if (r.result !== null) {
      const findings = Object.entries(r.result.findings).map(([k, v]) => `${k}×${v}`).join(', ');
      lines.push(
        `    result:   ${r.result.rowCount} row(s)${r.result.truncated ? ' (truncated)' : ''}${r.result.rowsAffected === undefined ? '' : `, ${r.result.rowsAffected} affected`}${r.result.maskedColumns.length > 0 ? `; masked columns: ${r.result.maskedColumns.join(', ')}` : ''}${findings === '' ? '' : `; findings: ${findings}`}`,
      );
    }
    lines.push(`    response: ${r.response.bytes} bytes, sha256 ${r.response.sha256.slice(0, 16)}…${r.response.truncated ? ' (kept in part)' : ''}`);
  });
  return lines.join('\n');
}
