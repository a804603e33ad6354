import type { Principal } from '../identity/principal.js';
import type { CallerView, CallFacts, ResourceAccess, ResourceKind, ToolGrant } from '../tool.js';
import { evaluate, principalMatches } from './evaluate.js';
import { globMatch } from './glob.js';
import { callScope } from './scope.js';
import type { Policy } from './load.js';
import type { PolicyRule } from './schema.js';
import { SQL_CLASSES, type SqlClass } from './sql/classes.js';

/**
 * The governed tools that act on each kind of resource. A tool that reads buckets or log scopes is added
 * here with it; until then those resources offer nothing to use and are not listed.
 */
const RESOURCE_TOOLS: Readonly<Record<ResourceKind, readonly string[]>> = {
  connection: ['query_sql'],
  bucket: ['read_bucket'],
  log_scope: ['tail_logs'],
};

/** Classes a statement can have (text that does not parse never reaches policy: it is INVALID_SQL). */
const STATEMENT_CLASSES: readonly SqlClass[] = SQL_CLASSES.filter((c) => c !== 'unparseable');

/**
 * What policy lets a caller do on each resource, computed by evaluating the same `evaluate()` the server
 * uses for a representative call of every kind (one per SQL class for query_sql).
 */
export function accessFor(policy: Policy, caller: CallerView): ResourceAccess[] {
  const principal: Principal = { ...caller, dev: !caller.verified };
  const { connections, buckets, logScopes } = policy.file.resources;
  const all: [ResourceKind, string, { description?: string | undefined }][] = [
    ...Object.entries(connections).map(([name, r]): [ResourceKind, string, typeof r] => ['connection', name, r]),
    ...Object.entries(buckets).map(([name, r]): [ResourceKind, string, typeof r] => ['bucket', name, r]),
    ...Object.entries(logScopes).map(([name, r]): [ResourceKind, string, typeof r] => ['log_scope', name, r]),
  ];
  return all.map(([kind, name, resource]) => {
    const effects: Record<string, 'allow' | 'approve' | 'deny'> = {};
    const grants: (Omit<ToolGrant, 'sqlClasses'> & { sqlClasses?: SqlClass[] })[] = [];
    for (const tool of RESOURCE_TOOLS[kind]) {
      const conditional = hasConditions(policy, principal, tool, name);
      const decide = (cls?: SqlClass): ReturnType<typeof evaluate> => evaluate(policy, { principal, tool, facts: factsFor(kind, name, cls) });
      if (kind === 'bucket') {
        // What a listing of the whole bucket gets, then one grant per effect with the globs it covers.
        const listing = evaluate(policy, { principal, tool, facts: { resource: { kind, name }, listPrefix: '' } });
        effects[tool] = listing.effect;
        if (listing.effect !== 'deny') grants.push(...objectGrants(policy, principal, tool, name));
        continue;
      }
      if (kind === 'log_scope') {
        const names = logScopes[name]?.logNames;
        const decision = evaluate(policy, { principal, tool, facts: { resource: { kind, name }, ...(names === undefined ? {} : { logNames: names }) } });
        effects[tool] = decision.effect;
        if (decision.effect === 'deny') continue;
        const scope = callScope(policy, principal, tool, { resource: { kind, name } }, decision);
        grants.push({ ...grant(tool, decision, conditional), ...(names === undefined ? {} : { logNames: [...names] }), ...(scope.logFilters.length === 0 ? {} : { logFilters: [...scope.logFilters] }) });
        continue;
      }
      if (tool !== 'query_sql') {
        const decision = decide();
        effects[tool] = decision.effect;
        if (decision.effect !== 'deny') grants.push(grant(tool, decision, conditional));
        continue;
      }
      for (const cls of SQL_CLASSES) {
        const decision = decide(cls);
        effects[cls] = decision.effect;
        if (decision.effect === 'deny' || !STATEMENT_CLASSES.includes(cls)) continue;
        const groups = decision.approval?.approverGroups ?? [];
        const same = grants.find((g) => g.tool === tool && g.effect === decision.effect && (g.approverGroups ?? []).join('\n') === groups.join('\n'));
        if (same?.sqlClasses !== undefined) same.sqlClasses.push(cls);
        else grants.push({ ...grant(tool, decision, conditional), sqlClasses: [cls] });
      }
    }
    return { kind, name, ...(resource.description === undefined ? {} : { description: resource.description }), effects, grants };
  });
}

function grant(tool: string, decision: ReturnType<typeof evaluate>, conditional: boolean): Omit<ToolGrant, 'sqlClasses'> {
  return {
    tool,
    effect: decision.effect === 'approve' ? 'approve' : 'allow',
    ...(decision.approval === undefined ? {} : { approverGroups: [...decision.approval.approverGroups] }),
    conditional,
  };
}

/** read_bucket grants on one bucket: allow and approve rules grouped by effect and approvers, with their globs. */
function objectGrants(policy: Policy, principal: Principal, tool: string, bucket: string): Omit<ToolGrant, 'sqlClasses'>[] {
  const applies = (r: PolicyRule): boolean => r.tools.includes(tool) && principalMatches(r.principals, principal) && (r.resources === undefined || r.resources.some((g) => globMatch(g, bucket)));
  const rules = policy.file.rules.filter(applies);
  const denied = [...new Set(rules.filter((r) => r.effect === 'deny').flatMap((r) => r.objects ?? ['**']))];
  const out: (Omit<ToolGrant, 'sqlClasses'> & { objects: string[] })[] = [];
  for (const r of rules) {
    if (r.effect === 'deny') continue;
    const groups = r.approval?.approverGroups ?? [];
    const same = out.find((g) => g.effect === r.effect && (g.approverGroups ?? []).join('\n') === groups.join('\n'));
    const objects = r.objects ?? ['**'];
    if (same !== undefined) {
      for (const o of objects) if (!same.objects.includes(o)) same.objects.push(o);
      continue;
    }
    out.push({
      tool,
      effect: r.effect,
      ...(r.effect === 'approve' ? { approverGroups: [...groups] } : {}),
      conditional: r.objects !== undefined || denied.length > 0,
      objects: [...objects],
      ...(denied.length === 0 ? {} : { deniedObjects: denied }),
    });
  }
  return out;
}

function factsFor(kind: ResourceKind, name: string, cls: SqlClass | undefined): CallFacts {
  const resource = { kind, name };
  if (cls === undefined) return { resource };
  return { resource, sql: { class: cls, classesSeen: [cls], statementType: null, tables: [], tablesWritten: [], functions: [], reason: '' } };
}

/** Whether a rule that applies to this caller, tool and resource narrows calls by what they touch. */
function hasConditions(policy: Policy, principal: Principal, tool: string, resource: string): boolean {
  const narrows = (r: PolicyRule): boolean =>
    r.sql?.tables !== undefined ||
    r.sql?.tablesWritten !== undefined ||
    r.sql?.functions !== undefined ||
    r.sql?.columns !== undefined ||
    r.objects !== undefined ||
    r.logNames !== undefined ||
    r.logFilter !== undefined;
  return policy.file.rules.some(
    (r) => r.tools.includes(tool) && principalMatches(r.principals, principal) && (r.resources === undefined || r.resources.some((g) => globMatch(g, resource))) && narrows(r),
  );
}
