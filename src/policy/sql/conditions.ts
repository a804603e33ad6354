/**
 * Whether the condition of an UPDATE, DELETE or MERGE limits the rows it touches. A condition that is
 * always true (`true`, `1 = 1`, `id = id`, `NOT false`, `'t'::bool`, …) or that does not depend on the
 * target's row at all (`EXISTS (SELECT 1)`, `$1`, `c.id = 5` over another table) selects every row or
 * none: it is no condition, and the statement belongs with the unconditioned ones (class destructive).
 *
 * This is constant folding over the parse tree, not a theorem prover: conditions whose truth depends on
 * the data (`id > 0`, `id IS NOT NULL` on a key) are judged ordinary.
 */

type Node = Record<string, unknown>;

/** Three-valued truth of a condition, or `undefined` when it depends on something not known here. */
type Truth = true | false | null | undefined;

/** The statement's target: its table name and alias, as the condition may qualify columns with them. */
export interface Target {
  readonly relname?: unknown;
  readonly alias?: { readonly aliasname?: unknown };
}

/** Why `condition` selects every row of `target` (for the class reason), or `undefined` when it may not. */
export function wholeTableCondition(condition: unknown, target: Target | undefined): string | undefined {
  const t = truth(condition);
  if (t === true) return 'its condition is always true';
  if (t === false || t === null) return undefined;
  if (!refersToTarget(condition, target)) return 'its condition does not depend on the row';
  return undefined;
}

/** Why a MERGE can change or delete every row of its target, or `undefined`. */
export function wholeTableMerge(body: Node): string | undefined {
  const target = body.relation as Target | undefined;
  const joinWhole = wholeTableCondition(body.joinCondition, target);
  for (const item of Array.isArray(body.mergeWhenClauses) ? (body.mergeWhenClauses as Node[]) : []) {
    const clause = item.MergeWhenClause as Node | undefined;
    if (clause === undefined || (clause.commandType !== 'CMD_DELETE' && clause.commandType !== 'CMD_UPDATE')) continue;
    const verb = clause.commandType === 'CMD_DELETE' ? 'DELETE' : 'UPDATE';
    const unconditioned = clause.condition === undefined || wholeTableCondition(clause.condition, target) !== undefined;
    if (!unconditioned) continue;
    // Rows the source does not name: an empty or unrelated source reaches every row of the target.
    if (clause.matchKind === 'MERGE_WHEN_NOT_MATCHED_BY_SOURCE') return `MERGE … WHEN NOT MATCHED BY SOURCE THEN ${verb} reaches every row the source does not name`;
    if (clause.matchKind === 'MERGE_WHEN_MATCHED' && joinWhole !== undefined) return `MERGE … WHEN MATCHED THEN ${verb}: ${joinWhole.replace('its condition', 'its ON condition')}`;
  }
  return undefined;
}

const BOOL_TYPES = new Set(['bool', 'boolean']);

function truth(node: unknown): Truth {
  if (node === null || typeof node !== 'object') return undefined;
  const [type, body] = Object.entries(node as Node)[0] ?? [];
  if (type === undefined || body === null || typeof body !== 'object') return undefined;
  const b = body as Node;
  switch (type) {
    case 'A_Const':
      return constTruth(b);
    case 'TypeCast': {
      if (!BOOL_TYPES.has(lastName((b.typeName as Node | undefined)?.names) ?? '')) return undefined;
      const arg = b.arg as Node | undefined;
      const inner = arg?.A_Const as Node | undefined;
      if (inner?.ival !== undefined) return ((inner.ival as Node).ival ?? 0) !== 0;
      return truth(arg);
    }
    case 'BoolExpr':
      return boolExpr(b);
    case 'A_Expr':
      return comparison(b);
    case 'NullTest': {
      const v = valueKind(b.arg);
      if (v === undefined) return undefined;
      return b.nulltesttype === 'IS_NULL' ? v === null : v !== null;
    }
    case 'BooleanTest': {
      const v = truth(b.arg);
      if (v === undefined) return undefined;
      switch (b.booltesttype) {
        case 'IS_TRUE': return v === true;
        case 'IS_NOT_TRUE': return v !== true;
        case 'IS_FALSE': return v === false;
        case 'IS_NOT_FALSE': return v !== false;
        case 'IS_UNKNOWN': return v === null;
        case 'IS_NOT_UNKNOWN': return v !== null;
        default: return undefined;
      }
    }
    default:
      return undefined;
  }
}

function constTruth(c: Node): Truth {
  if (c.isnull === true) return null;
  if (c.boolval !== undefined) return (c.boolval as Node).boolval === true;
  if (c.sval !== undefined) return boolText(stringOf((c.sval as Node).sval));
  return undefined;
}

/** PostgreSQL's boolean input: any unambiguous prefix of true/false/yes/no, on/off, 1/0, any case. */
function boolText(text: string): Truth {
  const s = text.trim().toLowerCase();
  if (s === '') return undefined;
  if ('true'.startsWith(s) || 'yes'.startsWith(s) || s === 'on' || s === '1') return true;
  if ('false'.startsWith(s) || 'no'.startsWith(s) || s === 'off' || s === 'of' || s === '0') return false;
  return undefined;
}

/** A constant's value class: null, a non-null constant, or `undefined` when not a constant. */
function valueKind(node: unknown): null | 'value' | undefined {
  const c = (node as Node | undefined)?.A_Const as Node | undefined;
  if (c !== undefined) return c.isnull === true ? null : 'value';
  const t = truth(node);
  return t === undefined ? undefined : t === null ? null : 'value';
}

function boolExpr(b: Node): Truth {
  const args = (Array.isArray(b.args) ? b.args : []).map(truth);
  switch (b.boolop) {
    case 'NOT_EXPR': {
      const v = args[0];
      return v === undefined || v === null ? v : !v;
    }
    case 'AND_EXPR':
      if (args.includes(false)) return false;
      if (args.includes(undefined)) return undefined;
      return args.includes(null) ? null : true;
    case 'OR_EXPR':
      if (args.includes(true)) return true;
      if (args.includes(undefined)) return undefined;
      return args.includes(null) ? null : false;
    default:
      return undefined;
  }
}

const REFLEXIVE: Readonly<Record<string, boolean>> = { '=': true, '<=': true, '>=': true, '<>': false, '!=': false, '<': false, '>': false };

function comparison(b: Node): Truth {
  const op = lastName(b.name);
  if (b.kind === 'AEXPR_OP' && op !== undefined && op in REFLEXIVE) {
    const l = number(b.lexpr);
    const r = number(b.rexpr);
    if (l !== undefined && r !== undefined) return compare(op, l, r);
    const ls = text(b.lexpr);
    const rs = text(b.rexpr);
    if (ls !== undefined && rs !== undefined && (op === '=' || op === '<>' || op === '!=')) return (ls === rs) === (op === '=');
    // The same expression on both sides (`id = id`): true for every row where it is not null.
    if (sameExpression(b.lexpr, b.rexpr)) return REFLEXIVE[op];
    return undefined;
  }
  if (b.kind === 'AEXPR_NOT_DISTINCT' && sameExpression(b.lexpr, b.rexpr)) return true;
  if (b.kind === 'AEXPR_DISTINCT' && sameExpression(b.lexpr, b.rexpr)) return false;
  if (b.kind === 'AEXPR_IN') {
    const list = (b.rexpr as { List?: { items?: unknown } } | undefined)?.List?.items ?? b.rexpr;
    if (Array.isArray(list) && list.some((item) => sameExpression(b.lexpr, item))) return op === '=';
  }
  return undefined;
}

function compare(op: string, l: number, r: number): boolean {
  switch (op) {
    case '=': return l === r;
    case '<=': return l <= r;
    case '>=': return l >= r;
    case '<': return l < r;
    case '>': return l > r;
    default: return l !== r;
  }
}

function number(node: unknown): number | undefined {
  const c = (node as Node | undefined)?.A_Const as Node | undefined;
  if (c === undefined) return undefined;
  if (c.ival !== undefined) return Number((c.ival as Node).ival ?? 0);
  if (c.fval !== undefined) {
    const n = Number((c.fval as Node).fval);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

function text(node: unknown): string | undefined {
  const c = (node as Node | undefined)?.A_Const as Node | undefined;
  return c?.sval === undefined ? undefined : stringOf((c.sval as Node).sval);
}

/**
 * The same expression, free of anything that could differ between its two evaluations (function calls,
 * subqueries, parameters are fine: `$1 = $1` is the same value twice).
 */
function sameExpression(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return false;
  const sa = shape(a);
  return sa !== undefined && sa === shape(b);
}

function shape(node: unknown): string | undefined {
  let deterministic = true;
  const text = JSON.stringify(node, (key, value: unknown) => {
    if (key === 'location') return undefined;
    if (key === 'FuncCall' || key === 'SubLink') deterministic = false;
    return value;
  });
  return deterministic ? text : undefined;
}

const stringOf = (v: unknown): string => (typeof v === 'string' ? v : '');

function lastName(names: unknown): string | undefined {
  if (!Array.isArray(names)) return undefined;
  const last = (names.at(-1) as { String?: { sval?: unknown } } | undefined)?.String?.sval;
  return typeof last === 'string' ? last.toLowerCase() : undefined;
}

/**
 * Whether the condition can refer to the target's row: an unqualified column (it may be the target's),
 * or one qualified with the target's alias, or its name when it has no alias. `WHERE CURRENT OF` names
 * a cursor position, a row of the target.
 */
function refersToTarget(condition: unknown, target: Target | undefined): boolean {
  const alias = target?.alias?.aliasname;
  const name = typeof alias === 'string' ? alias : typeof target?.relname === 'string' ? target.relname : undefined;
  let found = false;
  const walk = (node: unknown): void => {
    if (found || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    for (const [key, value] of Object.entries(node as Node)) {
      if (key === 'CurrentOfExpr') found = true;
      else if (key === 'ColumnRef') {
        const fields = ((value as Node).fields as unknown[] | undefined) ?? [];
        if (fields.length <= 1) found = true;
        else {
          const qualifier = (fields.at(-2) as { String?: { sval?: unknown } } | undefined)?.String?.sval;
          if (qualifier === name) found = true;
        }
      } else walk(value);
      if (found) return;
    }
  };
  walk(condition);
  return found;
}
