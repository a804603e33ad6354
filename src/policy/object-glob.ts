/**
 * Globs over Cloud Storage object names, read as paths: `*` and `?` stay within one `/`-separated segment,
 * `**` crosses segments, and a `**` that fills a whole segment also matches no segment at all (the glob
 * `**` + `/*.csv` matches `a.csv` and `x/y/a.csv`). Matching runs a small NFA over the glob's tokens (linear, no regex), which
 * also answers the two questions a listing asks: could a name under this prefix match, and does every
 * name under it match.
 */

/** `dirs` is a whole-segment `**` and its slash: zero or more complete segments. */
type Token = { readonly kind: 'char'; readonly ch: string } | { readonly kind: 'star' } | { readonly kind: 'globstar' } | { readonly kind: 'dirs' } | { readonly kind: 'any' };

const compiled = new Map<string, readonly Token[]>();

function tokens(glob: string): readonly Token[] {
  let out = compiled.get(glob);
  if (out !== undefined) return out;
  const list: Token[] = [];
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] as string;
    if (ch === '*' && glob[i + 1] === '*') {
      // A whole-segment globstar and its slash match zero or more complete segments.
      if (glob[i + 2] === '/' && (i === 0 || glob[i - 1] === '/')) {
        i += 2;
        list.push({ kind: 'dirs' });
      } else {
        i += 1;
        list.push({ kind: 'globstar' });
      }
    } else if (ch === '*') list.push({ kind: 'star' });
    else if (ch === '?') list.push({ kind: 'any' });
    else list.push({ kind: 'char', ch });
  }
  out = list;
  if (compiled.size > 4096) compiled.clear();
  compiled.set(glob, out);
  return out;
}

/**
 * The states reachable without reading a character (stars and globstars may match nothing). A state is a
 * token index; inside a `dirs` token's segment (where it cannot end yet) it is `-(index + 1)`.
 */
function closure(toks: readonly Token[], states: Set<number>): Set<number> {
  const stack = [...states];
  while (stack.length > 0) {
    const i = stack.pop() as number;
    const t = i < 0 ? undefined : toks[i];
    if (t !== undefined && (t.kind === 'star' || t.kind === 'globstar' || t.kind === 'dirs') && !states.has(i + 1)) {
      states.add(i + 1);
      stack.push(i + 1);
    }
  }
  return states;
}

function run(toks: readonly Token[], text: string): Set<number> {
  let states = closure(toks, new Set([0]));
  for (let p = 0; p < text.length && states.size > 0; p++) {
    const c = text[p] as string;
    const next = new Set<number>();
    for (const i of states) {
      if (i < 0) {
        next.add(c === '/' ? -i - 1 : i);
        continue;
      }
      const t = toks[i];
      if (t === undefined) continue;
      if (t.kind === 'dirs') {
        next.add(c === '/' ? i : -i - 1);
        continue;
      }
      if (t.kind === 'char' ? t.ch === c : t.kind === 'any' ? c !== '/' : t.kind === 'star' ? c !== '/' : true) {
        next.add(t.kind === 'star' || t.kind === 'globstar' ? i : i + 1);
      }
    }
    states = closure(toks, next);
  }
  return states;
}

/** Whether an object name matches a path glob. Case-sensitive, as object names are. */
export function objectGlobMatch(glob: string, name: string): boolean {
  const toks = tokens(glob);
  return run(toks, name).has(toks.length);
}

/** Whether some object name that starts with `prefix` could match the glob (a listing may show it). */
export function objectGlobReaches(glob: string, prefix: string): boolean {
  return run(tokens(glob), prefix).size > 0;
}

/** Whether every object name that starts with `prefix` matches the glob (a deny rule hides all of it). */
export function objectGlobCovers(glob: string, prefix: string): boolean {
  const toks = tokens(glob);
  for (const i of run(toks, prefix)) {
    if (i >= 0 && i < toks.length && toks.slice(i).every((t) => t.kind === 'globstar')) return true;
  }
  return false;
}

/** The glob's literal start (up to its first wildcard): every name it matches begins with it. */
export function objectGlobLiteralPrefix(glob: string): string {
  const toks = tokens(glob);
  let out = '';
  for (const t of toks) {
    if (t.kind !== 'char') break;
    out += t.ch;
  }
  return out;
}
