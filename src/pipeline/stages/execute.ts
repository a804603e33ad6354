import type { AuditSink } from '../../audit/record.js';
import type { ImpersonationProvider } from '../../connectors/gcp-credentials.js';
import { AuditUnavailableError, CancelledError, toAirlockError, UpstreamUnavailableError } from '../../errors.js';
import { serviceAccountFor } from '../../policy/downstream.js';
import { callScope } from '../../policy/scope.js';
import type { ConnectorName, Telemetry } from '../../telemetry.js';
import type { GoogleToken, ResourceKind, ToolDeps, ToolResult } from '../../tool.js';
import type { CallContext, Next, Stage } from '../context.js';
import { startedEntry } from './audit.js';
import type { PolicySource } from './policy.js';

export interface ExecuteStageOptions {
  /** Receives the durable "started" entry before the tool runs. */
  readonly audit: AuditSink;
  readonly deps: ToolDeps;
  readonly policy: PolicySource;
  /** Per-principal impersonation for Google APIs; absent when not configured. */
  readonly impersonation?: ImpersonationProvider;
  /** Told of every connector failure (by connector and code). */
  readonly telemetry?: Telemetry;
}

/** The connector behind each kind of resource. */
const CONNECTORS: Readonly<Record<ResourceKind, ConnectorName>> = { connection: 'postgres', bucket: 'storage', log_scope: 'logging' };

/**
 * Records that the call is about to run (durably: if airlock dies mid-call the audit still shows it, as
 * interrupted), runs the tool with the limits policy settled, then lets the mask stage rewrite the result.
 */
export function executeStage(options: ExecuteStageOptions): Stage {
  const { audit, deps, policy, impersonation, telemetry } = options;
  if (typeof audit?.start !== 'function') throw new TypeError('executeStage: an audit sink with start() is required');
  return async function execute(ctx: CallContext, next: Next): Promise<void> {
    const { tool, decision, facts, principal } = ctx;
    if (tool === undefined || decision === undefined || facts === undefined || principal === undefined) {
      throw new TypeError('execute stage needs tool, decision, facts and principal');
    }
    if (ctx.signal.aborted) throw new CancelledError({ detail: 'cancelled before execution' });
    try {
      await audit.start(startedEntry(ctx));
    } catch (error) {
      // No durable trace, no execution.
      throw new AuditUnavailableError({ detail: `started entry not written: ${error instanceof Error ? error.message : String(error)}`, cause: error });
    }
    const googleToken = async (): Promise<GoogleToken> => {
      const serviceAccount = serviceAccountFor(policy.current(), principal);
      if (impersonation === undefined || serviceAccount === undefined) {
        throw new UpstreamUnavailableError('Google credentials for this caller', {
          detail: impersonation === undefined ? 'impersonation is not configured' : 'no downstream.impersonation.byGroup entry matches the caller',
        });
      }
      const token = await impersonation.tokenFor(principal, serviceAccount);
      (ctx.downstream ??= []).push({ kind: 'google_service_account', principal: serviceAccount });
      return token;
    };
    const caller = {
      issuer: principal.issuer,
      sub: principal.sub,
      email: principal.email,
      groups: principal.groups,
      clientId: principal.clientId,
      verified: !principal.dev,
    };
    const resource = facts.resource === undefined ? '' : ` on ${facts.resource.name}`;
    ctx.report?.({ kind: 'progress', step: 'started', message: `Running ${tool.name}${resource}` });
    const scope = callScope(policy.current(), principal, tool.name, facts, decision);
    const progress = (message: string): void => ctx.report?.({ kind: 'progress', step: 'running', message });
    try {
      ctx.result = await tool.execute(ctx.input, { signal: ctx.signal, caller, limits: decision.limits, facts, scope, deps, googleToken, progress });
    } catch (error) {
      // A call the caller cancelled did not fail upstream; every other failure here came from the connector.
      const connector = facts.resource === undefined ? undefined : CONNECTORS[facts.resource.kind];
      const code = toAirlockError(error).code;
      if (telemetry !== undefined && connector !== undefined && code !== 'CANCELLED') telemetry.upstreamError(connector, code);
      throw error;
    }
    if (ctx.result.kind === 'rows' && ctx.result.downstream !== undefined) (ctx.downstream ??= []).push(ctx.result.downstream);
    reportFinished(ctx, ctx.result);
    await next();
  };
}

/** Progress once the tool returned, and a warning when the result was cut (counts and limits only). */
function reportFinished(ctx: CallContext, result: ToolResult): void {
  if (ctx.report === undefined) return;
  if (result.kind !== 'rows') {
    ctx.report({ kind: 'progress', step: 'finished', message: 'Tool finished' });
    return;
  }
  const rows = result.rowCount === 1 ? '1 row' : `${result.rowCount} rows`;
  ctx.report({ kind: 'progress', step: 'finished', message: result.rowsAffected === undefined ? `Read ${rows}` : `Statement done (${result.rowsAffected} rows affected)` });
  if (result.truncated) ctx.report({ kind: 'log', level: 'warning', message: `Result truncated at ${rows}. ${result.note ?? 'Narrow the request to see the rest.'}` });
}
