import type { Principal } from '../identity/principal.js';
import type { CallFacts, CallLimits } from '../tool.js';
import { globMatch } from './glob.js';
import { objectGlobCovers, objectGlobMatch, objectGlobReaches } from './object-glob.js';
import { sensitiveColumns } from './sensitive.js';
import type { Policy } from './load.js';
import type { PolicyRule } from './schema.js';

export type Effect = 'allow' | 'approve' | 'deny';

export interface ApprovalRequirement {
  /** Human approvers' groups; empty when the caller's confirmation is the whole step. */
  readonly approverGroups: readonly string[];
  /** The caller's own user must confirm the exact call first (never counted as an approval). */
  readonly confirmByCaller: boolean;
  readonly quorum: number;
  readonly timeoutSeconds: number;
  readonly justificationRequired: boolean;
}

/** The outcome of evaluating one call against the policy. `ruleIds` are the deciding rules. */
export interface Decision {
  readonly effect: Effect;
  readonly ruleIds: readonly string[];
  readonly reason: string;
  readonly policyVersion: string;
  readonly limits: CallLimits;
  readonly approval?: ApprovalRequirement;
}

export interface EvaluationRequest {
  readonly principal: Principal;
  readonly tool: string;
  readonly facts: CallFacts;
}

const matchers = new WeakMap<readonly string[], ReturnType<typeof sensitiveColumns>>();
function columnMatcher(patterns: readonly string[]): ReturnType<typeof sensitiveColumns> {
  if (!matchers.has(patterns)) matchers.set(patterns, sensitiveColumns(patterns));
  return matchers.get(patterns);
}

/** Built-in limits, used where neither the policy defaults, the resource nor a rule say otherwise. */
export const BUILTIN_LIMITS: CallLimits = Object.freeze({ maxRows: 1000, maxBytes: 1024 * 1024, timeoutMs: 15_000, maxWindowMs: 24 * 3600_000, maxFollowMs: 60_000 });

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/** A policy duration ("15m", "24h") in milliseconds. */
export function durationMs(text: string): number {
  return Number(text.slice(0, -1)) * (UNIT_MS[text.slice(-1)] ?? Number.NaN);
}

/** Limits as policy writes them (any subset). */
interface PolicyLimits {
  readonly maxRows?: number | undefined;
  readonly maxBytes?: number | undefined;
  readonly timeoutMs?: number | undefined;
  readonly maxWindow?: string | undefined;
  readonly maxFollowSeconds?: number | undefined;
}

function asCallLimits(l: PolicyLimits): Partial<CallLimits> {
  return {
    ...(l.maxRows === undefined ? {} : { maxRows: l.maxRows }),
    ...(l.maxBytes === undefined ? {} : { maxBytes: l.maxBytes }),
    ...(l.timeoutMs === undefined ? {} : { timeoutMs: l.timeoutMs }),
    ...(l.maxWindow === undefined ? {} : { maxWindowMs: durationMs(l.maxWindow) }),
    ...(l.maxFollowSeconds === undefined ? {} : { maxFollowMs: l.maxFollowSeconds * 1000 }),
  };
}

function matchesPrincipal(rule: PolicyRule, principal: Principal): boolean {
  return principalMatches(rule.principals, principal);
}

/** Whether a principal matches a `principals` block of the policy (absent: everyone). */
export function principalMatches(p: PolicyRule['principals'], principal: Principal): boolean {
  if (p === undefined) return true;
  if (p.groups !== undefined && !p.groups.some((g) => principal.groups.includes(g))) return false;
  if (p.emails !== undefined) {
    const email = principal.email?.toLowerCase();
    if (email === undefined || !p.emails.some((e) => globMatch(e.toLowerCase(), email))) return false;
  }
  if (p.subs !== undefined && !p.subs.includes(principal.sub)) return false;
  if (p.issuers !== undefined && !p.issuers.includes(principal.issuer)) return false;
  return true;
}

function matches(rule: PolicyRule, request: EvaluationRequest): boolean {
  if (!rule.tools.includes(request.tool)) return false;
  if (!matchesPrincipal(rule, request.principal)) return false;
  const resource = request.facts.resource;
  if (rule.resources !== undefined) {
    if (resource === undefined || !rule.resources.some((g) => globMatch(g, resource.name))) return false;
  }
  // Object and log conditions only speak about bucket and log calls.
  if (rule.objects !== undefined && resource?.kind !== 'bucket') return false;
  if ((rule.logNames !== undefined || rule.logFilter !== undefined) && resource?.kind !== 'log_scope') return false;
  if (rule.logFilter !== undefined) {
    const filter = request.facts.logFilter ?? '';
    if (!rule.logFilter.some((g) => globMatch(g, filter))) return false;
  }
  if (rule.objects !== undefined) {
    const object = request.facts.object;
    const listed = request.facts.listPrefix;
    if (object !== undefined) {
      if (!rule.objects.some((g) => objectGlobMatch(g, object))) return false;
    } else if (listed !== undefined) {
      // A listing: allow/approve reach it when some name under the prefix could match; a deny only when
      // it matches every name under it (names it hides one by one are filtered out of the listing).
      const hit = rule.effect === 'deny' ? (g: string): boolean => objectGlobCovers(g, listed) : (g: string): boolean => objectGlobReaches(g, listed);
      if (!rule.objects.some(hit)) return false;
    } else return false;
  }
  if (rule.logNames !== undefined) {
    const names = request.facts.logNames;
    // A call that does not name its logs reads them all: only a deny-list can match it.
    if (names === undefined || names.length === 0) {
      if (rule.effect !== 'deny') return false;
    } else {
      const hit = (n: string): boolean => (rule.logNames ?? []).some((g) => globMatch(g, n));
      if (!(rule.effect === 'deny' ? names.some(hit) : names.every(hit))) return false;
    }
  }
  if (rule.sql !== undefined) {
    const sql = request.facts.sql;
    if (sql === undefined) return false;
    if (rule.sql.classes !== undefined && !rule.sql.classes.includes(sql.class)) return false;
    // An allow-list must cover the whole statement; a deny-list fires on anything it names.
    const covers = (globs: readonly string[] | undefined, names: readonly string[]): boolean => {
      if (globs === undefined) return true;
      const hit = (name: string): boolean => globs.some((g) => globMatch(g.toLowerCase(), name.toLowerCase()));
      return rule.effect === 'deny' ? names.some(hit) : names.every(hit);
    };
    if (!covers(rule.sql.tables, sql.tables)) return false;
    if (!covers(rule.sql.tablesWritten, sql.tablesWritten)) return false;
    if (!covers(rule.sql.functions, sql.functions)) return false;
    if (rule.sql.columns !== undefined) {
      const referenced = sql.lineage?.columnsReferenced;
      // Without lineage the columns are unknown: an allow-list cannot cover them, a deny-list fires.
      if (referenced === undefined || (sql.lineage?.unresolved.length ?? 0) > 0) return rule.effect === 'deny';
      const matcher = columnMatcher(rule.sql.columns);
      const hit = (base: string): boolean => {
        const [schema = '', table = '', column = ''] = base.split('.');
        return matcher?.(schema, table, column) ?? false;
      };
      if (!(rule.effect === 'deny' ? referenced.some(hit) : referenced.every(hit))) return false;
    }
  }
  return true;
}

function strictest(a: CallLimits, policyLimits: PolicyLimits | undefined): CallLimits {
  if (policyLimits === undefined) return a;
  const b = asCallLimits(policyLimits);
  return {
    maxRows: Math.min(a.maxRows, b.maxRows ?? a.maxRows),
    maxBytes: Math.min(a.maxBytes, b.maxBytes ?? a.maxBytes),
    timeoutMs: Math.min(a.timeoutMs, b.timeoutMs ?? a.timeoutMs),
    maxWindowMs: Math.min(a.maxWindowMs, b.maxWindowMs ?? a.maxWindowMs),
    maxFollowMs: Math.min(a.maxFollowMs, b.maxFollowMs ?? a.maxFollowMs),
  };
}

function withDefaults(builtin: CallLimits, defaults: PolicyLimits | undefined): CallLimits {
  return { ...builtin, ...(defaults === undefined ? {} : asCallLimits(defaults)) };
}

/**
 * Decides a call. Pure: no I/O, no clock. No matching rule → deny; any matching deny wins; approve beats
 * allow; limits merge to the strictest of the defaults, the resource and every matching rule.
 */
export function evaluate(policy: Policy, request: EvaluationRequest): Decision {
  const file = policy.file;
  const matching = file.rules.filter((rule) => matches(rule, request));
  const base = { ruleIds: [] as string[], policyVersion: policy.version };
  // The policy's defaults replace the built-in ones (the schema bounds them); resources and rules only tighten.
  let limits = withDefaults(BUILTIN_LIMITS, file.defaults.limits);
  const resource = request.facts.resource;
  if (resource?.kind === 'connection') limits = strictest(limits, file.resources.connections[resource.name]?.limits);
  if (resource?.kind === 'bucket') limits = strictest(limits, file.resources.buckets[resource.name]?.limits);
  if (resource?.kind === 'log_scope') limits = strictest(limits, file.resources.logScopes[resource.name]?.limits);

  const denies = matching.filter((r) => r.effect === 'deny');
  if (denies.length > 0) {
    return {
      ...base,
      effect: 'deny',
      ruleIds: denies.map((r) => r.id),
      reason: denies.map((r) => r.reason ?? 'denied').join(' '),
      limits,
    };
  }
  for (const rule of matching) limits = strictest(limits, rule.limits);
  const approves = matching.filter((r) => r.effect === 'approve');
  const allows = matching.filter((r) => r.effect === 'allow');
  const lineage = request.facts.sql?.lineage;
  const sensitiveUse = file.masking.sensitiveUse;
  if (lineage !== undefined && sensitiveUse !== undefined && (approves.length > 0 || allows.length > 0)) {
    // Sensitive columns used where they can reveal values, or a query that cannot be resolved: a human decides.
    const why =
      lineage.sensitiveUsedOutside.length > 0
        ? `The query uses sensitive column${lineage.sensitiveUsedOutside.length > 1 ? 's' : ''} ${lineage.sensitiveUsedOutside.join(', ')} outside its output (filters, joins, ordering, grouping, copies into other columns or errors can reveal values).`
        : lineage.unresolved.length > 0
          ? `airlock cannot tell which outputs derive from sensitive columns (${lineage.unresolved[0] ?? 'unresolved'}).`
          : undefined;
    if (why !== undefined) {
      const groups = [...new Set([...sensitiveUse.approverGroups, ...approves.flatMap((r) => r.approval?.approverGroups ?? [])])];
      return {
        ...base,
        effect: 'approve',
        ruleIds: [...approves, ...allows].map((r) => r.id),
        reason: why,
        limits,
        approval: {
          approverGroups: groups,
          confirmByCaller: approves.some((r) => r.approval?.confirmByCaller === true),
          quorum: Math.max(1, ...approves.map((r) => r.approval?.quorum ?? 1)),
          timeoutSeconds: Math.min(900, ...approves.map((r) => r.approval?.timeoutSeconds ?? 900)),
          justificationRequired: approves.some((r) => r.approval?.justificationRequired === true),
        },
      };
    }
  }
  if (request.facts.listPrefix !== undefined && request.facts.object === undefined && approves.length > 0) {
    // A listing shows names only, and only the names a read could reach (each checked as a read): the
    // content behind an approve rule still waits for its approval when it is read.
    return { ...base, effect: 'allow', ruleIds: approves.map((r) => r.id).concat(allows.map((r) => r.id)), reason: 'listing names only: reading objects under an approve rule needs approval', limits };
  }
  if (approves.length > 0) {
    const groups = [...new Set(approves.flatMap((r) => r.approval?.approverGroups ?? []))];
    return {
      ...base,
      effect: 'approve',
      ruleIds: approves.map((r) => r.id),
      reason: approves.map((r) => r.reason ?? r.description ?? `rule ${r.id} requires approval.`).join(' '),
      limits,
      approval: {
        approverGroups: groups,
        confirmByCaller: approves.some((r) => r.approval?.confirmByCaller === true),
        quorum: Math.max(...approves.map((r) => r.approval?.quorum ?? 1)),
        timeoutSeconds: Math.min(...approves.map((r) => r.approval?.timeoutSeconds ?? 900)),
        justificationRequired: approves.some((r) => r.approval?.justificationRequired === true),
      },
    };
  }
  if (allows.length > 0) {
    return { ...base, effect: 'allow', ruleIds: allows.map((r) => r.id), reason: `allowed by ${allows.map((r) => r.id).join(', ')}`, limits };
  }
  return {
    ...base,
    effect: 'deny',
    reason: 'no rule allows this call (default deny).',
    limits,
  };
}
