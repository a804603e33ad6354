import { globMatch } from './glob.js';
import type { SensitivePredicate } from './sql/lineage.js';

/**
 * Compiles `masking.columns` patterns ("table.column" for any schema, or "schema.table.column"; globs,
 * case-insensitive) into a predicate over base columns. `undefined` when no column is sensitive.
 */
export function sensitiveColumns(patterns: readonly string[]): SensitivePredicate | undefined {
  if (patterns.length === 0) return undefined;
  const compiled = patterns.map((p) => p.toLowerCase().split('.'));
  return (schema, table, column) => {
    const s = schema.toLowerCase();
    const t = table.toLowerCase();
    const c = column.toLowerCase();
    return compiled.some((parts) =>
      parts.length === 2
        ? globMatch(parts[0] ?? '', t) && globMatch(parts[1] ?? '', c)
        : globMatch(parts[0] ?? '', s) && globMatch(parts[1] ?? '', t) && globMatch(parts[2] ?? '', c),
    );
  };
}
