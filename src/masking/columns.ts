/**
 * Column rules by name: `masking.columns` patterns matched against the names of result columns, CSV
 * headers and the like, for values whose lineage is unknown. A pattern without a table part (`*ssn*`) or
 * with `*` as its table (`*.ssn`, `*.*.ssn`) names a column anywhere and always applies by name. A
 * qualified pattern (`customers.card_number`) applies by its column part only where no SQL lineage says
 * where the column came from (an alias, a non-SQL tool): more masking, never less.
 */

/**
 * Whether `value` matches `pattern` (`*` any run, `?` one character; both already lower case). Greedy
 * with one saved star, so it costs at most pattern × value steps and never backtracks further.
 */
export function globMatchLinear(pattern: string, value: string): boolean {
  let p = 0;
  let v = 0;
  let star = -1;
  let mark = 0;
  while (v < value.length) {
    const c = pattern.charCodeAt(p);
    if (p < pattern.length && (c === 63 /* ? */ || c === value.charCodeAt(v))) {
      p++;
      v++;
    } else if (p < pattern.length && c === 42 /* * */) {
      star = p++;
      mark = v;
    } else if (star >= 0) {
      p = star + 1;
      v = ++mark;
    } else return false;
  }
  while (pattern.charCodeAt(p) === 42) p++;
  return p === pattern.length;
}

export class ColumnNameRules {
  /** Column globs that apply by name everywhere. */
  private readonly anywhere: readonly string[];
  /** Column globs of qualified patterns: by name only where lineage is unknown. */
  private readonly qualified: readonly string[];
  private readonly cache = new Map<string, boolean>();

  constructor(patterns: readonly string[]) {
    const anywhere: string[] = [];
    const qualified: string[] = [];
    for (const raw of patterns) {
      const parts = raw.toLowerCase().split('.');
      const column = parts.at(-1) ?? '';
      if (parts.slice(0, -1).every((p) => p === '*')) anywhere.push(column);
      else qualified.push(column);
    }
    this.anywhere = anywhere;
    this.qualified = qualified;
  }

  get empty(): boolean {
    return this.anywhere.length === 0 && this.qualified.length === 0;
  }

  /** Whether a column called `name` is masked whole; `lineageKnown` when SQL lineage already decided. */
  matches(name: string, lineageKnown: boolean): boolean {
    if (this.empty || name.length > 256) return false;
    const key = `${lineageKnown ? 1 : 0}${name}`;
    let hit = this.cache.get(key);
    if (hit === undefined) {
      const n = name.toLowerCase();
      hit = this.anywhere.some((g) => globMatchLinear(g, n)) || (!lineageKnown && this.qualified.some((g) => globMatchLinear(g, n)));
      if (this.cache.size >= 4096) this.cache.clear();
      this.cache.set(key, hit);
    }
    return hit;
  }
}
