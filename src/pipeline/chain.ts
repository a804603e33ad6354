import type { AuditInputLimits } from '../audit/bounded-input.js';
import type { AuditSink } from '../audit/record.js';
import type { Keyring } from '../audit/sealed.js';
import type { SecretResolver } from '../masking/keys.js';
import type { ImpersonationProvider } from '../connectors/gcp-credentials.js';
import type { TokenVerifier } from '../identity/oidc.js';
import type { ToolDeps } from '../tool.js';
import { compose } from './compose.js';
import type { CallContext } from './context.js';
import type { ApprovalService } from '../approval/service.js';
import { approvalStage } from './stages/approval.js';
import { recallStage } from './stages/recall.js';
import { auditStage, type Clock } from './stages/audit.js';
import { executeStage } from './stages/execute.js';
import { identityStage } from './stages/identity.js';
import { drainStage } from './stages/drain.js';
import { inputStage, type ToolLookup } from './stages/input.js';
import { concurrencyStage, DEFAULT_CONCURRENCY, type ConcurrencyLimits } from './stages/limit.js';
import { callMaskers, errorMasking, maskStage } from './stages/mask.js';
import { policyStage, type PolicySource } from './stages/policy.js';
import { observeStage } from './stages/observe.js';
import type { Logger } from '../log.js';
import { NO_TELEMETRY, type Telemetry } from '../telemetry.js';

export interface PipelineOptions {
  readonly audit: AuditSink;
  readonly tools: ToolLookup;
  readonly policy: PolicySource;
  readonly deps: ToolDeps;
  readonly clock: Clock;
  readonly onAuditFailure: (error: unknown, callId: string) => void;
  /** Resolves the policy's masking secret references (`masking.hmacKey`). */
  readonly maskingSecrets?: SecretResolver;
  /** Encrypted compliance copies of unmasked results in the audit. */
  readonly compliance?: { readonly keyring: Keyring; readonly maxBytes: number };
  readonly verifier?: TokenVerifier;
  readonly impersonation?: ImpersonationProvider;
  /** Calls one principal may run at once, and how long others wait for a slot (default DEFAULT_CONCURRENCY). */
  readonly concurrency?: ConcurrencyLimits;
  /** How much of a call's arguments its audit record keeps verbatim. */
  readonly auditInput?: AuditInputLimits;
  /** Just-in-time approvals; without them, calls that need approval end with APPROVAL_REQUIRED. */
  readonly approvals?: PipelineApprovals;
  /** Where calls, stage times, findings and connector failures are reported (default: nowhere). */
  readonly telemetry?: Telemetry;
  /** The operator log: one line per call (ids, tool, decision, outcome, duration). */
  readonly log?: Logger;
  /** Aborted when the server begins to stop: calls that arrive afterwards are refused (SHUTTING_DOWN) and audited. */
  readonly draining?: AbortSignal;
}

export interface PipelineApprovals {
  readonly service: ApprovalService;
  /** How long a call waits in place for a decision (ms; default 45 s). */
  readonly waitMs?: number;
  /** Progress heartbeat while waiting (ms; default 5 s). */
  readonly heartbeatMs?: number;
  /** The console link of a request. */
  readonly consoleUrl?: (requestId: string) => string | undefined;
  /** Aborted when the server stops: waiting calls end their wait at once with the pending handle. */
  readonly stopping?: AbortSignal;
}

const DEFAULT_WAIT_MS = 45_000;
const MAX_COLLECT_WAIT_MS = 120_000;

/** The governed call path, in order. Reading this array is reading the product. */
export function buildPipeline(options: PipelineOptions): (ctx: CallContext) => Promise<void> {
  // One set of maskers for results and for error texts: both are output.
  const approvals = options.approvals;
  const maskers = callMaskers({ policy: options.policy, ...(options.maskingSecrets === undefined ? {} : { secrets: options.maskingSecrets }) });
  const telemetry = options.telemetry ?? NO_TELEMETRY;
  return compose(
    [
    observeStage({ telemetry, knownTools: () => options.tools.names(), clock: options.clock, ...(options.log === undefined ? {} : { log: options.log }) }),
    auditStage({ sink: options.audit, clock: options.clock, onAuditFailure: options.onAuditFailure, maskError: errorMasking(maskers), ...(options.auditInput === undefined ? {} : { inputLimits: options.auditInput }), ...(options.compliance === undefined ? {} : { compliance: options.compliance }) }),
    identityStage({ now: () => options.clock.now(), ...(options.verifier === undefined ? {} : { verifier: options.verifier }) }),
    ...(options.draining === undefined ? [] : [drainStage({ draining: options.draining })]),
    inputStage({ tools: options.tools }),
    recallStage({ tools: options.tools, maxWaitMs: MAX_COLLECT_WAIT_MS, defaultWaitMs: approvals?.waitMs ?? DEFAULT_WAIT_MS, ...(approvals === undefined ? {} : { service: approvals.service }) }),
    policyStage({ policy: options.policy, deps: options.deps }),
    approvalStage({
      clock: options.clock,
      deps: options.deps,
      waitMs: approvals?.waitMs ?? DEFAULT_WAIT_MS,
      ...(approvals === undefined ? {} : { service: approvals.service }),
      ...(approvals?.heartbeatMs === undefined ? {} : { heartbeatMs: approvals.heartbeatMs }),
      ...(approvals?.consoleUrl === undefined ? {} : { consoleUrl: approvals.consoleUrl }),
      ...(approvals?.stopping === undefined ? {} : { stopping: approvals.stopping }),
    }),
    concurrencyStage(options.concurrency ?? DEFAULT_CONCURRENCY),
    executeStage({ audit: options.audit, deps: options.deps, policy: options.policy, telemetry, ...(options.impersonation === undefined ? {} : { impersonation: options.impersonation }) }),
    maskStage({ policy: options.policy, maskers }),
    ],
    options.telemetry === undefined ? {} : { onStage: (stage, seconds) => telemetry.stage(stage, seconds) },
  );
}
