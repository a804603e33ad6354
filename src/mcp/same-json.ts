/**
 * Whether two JSON-like values are the same JSON value (members in any order), decided without encoding
 * either. Identical references end the walk, so a copy of a large result that shares its rows with the
 * original is compared in a few steps. Below `depth` levels only identical references count (a false "no"
 * only costs an encoding).
 */
export function sameJson(a: unknown, b: unknown, depth = 6): boolean {
  if (a === b) return typeof a !== 'function' && typeof a !== 'symbol';
  if (depth === 0 || a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i], depth - 1)) return false;
    return true;
  }
  if (Array.isArray(b) || !plain(a) || !plain(b)) return false;
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  for (const key of keysA) {
    if (!Object.hasOwn(b, key) || !sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], depth - 1)) return false;
  }
  return true;
}

/** Plain data whose JSON text is its members' (a `toJSON` or another prototype could say otherwise). */
function plain(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}
