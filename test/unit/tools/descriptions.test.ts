/**
 * Issue 14: what the agent is told must be true. A tool description (or a schema description) that sends
 * the model to a tool that does not exist fails here, and so does a schema function-calling dialects reject.
 */
import { describe, expect, it } from 'vitest';
import { ALL_TOOLS } from '../../../tools/index.js';
import { ToolRegistry, type ListedTool } from '../../../src/mcp/registry.js';

const listed = new ToolRegistry(ALL_TOOLS).list();
const toolNames = new Set(ALL_TOOLS.map((t) => t.name));

/** Every `description` string in a JSON Schema, with where it is. */
function descriptions(node: unknown, path: string, out: [string, string][] = []): [string, string][] {
  if (Array.isArray(node)) node.forEach((item, i) => descriptions(item, `${path}[${i}]`, out));
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'description' && typeof value === 'string') out.push([path, value]);
      else descriptions(value, `${path}.${key}`, out);
    }
  }
  return out;
}

/** Property names and enum values of a schema: snake_case words a description may name that are not tools. */
function schemaWords(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) node.forEach((item) => schemaWords(item, out));
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'properties' && value !== null && typeof value === 'object') Object.keys(value as Record<string, unknown>).forEach((k) => out.add(k));
      if (key === 'enum' && Array.isArray(value)) value.forEach((v) => typeof v === 'string' && out.add(v));
      if (key === 'const' && typeof value === 'string') out.add(value);
      schemaWords(value, out);
    }
  }
  return out;
}

const texts = (tool: ListedTool): [string, string][] => [
  [`${tool.name}.description`, tool.description],
  ...descriptions(tool.inputSchema, `${tool.name}.inputSchema`),
  ...descriptions(tool.outputSchema ?? {}, `${tool.name}.outputSchema`),
];

describe('tool descriptions', () => {
  it('name only tools that exist (a snake_case word is a tool, or a field or value of the schemas)', () => {
    const fieldsAndValues = new Set(listed.flatMap((t) => [...schemaWords(t.inputSchema), ...schemaWords(t.outputSchema ?? {})]));
    const wrong: string[] = [];
    for (const tool of listed) {
      for (const [where, text] of texts(tool)) {
        for (const word of text.match(/\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b/g) ?? []) {
          if (!toolNames.has(word) && !fieldsAndValues.has(word)) wrong.push(`${where}: "${word}" is not a tool (tools: ${[...toolNames].join(', ')})`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('would catch a description that names a missing tool (the check can fail)', () => {
    const text = 'Use list_buckets first, then query_sql.';
    const missing = (text.match(/\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b/g) ?? []).filter((w) => !toolNames.has(w));
    expect(missing).toEqual(['list_buckets']);
  });

  it('send the model to list_resources for connection names, and list_resources exists', () => {
    const connection = (listed.find((t) => t.name === 'query_sql')?.inputSchema.properties as Record<string, { description?: string }>).connection;
    expect(connection?.description).toContain('list_resources');
    expect(toolNames.has('list_resources')).toBe(true);
  });
});

/**
 * The MCP Inspector's schema-portability rules (clients/cli: lintToolSchemas), applied to what tools/list
 * serves: no `type` arrays, no schema without a validation keyword (`{}`), no bare boolean schema outside
 * additionalProperties-like keywords, no remote `$ref`. The e2e test runs the Inspector itself.
 */
const SUBSCHEMA = ['items', 'contains', 'not', 'propertyNames', 'if', 'then', 'else', 'additionalProperties', 'unevaluatedProperties', 'additionalItems', 'unevaluatedItems', 'contentSchema'];
const SUBSCHEMA_ARRAYS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SUBSCHEMA_MAPS = ['properties', 'patternProperties', 'dependentSchemas', 'dependencies', '$defs', 'definitions'];
const BOOLEAN_OK = new Set(['additionalProperties', 'unevaluatedProperties', 'additionalItems', 'unevaluatedItems']);
const CONSTRAINING = new Set([
  'type', 'enum', 'const', 'multipleOf', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength', 'minLength', 'pattern', 'format',
  'contentMediaType', 'contentEncoding', 'contentSchema', 'maxItems', 'minItems', 'uniqueItems', 'maxContains', 'minContains', 'maxProperties',
  'minProperties', 'required', 'dependentRequired', 'allOf', 'anyOf', 'oneOf', 'not', 'items', 'prefixItems', 'contains', 'additionalItems',
  'unevaluatedItems', 'properties', 'patternProperties', 'additionalProperties', 'unevaluatedProperties', 'propertyNames', 'dependentSchemas',
  'dependencies', '$ref', '$dynamicRef', '$recursiveRef',
]);

function portabilityFindings(node: unknown, path: string, keyword: string | undefined, out: string[] = []): string[] {
  if (typeof node === 'boolean') {
    if (keyword === undefined || !BOOLEAN_OK.has(keyword)) out.push(`${path}: bare ${String(node)} schema`);
    return out;
  }
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return out;
  const schema = node as Record<string, unknown>;
  if (Array.isArray(schema.type)) out.push(`${path}: type array ${JSON.stringify(schema.type)}`);
  if (typeof schema.$ref === 'string' && !schema.$ref.startsWith('#')) out.push(`${path}: remote $ref`);
  const constrains = Object.keys(schema).some((k) => CONSTRAINING.has(k)) || ('if' in schema && ('then' in schema || 'else' in schema));
  if (!constrains && keyword !== 'not') out.push(`${path}: schema with no validation keyword (accepts anything)`);
  for (const key of SUBSCHEMA_MAPS) {
    const map = schema[key];
    if (map !== null && typeof map === 'object' && !Array.isArray(map)) for (const [name, sub] of Object.entries(map)) portabilityFindings(sub, `${path}.${key}.${name}`, key, out);
  }
  for (const key of SUBSCHEMA_ARRAYS) {
    const list = schema[key];
    if (Array.isArray(list)) list.forEach((sub, i) => portabilityFindings(sub, `${path}.${key}[${i}]`, key, out));
  }
  for (const key of SUBSCHEMA) {
    if (!(key in schema)) continue;
    const value = schema[key];
    if (key === 'items' && Array.isArray(value)) value.forEach((sub, i) => portabilityFindings(sub, `${path}.items[${i}]`, key, out));
    else portabilityFindings(value, `${path}.${key}`, key, out);
  }
  return out;
}

describe('tool schemas (issue 14: portable to Gemini- and OpenAI-style function calling)', () => {
  it.each(listed.map((t) => [t.name, t] as const))('%s: input and output schemas have no portability findings', (_name, tool) => {
    expect([...portabilityFindings(tool.inputSchema, 'inputSchema', undefined), ...portabilityFindings(tool.outputSchema, 'outputSchema', undefined)]).toEqual([]);
  });

  it('the rules find what zod writes for z.unknown() and nullable fields (the check can fail)', () => {
    const findings = portabilityFindings({ type: 'object', properties: { a: {}, b: { type: ['string', 'null'] }, c: { type: 'array', items: true } } }, 's', undefined);
    expect(findings).toEqual(['s.properties.a: schema with no validation keyword (accepts anything)', 's.properties.b: type array ["string","null"]', 's.properties.c.items: bare true schema']);
  });
});
