import type pg from 'pg';

/** Condition names for the SQLSTATEs agents most often hit (PostgreSQL Appendix A). */
const CONDITIONS: Readonly<Record<string, string>> = {
  '42601': 'syntax error',
  '42P01': 'undefined table',
  '42703': 'undefined column',
  '42883': 'undefined function',
  '42P02': 'undefined parameter',
  '42804': 'datatype mismatch',
  '42803': 'grouping error',
  '42702': 'ambiguous column',
  '42725': 'ambiguous function',
  '42846': 'cannot coerce',
  '42501': 'insufficient privilege',
  '42P18': 'indeterminate datatype',
  '25006': 'read-only SQL transaction',
  '22P02': 'invalid text representation',
  '22003': 'numeric value out of range',
  '22012': 'division by zero',
  '22007': 'invalid datetime format',
  '22008': 'datetime field overflow',
  '22001': 'string data right truncation',
  '23505': 'unique violation',
  '23503': 'foreign key violation',
  '23502': 'not null violation',
  '23514': 'check violation',
  '40001': 'serialization failure',
  '40P01': 'deadlock detected',
  '55P03': 'lock not available',
  '53100': 'disk full',
  '53200': 'out of memory',
  '54000': 'program limit exceeded',
  '0A000': 'feature not supported',
  '08P01': 'protocol violation',
};

/**
 * Safe text for a Postgres error. Messages of the syntax/access class (42…) only echo identifiers from
 * the agent's own statement and are kept; every other class can echo stored values
 * (`invalid input syntax for type integer: "4111…"`, `Key (card)=(…) already exists`), so only the
 * SQLSTATE, its condition name and the object names the server reports are shown.
 */
export function pgErrorText(error: Partial<pg.DatabaseError>): string {
  const code = error.code ?? 'XX000';
  const condition = CONDITIONS[code] ?? `SQLSTATE class ${code.slice(0, 2)}`;
  if (code.startsWith('42') && typeof error.message === 'string' && error.message.length <= 300) {
    return `${error.message} (SQLSTATE ${code}, ${condition})`;
  }
  const objects = [
    error.schema === undefined ? undefined : `schema ${error.schema}`,
    error.table === undefined ? undefined : `table ${error.table}`,
    error.column === undefined ? undefined : `column ${error.column}`,
    error.constraint === undefined ? undefined : `constraint ${error.constraint}`,
    error.dataType === undefined ? undefined : `type ${error.dataType}`,
  ].filter((o): o is string => o !== undefined);
  return `${condition} (SQLSTATE ${code}${objects.length > 0 ? `; ${objects.join(', ')}` : ''})`;
}
