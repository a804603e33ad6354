import { createHash } from 'node:crypto';
import { canonicalJson } from '../audit/canonical.js';

/** What an approval is bound to: the exact call, as the approver saw it and as it will run. */
export interface BindingInput {
  /** The verified requester; only issuer and sub identify it. */
  readonly principal: { readonly issuer: string; readonly sub: string };
  readonly tool: string;
  readonly resource: string;
  /** The call's arguments after input validation: plain JSON (what came over the wire). */
  readonly input: unknown;
  /** The rules that sent the call to approval. */
  readonly ruleIds: readonly string[];
  /** The policy's content hash when the request was made. */
  readonly policyVersion: string;
}

/**
 * The canonical binding: the call's identity in a form that survives a JSON round trip unchanged. Its shape is
 * the input's; `ruleIds` are sorted and without repeats (the same rules decide the same call whatever order
 * evaluation lists them in).
 */
export type CallBinding = BindingInput;

/** A binding and its `sha256:<hex>` hash. */
export interface BoundCall {
  readonly binding: CallBinding;
  readonly bindingHash: string;
}

/** Domain separation: a binding hash can never equal the hash of another airlock structure. */
const DOMAIN = 'airlock-approval-binding/v1\n';
const MAX_DEPTH = 256;

/**
 * Binds a call for approval. The hash covers every field; the input is hashed in a typed form in which
 * every value carries its JSON type (a number 1 and a string "1" differ, so do 0 and -0, `[]` and `{}`),
 * strings are compared by their exact code units (the SQL text byte for byte) and arrays keep their order
 * (positional parameters). Values with no exact JSON form (undefined, NaN, Infinity, BigInt, functions,
 * class instances, sparse arrays) are refused with a TypeError: the input stage hands over parsed JSON, so
 * one of them here is a wiring bug, and hashing it approximately would let two calls share a grant.
 */
export function bindCall(call: BindingInput): BoundCall {
  const binding: CallBinding = {
    principal: { issuer: text(call.principal.issuer, 'principal.issuer'), sub: text(call.principal.sub, 'principal.sub') },
    tool: text(call.tool, 'tool'),
    resource: text(call.resource, 'resource'),
    input: call.input,
    ruleIds: [...new Set(call.ruleIds.map((id, i) => text(id, `ruleIds[${i}]`)))].sort(),
    policyVersion: text(call.policyVersion, 'policyVersion'),
  };
  return { binding, bindingHash: hashBinding(binding) };
}

/** The `sha256:<hex>` hash of a binding (see `bindCall`). Throws a TypeError for a non-JSON input. */
export function hashBinding(binding: CallBinding): string {
  const typed = canonicalJson({
    principal: { issuer: binding.principal.issuer, sub: binding.principal.sub },
    tool: binding.tool,
    resource: binding.resource,
    input: typedValue(binding.input, 'input', 0),
    ruleIds: [...binding.ruleIds],
    policyVersion: binding.policyVersion,
  });
  return `sha256:${createHash('sha256').update(DOMAIN).update(typed, 'utf8').digest('hex')}`;
}

function text(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new TypeError(`bindCall: ${path} must be a string`);
  return value;
}

/**
 * Each value as a `[type, value]` pair: canonical JSON alone already tells strings from numbers, but it
 * writes -0 as 0 and drops undefined members; the tags make the hashed form injective over JSON values.
 */
function typedValue(value: unknown, path: string, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new TypeError(`bindCall: ${path} is nested deeper than ${MAX_DEPTH} levels`);
  switch (typeof value) {
    case 'string':
      return ['s', value];
    case 'boolean':
      return ['b', value];
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`bindCall: ${path} is ${value}, which has no JSON form`);
      return ['n', Object.is(value, -0) ? '-0' : String(value)];
    case 'object': {
      if (value === null) return ['z'];
      if (Array.isArray(value)) {
        const items: unknown[] = [];
        for (let i = 0; i < value.length; i++) {
          if (!Object.hasOwn(value, i)) throw new TypeError(`bindCall: ${path}[${i}] is a hole in a sparse array`);
          items.push(typedValue(value[i], `${path}[${i}]`, depth + 1));
        }
        return ['a', items];
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw new TypeError(`bindCall: ${path} is not a plain JSON object`);
      // No prototype: a member named "__proto__" (JSON.parse makes it an own key) stays a plain key.
      const members = Object.create(null) as Record<string, unknown>;
      for (const [key, item] of Object.entries(value)) members[key] = typedValue(item, `${path}.${key}`, depth + 1);
      return ['o', members];
    }
    default:
      throw new TypeError(`bindCall: ${path} is ${typeof value}, which has no JSON form`);
  }
}
