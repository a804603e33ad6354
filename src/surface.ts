/**
 * The one place that turns pipeline outcomes into what the agent sees. Errors become fixed public text
 * with their stable code and the audit id; internal messages and causes never leave this process.
 */
import type { AirlockError } from './errors.js';
import type { MaskReport } from './masking/masker.js';
import type { CallResponse } from './pipeline/context.js';
import type { RowsResult, ToolResult } from './tool.js';

/** Error results carry no structuredContent (it would be checked against the tool's outputSchema). */
export function errorResponse(error: AirlockError, auditId: string): CallResponse & { _meta: Record<string, unknown> } {
  return {
    isError: true,
    content: [{ type: 'text', text: `${error.publicMessage}\n[code: ${error.code}; audit id: ${auditId}]` }],
    _meta: { 'airlock/error': { code: error.code, auditId, ...error.data } },
  };
}

export function resultResponse(result: ToolResult, report: MaskReport, auditId: string): CallResponse {
  if (result.kind === 'json') return { content: [{ type: 'text', text: result.text }], structuredContent: { ...result.value, auditId } };
  return renderRows(result, report, auditId);
}

const MAX_CELL_TEXT = 200;

/** Characters that would break a table row: line breaks and the column separator. */
const TABLE_BREAKING = /[\r\n|]/;

function cellText(value: unknown): string {
  let text: string;
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  text = typeof value === 'string' ? value : JSON.stringify(value);
  // Most cells need no escaping: test once before rewriting.
  if (TABLE_BREAKING.test(text)) text = text.replace(/\r?\n/g, '\\n').replace(/\|/g, '\\|');
  return text.length > MAX_CELL_TEXT ? `${text.slice(0, MAX_CELL_TEXT)}…` : text;
}

function renderRows(result: RowsResult, report: MaskReport, auditId: string): CallResponse {
  const structured = {
    columns: result.columns.map((c) => ({ name: c.name, type: c.type })),
    // Rows are already masked and nothing downstream changes them: shared, not copied.
    rows: result.rows,
    rowCount: result.rowCount,
    truncated: result.truncated,
    masked: [...report.maskedColumns],
    ...(result.rowsAffected === undefined ? {} : { rowsAffected: result.rowsAffected }),
    auditId,
  };
  const lines: string[] = [];
  const count = `${result.rowCount} row${result.rowCount === 1 ? '' : 's'}`;
  const flags = [
    result.truncated ? 'TRUNCATED' : '',
    report.maskedColumns.length > 0 ? `masked: ${report.maskedColumns.join(', ')}` : '',
    result.rowsAffected === undefined ? '' : `${result.rowsAffected} affected`,
  ].filter((f) => f !== '');
  lines.push(flags.length > 0 ? `${count} (${flags.join('; ')})` : count);
  if (result.columns.length > 0) {
    lines.push(result.columns.map((c) => c.name).join(' | '));
    for (const row of result.rows) {
      let line = row.length > 0 ? cellText(row[0]) : '';
      for (let i = 1; i < row.length; i++) line += ` | ${cellText(row[i])}`;
      lines.push(line);
    }
  }
  if (result.note !== undefined) lines.push(result.note);
  return { content: [{ type: 'text', text: lines.join('\n') }], structuredContent: structured };
}
