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

/** Keywords whose values are data, not schemas: never rewritten. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples', 'required']);
/** Keywords whose values map names to schemas. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);

/**
 * Spells `type: ["string", "null"]` (what zod writes for unions of primitives and `.nullable()`) as
 * `anyOf` of single types: function-calling dialects with one `type` per schema (Gemini's OpenAPI subset)
 * reject or drop type arrays. Also drops keys whose value is undefined (zod `.meta({ items: undefined })`).
 */
function portable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(portable);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (value === undefined) continue;
    if (DATA_KEYWORDS.has(key)) out[key] = value;
    else if (SCHEMA_MAPS.has(key) && value !== null && typeof value === 'object') {
      // Names in these maps are property names, not keywords: "required" or "enum" may be a property.
      out[key] = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([name, sub]) => [name, portable(sub)]));
    } else out[key] = portable(value);
  }
  const type = out.type;
  if (Array.isArray(type)) {
    if (out.anyOf !== undefined) throw new TypeError('tool schemas: a type array next to anyOf cannot be made portable');
    delete out.type;
    if (type.length === 1) out.type = type[0];
    else out.anyOf = type.map((t: unknown) => ({ type: t }));
  }
  return out;
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): { type: 'object'; [key: string]: unknown } {
  const out = portable(z.toJSONSchema(schema, { io, unrepresentable: 'any' })) as Record<string, unknown>;
  delete out.$schema;
  if (out.type !== 'object') throw new TypeError('tool schemas must describe an object');
  return out as { type: 'object'; [key: string]: unknown };
}

/**
 * What any governed call returns while a human approval is pending (see src/approval/pending.ts): every
 * tool's output schema admits it, so clients that check structured results against the schema accept it.
 */
const PENDING_APPROVAL = {
  type: 'object',
  properties: {
    status: { type: 'string', const: 'pending_approval' },
    requestId: { type: 'string' },
    approvers: { type: 'array', items: { type: 'string' } },
    quorum: { type: 'integer' },
    approvals: { type: 'integer' },
    expiresAt: { type: 'string' },
    consoleUrl: { type: 'string' },
    auditId: { type: 'string' },
  },
  required: ['status', 'requestId', 'approvers', 'quorum', 'approvals', 'expiresAt', 'auditId'],
} as const;

/** A tool's output schema, or the pending-approval handle. */
function orPending(schema: { type: 'object'; [key: string]: unknown }): { type: 'object'; [key: string]: unknown } {
  return { type: 'object', anyOf: [schema, PENDING_APPROVAL] };
}

/**
 * The governed tools, looked up by name. tools/list is computed once, on first use: turning the zod
 * schemas into JSON Schema is work a server need not do before it answers `initialize`.
 */
export class ToolRegistry {
  private readonly byName = new Map<string, AnyTool>();
  private listed: readonly ListedTool[] | undefined;

  constructor(private readonly tools: readonly AnyTool[]) {
    for (const tool of tools) {
      if (this.byName.has(tool.name)) throw new TypeError(`ToolRegistry: duplicate tool "${tool.name}"`);
      this.byName.set(tool.name, tool);
    }
  }

  get(name: string): AnyTool | undefined {
    return this.byName.get(name);
  }

  names(): readonly string[] {
    return [...this.byName.keys()];
  }

  list(): readonly ListedTool[] {
    this.listed ??= this.tools.map((tool) => ({
      name: tool.name,
      title: tool.annotations.title,
      description: tool.description,
      inputSchema: jsonSchema(tool.input, 'input'),
      ...(tool.output === undefined ? {} : { outputSchema: orPending(jsonSchema(tool.output, 'output')) }),
      annotations: { ...tool.annotations },
    }));
    return this.listed;
  }
}
