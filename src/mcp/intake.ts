import { cutDeep, deeperThan, MAX_JSON_DEPTH } from '../bounds.js';
import type { InputIssue } from '../errors.js';

/** A tools/call as airlock received it, before any schema saw it. */
export interface ToolCallIntake {
  /** The tool name; for a name that is not a string, its JSON text (cut at 64 characters). */
  readonly toolName: string;
  /** The arguments as received (cut at the depth bound, marked); `{}` when absent. */
  readonly rawArguments: unknown;
  /** What makes the request itself invalid; the call is refused as INVALID_INPUT when not empty. */
  readonly issues: readonly InputIssue[];
}

/** What kind of JSON value this is, for messages (`null`, `an array`, `an object`, `a string`, …). */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function label(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = kindOf(value);
  }
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}

/**
 * Reads the params of a tools/call without trusting their shape: every request that reaches airlock is
 * run through the pipeline and audited, so what the SDK's schema would reject (a name that is not a
 * string, `arguments: null`, arguments nested too deep to walk) is reported here as an issue instead of an
 * unaudited protocol error. A `task` field (the MCP task augmentation) is ignored, as the MCP spec asks of
 * a server that declares no tasks capability: the call runs normally.
 */
export function readToolCall(params: unknown): ToolCallIntake {
  const issues: InputIssue[] = [];
  const p = (typeof params === 'object' && params !== null && !Array.isArray(params) ? params : {}) as Record<string, unknown>;
  if (p !== params) issues.push({ path: 'params', message: `must be an object, got ${kindOf(params)}` });
  const name = p.name;
  let toolName: string;
  if (typeof name === 'string') toolName = name;
  else {
    toolName = name === undefined ? '(no name)' : label(name);
    issues.push({ path: 'params.name', message: name === undefined ? 'the tool name is missing' : `the tool name must be a string, got ${kindOf(name)}` });
  }
  const given = Object.hasOwn(p, 'arguments') ? p.arguments : undefined;
  let rawArguments: unknown = given === undefined ? {} : given;
  if (given !== undefined && (given === null || typeof given !== 'object' || Array.isArray(given))) {
    issues.push({ path: 'params.arguments', message: `must be an object, got ${kindOf(given)}` });
  }
  if (deeperThan(rawArguments, MAX_JSON_DEPTH)) {
    rawArguments = cutDeep(rawArguments, MAX_JSON_DEPTH);
    issues.push({ path: 'params.arguments', message: `nested deeper than ${MAX_JSON_DEPTH} levels` });
  }
  return { toolName, rawArguments, issues };
}
