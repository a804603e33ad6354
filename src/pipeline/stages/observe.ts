import type { Logger } from '../../log.js';
import type { Telemetry } from '../../telemetry.js';
import type { CallContext, Next, Stage } from '../context.js';

export interface ObserveStageOptions {
  readonly telemetry: Telemetry;
  /** One line per call: ids, tool, decision, outcome and duration (never arguments or results). */
  readonly log?: Logger;
  /** The tools airlock serves: any other name a client sends is reported as `unknown` (bounded label sets). */
  readonly knownTools: () => Iterable<string>;
  readonly clock: { now(): number };
}

/**
 * Outside the audit stage, which never throws: once a call has its response and its record, reports what it
 * was to the metrics and writes its line to the operator log. A failing report never changes the call.
 */
export function observeStage(options: ObserveStageOptions): Stage {
  const { telemetry, log, clock } = options;
  if (typeof telemetry?.call !== 'function') throw new TypeError('observeStage: telemetry is required');
  const known = new Set(options.knownTools());
  return async function observe(ctx: CallContext, next: Next): Promise<void> {
    try {
      await next();
    } finally {
      try {
        report(ctx, known, telemetry, log, clock.now());
      } catch {
        // Metrics and the log are for operators: the call's answer and its audit record stand without them.
      }
    }
  };
}

function report(ctx: CallContext, known: ReadonlySet<string>, telemetry: Telemetry, log: Logger | undefined, now: number): void {
  const tool = known.has(ctx.toolName) ? ctx.toolName : 'unknown';
  const effect = ctx.decision?.effect ?? 'none';
  const outcome = ctx.error?.outcome ?? ctx.outcome ?? 'ok';
  const ms = Math.max(0, now - ctx.startedAt);
  telemetry.call({ tool, effect, outcome, seconds: ms / 1000 });
  if (ctx.error === undefined && ctx.maskReport !== undefined) telemetry.maskFindings(ctx.maskReport.findings);
  const code = ctx.error?.code;
  log?.(code === 'INTERNAL' || code === 'AUDIT_UNAVAILABLE' ? 'error' : 'info', `call ${tool}: ${outcome}${code === undefined ? '' : ` (${code})`}`, {
    auditId: ctx.id,
    ...(ctx.requestId === undefined ? {} : { requestId: ctx.requestId }),
    sessionId: ctx.sessionId,
    transport: ctx.transport,
    tool,
    effect,
    outcome,
    ...(code === undefined ? {} : { code }),
    durationMs: ms,
  });
}
