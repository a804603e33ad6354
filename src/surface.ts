/**
 * The one place that turns pipeline outcomes into what the agent sees. Errors become fixed public text
 * with their stable code and the audit id; internal messages and causes never leave this process.
 */
import type { AirlockError } from './errors.js';
import type { MaskReport } from './masking/masker.js';
import type { CallResponse } from './pipeline/context.js';
import { TableText } from './text-table.js';
import type { ColumnInfo, RowsResult, ToolResult } from './tool.js';

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
  const count = `${result.rowCount} row${result.rowCount === 1 ? '' : 's'}`;
  const flags = [
    result.truncated ? 'TRUNCATED' : '',
    report.maskedColumns.length > 0 ? `masked: ${report.maskedColumns.join(', ')}` : '',
    result.rowsAffected === undefined ? '' : `${result.rowsAffected} affected`,
  ].filter((f) => f !== '');
  const text = new TableText();
  text.raw(flags.length > 0 ? `${count} (${flags.join('; ')})` : count);
  const columns = result.columns;
  if (columns.length > 0) {
    text.newline();
    for (let c = 0; c < columns.length; c++) {
      if (c > 0) text.separator();
      text.raw((columns[c] as ColumnInfo).name);
    }
    for (const row of result.rows) {
      text.newline();
      for (let i = 0; i < row.length; i++) {
        if (i > 0) text.separator();
        text.cell(row[i]);
      }
    }
  }
  if (result.note !== undefined) {
    text.newline();
    text.raw(result.note);
  }
  return { content: [{ type: 'text', text: text.finish() }], structuredContent: structured };
}
