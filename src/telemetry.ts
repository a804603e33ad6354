/**
 * What the running server tells its metrics, as plain events. The pipeline, the audit sink and the approval
 * service report here; only src/metrics/ turns the events into Prometheus series, so nothing else depends on
 * a metrics library. Every argument is a name from a closed set, a code, a count or a duration: never a
 * value, SQL text or an identity.
 */

/** The connector a governed tool runs through. */
export type ConnectorName = 'postgres' | 'storage' | 'logging';

/** One governed call as it ended. */
export interface CallTelemetry {
  /** A tool airlock serves, or `unknown` for any other name a client sent. */
  readonly tool: string;
  /** The policy decision, or `none` when the call ended before one (unauthenticated, invalid input). */
  readonly effect: string;
  /** The outcome the audit record keeps (ok, denied, approval_required, error, …). */
  readonly outcome: string;
  readonly seconds: number;
}

export interface Telemetry {
  call(call: CallTelemetry): void;
  /** Time spent in one pipeline stage itself, the stages it wraps left out. */
  stage(stage: string, seconds: number): void;
  /** Values masked in one result, by detector or rule type. */
  maskFindings(findings: Readonly<Record<string, number>>): void;
  /** One write to the audit store: the started entry, or the record of an outcome. */
  auditWrite(entry: 'started' | 'record', seconds: number, ok: boolean): void;
  /** A connector failed a call (the stable error code it ended with). */
  upstreamError(connector: ConnectorName, code: string): void;
  /** A request was decided (quorum reached, or denied): from its opening to the decision. */
  approvalDecided(decision: 'approved' | 'denied', seconds: number): void;
}

/** Reports nowhere: a server started without metrics. */
export const NO_TELEMETRY: Telemetry = Object.freeze({
  call: () => undefined,
  stage: () => undefined,
  maskFindings: () => undefined,
  auditWrite: () => undefined,
  upstreamError: () => undefined,
  approvalDecided: () => undefined,
});
