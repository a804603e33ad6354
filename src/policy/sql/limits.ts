/**
 * Bounds on how much of a statement airlock analyses. Hostile SQL can nest subqueries or expressions far
 * deeper than any real query, and every walker over the parse tree would pay for it on every call (or
 * overflow its stack): past these bounds the statement is refused before any analysis, and says which bound.
 */
import { SqlRejectedError } from '../../errors.js';

/** Deepest parse tree analysed, in nodes and lists (about eight per nested subquery, two per operator). */
export const MAX_PARSE_DEPTH = 800;

/** Most analysis steps (expressions and query blocks, counted over every pass) spent on one statement's lineage. */
export const MAX_LINEAGE_STEPS = 200_000;

/** The refusal for a statement nested deeper than the parser or the analysis goes. */
export function tooDeep(): SqlRejectedError {
  return new SqlRejectedError(`the statement nests more than ${MAX_PARSE_DEPTH} levels deep (subqueries, expressions); airlock does not analyse it. Flatten it (CTEs, joins) and call again.`);
}

/** Refuses a parse tree deeper than {@link MAX_PARSE_DEPTH}, without recursion (the check must not overflow itself). */
export function assertParseDepth(tree: unknown): void {
  const stack: [unknown, number][] = [[tree, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== 'object') continue;
    if (depth > MAX_PARSE_DEPTH) throw tooDeep();
    for (const value of Array.isArray(node) ? node : Object.values(node)) {
      if (value !== null && typeof value === 'object') stack.push([value, depth + 1]);
    }
  }
}

/** Counts analysis steps; past {@link MAX_LINEAGE_STEPS} the statement is refused rather than analysed for longer. */
export class AnalysisBudget {
  private steps = 0;

  charge(): void {
    this.steps += 1;
    if (this.steps > MAX_LINEAGE_STEPS) {
      throw new SqlRejectedError(`the statement needs more than ${MAX_LINEAGE_STEPS} steps of column-lineage analysis; airlock does not analyse it. Simplify it and call again.`);
    }
  }
}
