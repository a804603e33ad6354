import { describe, expect, inject, it } from 'vitest';
import { PostgresConnector } from '../../src/connectors/postgres.js';
import { toolDeps } from '../../src/main.js';
import { ToolRegistry } from '../../src/mcp/registry.js';
import { parsePolicy } from '../../src/policy/load.js';
import { loadSqlParser } from '../../src/policy/sql/classify.js';
import { ALL_TOOLS } from '../../tools/index.js';

describe('toolDeps().classifySql (the server classifier)', () => {
  it('reuses frozen facts for a repeated statement, and classifies again under a new policy or catalog', async () => {
    await loadSqlParser();
    const registry = new ToolRegistry(ALL_TOOLS);
    const doc = (columns: string[]): string =>
      JSON.stringify({ version: 1, resources: { connections: { shop: { url: 'env:X' } } }, rules: [], masking: { columns, ...(columns.length > 0 ? { sensitiveUse: { approverGroups: ['security'] } } : {}) } });
    let policy = parsePolicy(doc([]), 'policies.json', registry.names());
    const sql = new PostgresConnector({ resolve: () => inject('databaseUrl'), catalogTtlMs: 60_000 });
    try {
      const deps = toolDeps(() => policy, sql, sql, registry);
      const text = 'SELECT id, card_number FROM customers WHERE id = $1';
      const first = await deps.classifySql(text, 'shop');
      const again = await deps.classifySql(text, 'shop');
      expect(again).toBe(first);
      expect(Object.isFrozen(first)).toBe(true);
      expect(() => (first.tables as string[]).push('x')).toThrow(TypeError);
      expect(first.lineage).toBeUndefined();
      // A policy with sensitive columns needs lineage: not the cached facts.
      policy = parsePolicy(doc(['customers.card_number']), 'policies.json', registry.names());
      const withLineage = await deps.classifySql(text, 'shop');
      expect(withLineage).not.toBe(first);
      expect(withLineage.lineage?.maskedOutputs).toEqual([1]);
    } finally {
      await sql.close();
    }
  });
});
