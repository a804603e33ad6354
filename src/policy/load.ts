import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type * as z from 'zod';
import { parseStrictJson, StrictJsonError } from '../strict-json.js';
import { ONE_SHOT } from '../once.js';
import { PolicyFileSchema, type PolicyFile } from './schema.js';

/** A validated policy and its version (the SHA-256 of the file's bytes). */
export interface Policy {
  readonly file: PolicyFile;
  readonly version: string;
  readonly source: string;
}

/** Raised when a policy file cannot be used; `problems` holds one line per issue, each with its path. */
export class PolicyLoadError extends Error {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super(`${source}: invalid policy\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'PolicyLoadError';
    this.problems = problems;
  }
}

/** Formats a zod/JSON path as `rules[3].tools[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function issueLine(label: string, issue: z.core.$ZodIssue): string {
  const path = formatPath(issue.path);
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (misspelled keys are rejected so they cannot widen access)`;
  }
  return `${label}: ${path === '' ? '(top level)' : path}: ${message}`;
}

/**
 * Parses and validates policy text. `knownTools` lets it reject rules naming tools that do not exist.
 * Every problem is reported, each prefixed with the file name and the path inside it.
 */
export function parsePolicy(text: string, source: string, knownTools: readonly string[]): Policy {
  const label = basename(source);
  let json: unknown;
  try {
    json = parseStrictJson(text);
  } catch (error) {
    if (error instanceof StrictJsonError) throw new PolicyLoadError(source, error.problems.map((p) => `${label}:${p.line}:${p.column}: ${p.message}`));
    throw new PolicyLoadError(source, [`${label}: not valid JSON: ${error instanceof Error ? error.message : String(error)}`]);
  }
  const parsed = PolicyFileSchema.safeParse(json, ONE_SHOT);
  // Cross-reference checks also run on a file that fails the schema, so one pass reports everything.
  const rawRules = (json as { rules?: unknown } | null)?.rules;
  const rawOverrides = (json as { masking?: { overrides?: unknown } } | null)?.masking?.overrides;
  const problems = [
    ...crossReference(label, Array.isArray(rawRules) ? rawRules : [], knownTools),
    ...overrideTools(label, Array.isArray(rawOverrides) ? rawOverrides : [], knownTools),
  ];
  if (!parsed.success) throw new PolicyLoadError(source, [...parsed.error.issues.map((i) => issueLine(label, i)), ...problems]);
  if (problems.length > 0) throw new PolicyLoadError(source, problems);
  const file = parsed.data;
  const version = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  return Object.freeze({ file, version, source });
}

function crossReference(label: string, rules: readonly unknown[], knownTools: readonly string[]): string[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  rules.forEach((raw, index) => {
    const rule = (raw ?? {}) as { id?: unknown; tools?: unknown; sql?: unknown };
    if (typeof rule.id === 'string') {
      const first = seen.get(rule.id);
      if (first !== undefined) problems.push(`${label}: rules[${index}].id: duplicate rule id "${rule.id}" (also rules[${first}])`);
      else seen.set(rule.id, index);
    }
    const tools = Array.isArray(rule.tools) ? (rule.tools as unknown[]) : [];
    problems.push(...unknownTools(`${label}: rules[${index}].tools`, tools, knownTools));
    if (rule.sql !== undefined && !tools.every((t) => t === 'query_sql')) {
      problems.push(`${label}: rules[${index}].sql: "sql" conditions only apply to query_sql; list only that tool in this rule`);
    }
  });
  return problems;
}

/** Masking overrides may only name tools that exist. */
function overrideTools(label: string, overrides: readonly unknown[], knownTools: readonly string[]): string[] {
  return overrides.flatMap((raw, index) => {
    const tools = (raw as { tools?: unknown } | null)?.tools;
    return Array.isArray(tools) ? unknownTools(`${label}: masking.overrides[${index}].tools`, tools as unknown[], knownTools) : [];
  });
}

/** A problem for each tool name in `tools` (at `path`) that is not one of `knownTools`. */
function unknownTools(path: string, tools: readonly unknown[], knownTools: readonly string[]): string[] {
  return tools.flatMap((tool, t) => (typeof tool === 'string' && !knownTools.includes(tool) ? [`${path}[${t}]: unknown tool "${tool}" (known: ${knownTools.join(', ')})`] : []));
}

/** Reads and validates a policy file. */
export async function loadPolicy(path: string, knownTools: readonly string[]): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new PolicyLoadError(path, [`${basename(path)}: cannot read ${path} (${code})`]);
  }
  return parsePolicy(text, path, knownTools);
}
