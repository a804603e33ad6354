import * as z from 'zod';
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

  it('converts the schemas on the first tools/list, not when built, and keeps the list (issue 19)', () => {
    // A schema tools/list cannot describe: building the registry does not look at it, listing does.
    const scalar = { ...ALL_TOOLS[0]!, name: 'scalar_input', input: z.string() };
    const registry = new ToolRegistry([scalar]);
    expect(registry.names()).toEqual(['scalar_input']);
    expect(registry.get('scalar_input')).toBe(scalar);
    expect(() => registry.list()).toThrow(new TypeError('tool schemas must describe an object'));

    const all = new ToolRegistry(ALL_TOOLS);
    const first = all.list();
    expect(all.list()).toBe(first);
    expect(first.map((t) => t.name)).toEqual(ALL_TOOLS.map((t) => t.name));
  });

  it('every tool builds its schemas on first use and keeps them (issue 19)', () => {
    for (const tool of ALL_TOOLS) {
      // A getter, not a value: importing the tools (which a server does before initialize) builds no schema.
      expect(typeof Object.getOwnPropertyDescriptor(tool, 'input')?.get, tool.name).toBe('function');
      expect(tool.input, tool.name).toBe(tool.input);
      if (Object.hasOwn(tool, 'output')) {
        expect(typeof Object.getOwnPropertyDescriptor(tool, 'output')?.get, tool.name).toBe('function');
        expect(tool.output, tool.name).toBe(tool.output);
      }
    }
  });
});
