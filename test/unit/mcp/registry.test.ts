import { describe, expect, it } from 'vitest';
import { ALL_TOOLS } from '../../../tools/index.js';
import { ToolRegistry } from '../../../src/mcp/registry.js';

describe('ToolRegistry', () => {
  it('lists query_sql with annotations and JSON Schemas for input and output', () => {
    const listed = new ToolRegistry(ALL_TOOLS).list();
    const tool = listed.find((t) => t.name === 'query_sql');
    expect(tool?.annotations).toEqual({
      title: 'Query SQL (governed)',
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: false,
      openWorldHint: false,
    });
    expect(tool?.inputSchema).toMatchObject({
      type: 'object',
      required: ['connection', 'sql'],
      additionalProperties: false,
    });
    expect(Object.keys((tool?.inputSchema.properties ?? {}))).toEqual(['connection', 'sql', 'params', 'maxRows', 'justification']);
    // The rows, or the pending-approval handle (issue 17): a client checking structured results accepts both.
    const [rows, pending] = (tool?.outputSchema?.anyOf ?? []) as { required?: string[]; properties?: Record<string, unknown> }[];
    expect(tool?.outputSchema).toMatchObject({ type: 'object' });
    expect(rows?.required).toEqual(['columns', 'rows', 'rowCount', 'truncated', 'masked', 'auditId']);
    expect(pending?.properties?.status).toEqual({ type: 'string', const: 'pending_approval' });
    expect(tool?.description).toContain('read-only transaction');
  });

  it('rejects duplicate tool names at build time', () => {
    expect(() => new ToolRegistry([...ALL_TOOLS, ...ALL_TOOLS])).toThrow('ToolRegistry: duplicate tool "query_sql"');
  });
});
