/**
 * The Prometheus series of a running airlock (prom-client), fed through the Telemetry interface. Labels are
 * names from closed sets (tools, effects, outcomes, stages, error codes, connectors, detector types): no
 * values, SQL text or identities, and every label set is bounded, whatever clients send.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import { labelledHistogram, type LabelledHistogram } from './histogram.js';
import type { Telemetry } from '../telemetry.js';

export interface MetricsSources {
  readonly version: string;
  /** Approval requests waiting for a decision, read at each scrape. */
  readonly approvalsPending?: () => Promise<number>;
  /** Bytes the audit store holds, read at each scrape. */
  readonly auditBytes?: () => Promise<number>;
}

export interface Metrics {
  readonly telemetry: Telemetry;
  /** The exposition in Prometheus text format, and its content type. */
  exposition(): Promise<{ readonly contentType: string; readonly body: string }>;
}

/** Stages and calls take from tens of microseconds to an approval's wait in place (45 s by default). */
const CALL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const AUDIT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** Approvers answer in seconds to hours. */
const DECISION_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600];
/** A label value: a name or code of letters, digits and `_`; anything else is reported as `other`. */
const NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
/** Distinct masking types kept as their own series (custom detectors come from the policy); more are `other`. */
const MAX_TYPES = 64;

/** A registry of airlock's series plus Node's process metrics, and the telemetry that feeds it. */
export function createMetrics(sources: MetricsSources): Metrics {
  if (typeof sources?.version !== 'string') throw new TypeError('createMetrics: version is required');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const info = new Gauge({ name: 'airlock_build_info', help: 'airlock version (always 1)', labelNames: ['version'], registers: [registry] });
  info.set({ version: sources.version.replace(/[^A-Za-z0-9_.+-]/g, '_').slice(0, 64) }, 1);
  const calls = new Counter({ name: 'airlock_calls_total', help: 'Governed tool calls by tool, policy effect and audited outcome', labelNames: ['tool', 'effect', 'outcome'], registers: [registry] });
  // The histograms observed on every call (fourteen observations a call) are airlock's own: see histogram.ts.
  const perCall = (histogram: LabelledHistogram): LabelledHistogram => {
    // The registry prints any metric whose get() returns series in its form; its type names only its own classes.
    registry.registerMetric(histogram as unknown as Metric);
    return histogram;
  };
  const callSeconds = perCall(labelledHistogram({ name: 'airlock_call_duration_seconds', help: 'Governed tool calls from arrival to audited answer', labelName: 'tool', buckets: CALL_BUCKETS }));
  const stageSeconds = perCall(labelledHistogram({ name: 'airlock_stage_duration_seconds', help: 'Time in each pipeline stage itself (the stages it wraps left out)', labelName: 'stage', buckets: CALL_BUCKETS }));
  const findings = new Counter({ name: 'airlock_masking_findings_total', help: 'Values masked in results, by detector or rule type', labelNames: ['type'], registers: [registry] });
  const auditSeconds = perCall(labelledHistogram({ name: 'airlock_audit_write_seconds', help: 'Writes to the audit store: started entries and outcome records', labelName: 'entry', buckets: AUDIT_BUCKETS }));
  const auditFailures = new Counter({ name: 'airlock_audit_write_failures_total', help: 'Audit writes that failed (the call was refused)', labelNames: ['entry'], registers: [registry] });
  const upstream = new Counter({ name: 'airlock_upstream_errors_total', help: 'Calls a connector failed, by connector and error code', labelNames: ['connector', 'code'], registers: [registry] });
  const decisions = new Histogram({ name: 'airlock_approval_decision_seconds', help: 'From an approval request to its decision (decisions recorded by this process)', labelNames: ['decision'], buckets: DECISION_BUCKETS, registers: [registry] });
  const { approvalsPending, auditBytes } = sources;
  if (approvalsPending !== undefined) {
    new Gauge({
      name: 'airlock_approvals_pending',
      help: 'Approval requests waiting for a decision (all replicas, with a shared store)',
      registers: [registry],
      async collect() {
        // A store that cannot answer leaves the last value: the scrape still gets every other series.
        await approvalsPending().then((n) => this.set(n), () => undefined);
      },
    });
  }
  if (auditBytes !== undefined) {
    new Gauge({
      name: 'airlock_audit_store_bytes',
      help: 'Bytes the audit store holds (JSON journal and segments, or the PostgreSQL tables)',
      registers: [registry],
      async collect() {
        await auditBytes().then((n) => this.set(n), () => undefined);
      },
    });
  }
  const types = new Set<string>();
  const typeLabel = (type: string): string => {
    if (!NAME.test(type)) return 'other';
    if (types.has(type)) return type;
    if (types.size >= MAX_TYPES) return 'other';
    types.add(type);
    return type;
  };
  const telemetry: Telemetry = {
    call(call) {
      calls.inc({ tool: label(call.tool), effect: label(call.effect), outcome: label(call.outcome) });
      callSeconds.observe(label(call.tool), call.seconds);
    },
    stage: (stage, seconds) => stageSeconds.observe(label(stage), seconds),
    maskFindings(found) {
      for (const [type, count] of Object.entries(found)) if (count > 0) findings.inc({ type: typeLabel(type) }, count);
    },
    auditWrite(entry, seconds, ok) {
      auditSeconds.observe(entry, seconds);
      if (!ok) auditFailures.inc({ entry });
    },
    upstreamError: (connector, code) => upstream.inc({ connector, code: label(code) }),
    approvalDecided: (decision, seconds) => decisions.observe({ decision }, seconds),
  };
  return {
    telemetry,
    async exposition() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/** A label value from a closed set of names; anything unexpected collapses into `other`. */
function label(value: string): string {
  return NAME.test(value) ? value : 'other';
}
