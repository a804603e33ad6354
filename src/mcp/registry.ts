import * as z from 'zod';
import type { AnyTool } from '../tool.js';

/** A tools/list entry. */
export interface ListedTool {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly inputSchema: { type: 'object'; [key: string]: unknown };
  readonly outputSchema?: { type: 'object'; [key: string]: unknown };
  readonly annotations: Record<string, unknown>;
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): { type: 'object'; [key: string]: unknown } {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  if (out.type !== 'object') throw new TypeError('tool schemas must describe an object');
  return out as { type: 'object'; [key: string]: unknown };
}

/** The governed tools, looked up by name; tools/list is computed once. */
export class ToolRegistry {
  private readonly byName = new Map<string, AnyTool>();
  private readonly listed: readonly ListedTool[];

  constructor(tools: readonly AnyTool[]) {
    for (const tool of tools) {
      if (this.byName.has(tool.name)) throw new TypeError(`ToolRegistry: duplicate tool "${tool.name}"`);
      this.byName.set(tool.name, tool);
    }
    this.listed = tools.map((tool) => ({
      name: tool.name,
      title: tool.annotations.title,
      description: tool.description,
      inputSchema: jsonSchema(tool.input, 'input'),
      ...(tool.output === undefined ? {} : { outputSchema: jsonSchema(tool.output, 'output') }),
      annotations: { ...tool.annotations },
    }));
  }

  get(name: string): AnyTool | undefined {
    return this.byName.get(name);
  }

  names(): readonly string[] {
    return [...this.byName.keys()];
  }

  list(): readonly ListedTool[] {
    return this.listed;
  }
}
