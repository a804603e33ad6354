import type { ChainedRecord } from '../audit/chain.js';

/** One row of the viewer's sessions list. */
export interface SessionSummary {
  readonly sessionId: string;
  readonly transport: string;
  readonly principal: string;
  readonly calls: number;
  readonly first: string;
  readonly last: string;
  readonly outcomes: Readonly<Record<string, number>>;
}

/** Sessions of a store, the most recently active first. */
export function sessionSummaries(records: Iterable<ChainedRecord>): SessionSummary[] {
  const byId = new Map<string, { transport: string; principal: string; calls: number; first: string; last: string; outcomes: Record<string, number> }>();
  for (const r of records) {
    let s = byId.get(r.sessionId);
    if (s === undefined) {
      s = { transport: r.transport, principal: r.principal?.email ?? r.principal?.sub ?? '(no verified identity)', calls: 0, first: r.time, last: r.time, outcomes: {} };
      byId.set(r.sessionId, s);
    }
    s.calls++;
    if (r.time < s.first) s.first = r.time;
    if (r.time > s.last) s.last = r.time;
    if (s.principal === '(no verified identity)' && r.principal !== null) s.principal = r.principal.email ?? r.principal.sub;
    s.outcomes[r.outcome] = (s.outcomes[r.outcome] ?? 0) + 1;
  }
  return [...byId.entries()].map(([sessionId, s]) => ({ sessionId, ...s })).sort((a, b) => (a.last < b.last ? 1 : a.last > b.last ? -1 : 0));
}

/** A call as the timeline shows it: everything but the sealed compliance copy. */
export function timelineEntry(r: ChainedRecord): Omit<ChainedRecord, 'sealedResult'> & { readonly sealed: boolean } {
  const { sealedResult, ...rest } = r;
  return { ...rest, sealed: sealedResult !== undefined };
}
