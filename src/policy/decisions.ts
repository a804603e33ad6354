import type { Principal } from '../identity/principal.js';
import type { SqlFacts } from './sql/classify.js';
import { evaluate, type Decision, type EvaluationRequest } from './evaluate.js';
import type { Policy } from './load.js';

/** Resources (tool × resource pairs) remembered per principal and policy; more start the principal's memo over. */
const MAX_TARGETS = 256;

/**
 * `evaluate()` remembered for calls whose facts are a resource and a statement's SQL facts, the shape of every
 * query_sql call. `evaluate` is pure, a loaded policy never changes (a reload is a new `Policy`), principals are
 * immutable, and the SQL facts of a repeated statement are one shared frozen object: the same four inputs
 * always give the same decision. Entries hang off the policy, the principal and the SQL facts by identity, so
 * each goes when they do (a reload drops the old policy's memo whole). Decisions are returned frozen; a call
 * with any other facts is evaluated afresh.
 */
export class DecisionMemo {
  private readonly byPolicy = new WeakMap<Policy, WeakMap<Principal, Map<string, WeakMap<SqlFacts, Decision>>>>();

  decide(policy: Policy, request: EvaluationRequest): Decision {
    const { facts, principal } = request;
    const sql = facts.sql;
    if (sql === undefined || !Object.isFrozen(sql) || !onlyResourceAndSql(facts)) return evaluate(policy, request);
    let byPrincipal = this.byPolicy.get(policy);
    if (byPrincipal === undefined) this.byPolicy.set(policy, (byPrincipal = new WeakMap()));
    let byTarget = byPrincipal.get(principal);
    if (byTarget === undefined) byPrincipal.set(principal, (byTarget = new Map<string, WeakMap<SqlFacts, Decision>>()));
    // A JSON array: no tool or resource name can make two different targets share a key.
    const target = JSON.stringify([request.tool, facts.resource?.kind ?? null, facts.resource?.name ?? null]);
    let bySql = byTarget.get(target);
    if (bySql === undefined) {
      if (byTarget.size >= MAX_TARGETS) byTarget.clear();
      byTarget.set(target, (bySql = new WeakMap()));
    }
    let decision = bySql.get(sql);
    if (decision === undefined) {
      decision = frozenDecision(evaluate(policy, request));
      bySql.set(sql, decision);
    }
    return decision;
  }
}

function onlyResourceAndSql(facts: EvaluationRequest['facts']): boolean {
  for (const key in facts) if (key !== 'resource' && key !== 'sql') return false;
  return true;
}

function frozenDecision(decision: Decision): Decision {
  Object.freeze(decision.ruleIds);
  Object.freeze(decision.limits);
  if (decision.approval !== undefined) {
    Object.freeze(decision.approval.approverGroups);
    Object.freeze(decision.approval);
  }
  return Object.freeze(decision);
}
