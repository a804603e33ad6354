import type { Principal } from '../identity/principal.js';
import type { CallFacts, CallScope } from '../tool.js';
import { evaluate, principalMatches, type Decision } from './evaluate.js';
import { globMatch } from './glob.js';
import type { Policy } from './load.js';
import { objectGlobLiteralPrefix } from './object-glob.js';

/**
 * What policy narrows one decided call to (see `CallScope`), computed with the same `evaluate()` that
 * decided it: a listing shows a name only when a read of that name by the same caller would run or go to
 * approval, and a log call carries every filter policy forces on it.
 */
export function callScope(policy: Policy, principal: Principal, tool: string, facts: CallFacts, decision: Decision): CallScope {
  const resource = facts.resource;
  const file = policy.file;
  const deciding = new Set(decision.ruleIds);
  const logFilters: string[] = [];
  if (resource?.kind === 'log_scope') {
    const scopeFilter = file.resources.logScopes[resource.name]?.filter;
    if (scopeFilter !== undefined) logFilters.push(scopeFilter);
    for (const rule of file.rules) {
      if (deciding.has(rule.id) && rule.effect !== 'deny' && rule.forceLogFilter !== undefined) logFilters.push(rule.forceLogFilter);
    }
  }
  const bucket = resource?.kind === 'bucket' ? resource : undefined;
  const visible = (extra: CallFacts): boolean => bucket !== undefined && evaluate(policy, { principal, tool, facts: { resource: bucket, ...extra } }).effect !== 'deny';
  return {
    logFilters,
    objectVisible: (name) => visible({ object: name }),
    prefixVisible: (prefix) => visible({ listPrefix: prefix }),
    listPrefix: (prefix, delimiter) => (bucket === undefined ? prefix : narrowedPrefix(policy, principal, tool, bucket.name, prefix, delimiter)),
  };
}

/**
 * The longest prefix every object this caller may see under `prefix` starts with: the common literal start
 * of the object globs of the allow and approve rules that apply (none when one of them has no globs).
 */
function narrowedPrefix(policy: Policy, principal: Principal, tool: string, bucket: string, prefix: string, delimiter: string | undefined): string {
  const rules = policy.file.rules.filter(
    (r) => r.effect !== 'deny' && r.tools.includes(tool) && principalMatches(r.principals, principal) && (r.resources === undefined || r.resources.some((g) => globMatch(g, bucket))),
  );
  if (rules.length === 0 || rules.some((r) => r.objects === undefined)) return prefix;
  const starts = rules.flatMap((r) => (r.objects ?? []).map(objectGlobLiteralPrefix)).filter((l) => l.startsWith(prefix) || prefix.startsWith(l));
  if (starts.length === 0 || starts.some((l) => l.length <= prefix.length)) return prefix;
  let common = starts[0] as string;
  for (const l of starts) {
    let i = 0;
    while (i < common.length && i < l.length && common[i] === l[i]) i++;
    common = common.slice(0, i);
  }
  if (delimiter !== undefined && delimiter !== '') {
    const cut = common.indexOf(delimiter, prefix.length);
    if (cut >= 0) common = common.slice(0, cut);
  }
  return common.length > prefix.length ? common : prefix;
}
