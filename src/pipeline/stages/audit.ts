import { encodeJson, jsonDigest, type JsonDigest } from '../../audit/json-digest.js';
import { boundedInput, DEFAULT_AUDIT_INPUT_LIMITS, type AuditInputLimits } from '../../audit/bounded-input.js';
import type { AuditedResponse, AuditRecord, AuditSink, StartedEntry } from '../../audit/record.js';
import { seal, type Keyring } from '../../audit/sealed.js';
import { AuditUnavailableError, CancelledError, MaskingFailedError, ShuttingDownError, toAirlockError, type AirlockError } from '../../errors.js';
import { redactAll } from '../../masking/detectors.js';
import { errorResponse, resultResponse } from '../../surface.js';
import type { Principal } from '../../identity/principal.js';
import type { Decision } from '../../policy/evaluate.js';
import type { CallContext, Next, Stage } from '../context.js';
import { redactError } from './mask.js';

export interface Clock {
  now(): number;
}

export interface AuditStageOptions {
  readonly sink: AuditSink;
  /** Largest response kept whole in a record, in bytes of JSON (default 16 KiB). */
  readonly responseCapBytes?: number;
  readonly clock: Clock;
  /** Operator log for failures the agent must not see in detail. */
  readonly onAuditFailure: (error: unknown, callId: string) => void;
  /**
   * Masks the texts of a call's error before the agent and the record see them (see `errorMasking`);
   * absent = every built-in detector redacts them.
   */
  readonly maskError?: (ctx: CallContext, error: AirlockError) => AirlockError;
  /** Seal each unmasked result into its record (AES-256-GCM); absent = no compliance copy. */
  readonly compliance?: { readonly keyring: Keyring; readonly maxBytes: number };
  /** How much of the arguments records keep verbatim (default DEFAULT_AUDIT_INPUT_LIMITS). */
  readonly inputLimits?: AuditInputLimits;
}

/**
 * Responses longer than this many characters keep the UTF-8 bytes that were hashed, for a transport that
 * writes bytes (stdio writes shorter ones whole, as one string with the JSON-RPC envelope).
 */
const KEEP_UTF8_FROM = 16 * 1024;

/**
 * Outermost stage: catches every outcome of the call, renders the agent's response, and writes one
 * audit record before the response is released. If the record cannot be written, the agent gets
 * AUDIT_UNAVAILABLE instead of the result (fail closed).
 */
export function auditStage(options: AuditStageOptions): Stage {
  if (typeof options.sink?.append !== 'function') throw new TypeError('auditStage: a sink with append() is required');
  const { sink, clock, onAuditFailure } = options;
  const cap = options.responseCapBytes ?? 16 * 1024;
  const { compliance } = options;
  const inputLimits = options.inputLimits ?? DEFAULT_AUDIT_INPUT_LIMITS;
  const maskError = options.maskError ?? ((_ctx: CallContext, error: AirlockError): AirlockError => redactError(error));
  return async function audit(ctx: CallContext, next: Next): Promise<void> {
    try {
      // Computed once, for the started entry and the record: an agent's 4 MB argument must not cost 4 MB of audit.
      ctx.auditedInput = boundedInput(ctx.rawArguments ?? null, inputLimits);
      await next();
      if (ctx.result === undefined) throw new TypeError('pipeline finished without a result');
      // The unmasked result is kept only for the sealed compliance copy: without one it is let go before
      // the response is built (one copy of a large result less at the call's peak).
      if (compliance === undefined) ctx.unmaskedResult = undefined;
    } catch (error) {
      // Error texts are output: masked before the response and the record are built from them.
      ctx.error = maskedOrWithheld(ctx, stoppedBy(ctx, toAirlockError(error)), maskError);
    }
    ctx.response =
      ctx.error !== undefined
        ? errorResponse(ctx.error, ctx.id)
        : resultResponse(ctx.result as NonNullable<typeof ctx.result>, ctx.maskReport ?? { findings: {}, maskedColumns: [] }, ctx.id);
    try {
      // Encoded once: this text is hashed for the record and, where the transport takes it, sent as it is.
      const encoded = ctx.sendsEncoded === true ? encodeJson(ctx.response, cap, ctx.sendsUtf8 === true ? KEEP_UTF8_FROM : undefined) : undefined;
      ctx.encodedResponse = encoded?.text;
      ctx.encodedUtf8 = encoded?.utf8;
      const record = buildRecord(ctx, clock.now(), cap, encoded?.digest);
      const raw = ctx.error === undefined ? ctx.unmaskedResult : undefined;
      await sink.append(compliance === undefined || raw === undefined ? record : { ...record, sealedResult: seal(raw, ctx.id, compliance.keyring, compliance.maxBytes) });
    } catch (error) {
      onAuditFailure(error, ctx.id);
      ctx.error = new AuditUnavailableError({ detail: error instanceof Error ? error.message : String(error), cause: error });
      ctx.result = undefined;
      ctx.response = errorResponse(ctx.error, ctx.id);
      ctx.encodedResponse = undefined;
      ctx.encodedUtf8 = undefined;
    }
  };
}

/**
 * A stage or connector that saw the call's signal abort says CANCELLED; when the abort was airlock stopping
 * (not the client), the agent is told so, with the connector's detail kept for the record.
 */
function stoppedBy(ctx: CallContext, error: AirlockError): AirlockError {
  const reason: unknown = ctx.signal.aborted ? ctx.signal.reason : undefined;
  if (!(error instanceof CancelledError) || !(reason instanceof ShuttingDownError) || error instanceof ShuttingDownError) return error;
  return new ShuttingDownError({ detail: `airlock stopped while the call ran: ${error.message}`, cause: error });
}

/**
 * The error with its texts masked; when even the masking of error texts fails (the last fallback, every
 * built-in detector, needs the phone metadata loaded), an error with none of its texts: the call still gets
 * an answer and an audit record, and nothing unmasked leaves.
 */
function maskedOrWithheld(ctx: CallContext, error: AirlockError, maskError: (ctx: CallContext, error: AirlockError) => AirlockError): AirlockError {
  try {
    return maskError(ctx, error);
  } catch (cause) {
    const why = cause instanceof Error ? `${cause.name}: ${cause.message}` : 'unknown failure';
    return new MaskingFailedError({ detail: `the texts of a ${error.code} error could not be masked, so they were withheld (${why})` });
  }
}

/** The journal entry written just before a call executes (see the execute stage). */
export function startedEntry(ctx: CallContext): StartedEntry {
  // Its fields do not change once the call runs: the outcome record reuses the entry the execute stage wrote.
  const known = startedEntries.get(ctx);
  if (known !== undefined) return known;
  const p = ctx.principal;
  const entry: StartedEntry = {
    id: ctx.id,
    time: new Date(ctx.startedAt).toISOString(),
    sessionId: ctx.sessionId,
    transport: ctx.transport,
    ...(ctx.protocol === undefined ? {} : { protocol: ctx.protocol }),
    ...(ctx.client === undefined ? {} : { client: { name: ctx.client.name, version: ctx.client.version } }),
    principal: p === undefined ? null : auditedPrincipal(p),
    devIdentity: ctx.credential.kind === 'dev',
    tool: ctx.toolName,
    input: (ctx.auditedInput ??= boundedInput(ctx.rawArguments ?? null)),
    facts: ctx.facts === undefined ? null : { ...ctx.facts },
    decision: ctx.decision === undefined ? null : auditedDecision(ctx.decision),
  };
  if (ctx.decision !== undefined) startedEntries.set(ctx, entry);
  return entry;
}

const startedEntries = new WeakMap<CallContext, StartedEntry>();

/**
 * The principal as records keep it, one frozen object per principal: every record of a session shares it,
 * and canonical JSON keeps the text of a frozen value (see canonicalJson), so it is encoded once.
 */
const principals = new WeakMap<Principal, NonNullable<StartedEntry['principal']>>();

function auditedPrincipal(p: Principal): NonNullable<StartedEntry['principal']> {
  let view = principals.get(p);
  if (view === undefined) {
    view = Object.freeze({ issuer: p.issuer, sub: p.sub, email: p.email ?? null, groups: Object.freeze([...p.groups]), dev: p.dev });
    principals.set(p, view);
  }
  return view;
}

/** The decision as records keep it; shared (frozen, encoded once) when the decision itself is (see DecisionMemo). */
const decisions = new WeakMap<Decision, NonNullable<StartedEntry['decision']>>();

function auditedDecision(d: Decision): NonNullable<StartedEntry['decision']> {
  const shared = Object.isFrozen(d);
  let view = shared ? decisions.get(d) : undefined;
  if (view === undefined) {
    view = { effect: d.effect, ruleIds: [...d.ruleIds], reason: d.reason, policyVersion: d.policyVersion };
    if (shared) {
      Object.freeze(view.ruleIds);
      decisions.set(d, Object.freeze(view));
    }
  }
  return view;
}

function buildRecord(ctx: CallContext, now: number, cap: number, digest: JsonDigest | undefined): AuditRecord {
  const result = ctx.error === undefined ? ctx.result : undefined;
  return {
    ...startedEntry(ctx),
    durationMs: Math.max(0, now - ctx.startedAt),
    downstream: ctx.downstream === undefined ? [] : [...ctx.downstream],
    outcome: ctx.error === undefined ? (ctx.outcome ?? 'ok') : ctx.error.outcome,
    ...(ctx.approval === undefined ? {} : { approval: { ...ctx.approval, approvers: ctx.approval.approvers.map((a) => ({ ...a })) } }),
    ...(ctx.confirmation === undefined ? {} : { confirmation: { ...ctx.confirmation, ...(ctx.confirmation.by === undefined ? {} : { by: { ...ctx.confirmation.by } }) } }),
    error: ctx.error === undefined ? null : { code: ctx.error.code, message: ctx.error.publicMessage, detail: redactAll(ctx.error.message) },
    result:
      result === undefined
        ? null
        : {
            rowCount: result.kind === 'rows' ? result.rowCount : documentCount(result.value),
            truncated: result.kind === 'rows' ? result.truncated : result.value.truncated === true,
            ...(result.kind === 'rows' && result.rowsAffected !== undefined ? { rowsAffected: result.rowsAffected } : {}),
            maskedColumns: ctx.maskReport === undefined ? [] : [...ctx.maskReport.maskedColumns],
            findings: ctx.maskReport === undefined ? {} : { ...ctx.maskReport.findings },
            ...(ctx.maskReport?.overrides === undefined ? {} : { maskingOverrides: [...ctx.maskReport.overrides] }),
          },
    response: auditedResponse(ctx.response ?? null, cap, digest),
  };
}

/** Entries or objects a document result holds (tail_logs' `count`, a listing's `items`), else 0. */
function documentCount(value: Readonly<Record<string, unknown>>): number {
  if (typeof value.count === 'number') return value.count;
  return Array.isArray(value.items) ? value.items.length : 0;
}

function auditedResponse(response: unknown, cap: number, digest: JsonDigest | undefined): AuditedResponse {
  // The hash and size of the response's JSON text: of the bytes that are sent when they were encoded here,
  // else computed piece by piece without building the text whole (see jsonDigest).
  const { sha256, bytes, head } = digest ?? jsonDigest(response, cap);
  if (bytes <= cap) return { sha256, bytes, truncated: false, body: response };
  return { sha256, bytes, truncated: true, preview: head };
}
