/**
 * Bounds on the JSON structures airlock walks. Agent arguments and downstream results can nest as deep as
 * their sender likes; every recursive walk (canonical JSON, JSON.stringify, masking, schema validation)
 * would overflow the stack on them. Values are measured and cut here, iteratively, before anything
 * recursive sees them.
 */

/** Deepest nesting of arrays and objects airlock accepts in arguments and keeps in results. */
export const MAX_JSON_DEPTH = 64;

/** What stands in for a subtree cut at the depth bound (in recorded inputs and in results). */
export const DEPTH_MARKER = `[airlock: cut, nested deeper than ${MAX_JSON_DEPTH} levels]`;

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

/** True when `value` nests arrays or objects more than `limit` levels deep (a container is one level). */
export function deeperThan(value: unknown, limit: number = MAX_JSON_DEPTH): boolean {
  if (!isContainer(value)) return false;
  const stack: [object, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [object, number];
    if (depth > limit) return true;
    const items: unknown[] = Array.isArray(node) ? node : Object.values(node);
    for (const item of items) if (isContainer(item)) stack.push([item, depth + 1]);
  }
  return false;
}

/**
 * A copy of `value` with every array or object below `limit` levels replaced by `marker`; own keys are
 * copied as data properties, so a `__proto__` key stays a key. Values within the bound come back as they are.
 */
export function cutDeep(value: unknown, limit: number = MAX_JSON_DEPTH, marker: string = DEPTH_MARKER): unknown {
  if (!deeperThan(value, limit)) return value;
  const copyOf = (node: object): unknown[] | Record<string, unknown> => (Array.isArray(node) ? [] : {});
  const root = copyOf(value as object);
  const stack: [object, unknown[] | Record<string, unknown>, number][] = [[value as object, root, 1]];
  while (stack.length > 0) {
    const [source, target, depth] = stack.pop() as [object, unknown[] | Record<string, unknown>, number];
    const entries: [string, unknown][] = Array.isArray(source) ? source.map((v, i) => [String(i), v]) : Object.entries(source);
    for (const [key, item] of entries) {
      let out: unknown = item;
      if (isContainer(item)) {
        if (depth + 1 > limit) out = marker;
        else {
          const copy = copyOf(item);
          stack.push([item, copy, depth + 1]);
          out = copy;
        }
      }
      if (Array.isArray(target)) target.push(out);
      else Object.defineProperty(target, key, { value: out, enumerable: true, writable: true, configurable: true });
    }
  }
  return root;
}
