import { MaskingFailedError, rewriteErrorText, type AirlockError } from '../../errors.js';
import { redactAll } from '../../masking/detectors.js';
import { maskingSecret, type SecretResolver } from '../../masking/keys.js';
import { MaskContext, Masker, type MaskReport, type MaskerSettings } from '../../masking/masker.js';
import { maskOffThread, shouldOffload } from '../../masking/offload.js';
import { maskingFor } from '../../policy/masking.js';
import type { PolicySource } from './policy.js';
import type { CallContext, Next, Stage } from '../context.js';

export interface MaskingOptions {
  readonly policy: PolicySource;
  readonly secrets?: SecretResolver;
}

/** A masker and what it was built from (a worker thread builds the same one). */
interface Built {
  readonly masker: Masker;
  readonly spec: { readonly settings: MaskerSettings; readonly hmacKey: string | undefined };
}

/** The masker for one call under the current policy, and the masking overrides that chose its detectors. */
export type CallMaskers = (ctx: CallContext) => Built & { readonly overrides: readonly string[] };

/**
 * One masker per detector set of the current policy version (the policy's own set, and each set its
 * overrides produce for some calls). A masker that cannot be built for the current policy (style "hmac"
 * with its key unset) throws MASKING_FAILED.
 */
export function callMaskers(options: MaskingOptions): CallMaskers {
  const { policy } = options;
  // Without a resolver no reference resolves, so style "hmac" fails closed.
  const resolve = options.secrets ?? ((): undefined => undefined);
  const secret = (ref: string): string | undefined => maskingSecret(ref, resolve);
  let cached: { version: string; maskers: Map<string, Built> } | undefined;
  return (ctx) => {
    const current = policy.current();
    if (cached?.version !== current.version) cached = { version: current.version, maskers: new Map() };
    const settings = current.file.masking;
    const call = maskingFor(settings, { principal: ctx.principal, tool: ctx.toolName, resource: ctx.facts?.resource?.name });
    // Most calls match no override: their masker is the policy's own, found without building a key.
    const key = call.overrides.length === 0 ? '' : [...call.detectors].sort().join(',');
    let built = cached.maskers.get(key);
    if (built === undefined) {
      const spec = { settings: { ...settings, detectors: [...call.detectors] }, hmacKey: settings.hmacKey === undefined ? undefined : secret(settings.hmacKey) };
      try {
        built = { masker: new Masker(spec.settings, { hmacKey: spec.hmacKey }), spec };
      } catch (error) {
        throw new MaskingFailedError({ detail: error instanceof Error ? error.message : String(error), cause: error });
      }
      cached.maskers.set(key, built);
    }
    return { ...built, overrides: call.overrides };
  };
}

/**
 * Masks the result on its way out. A masking failure discards the result (fail closed), and so does a
 * masker that cannot be built for the current policy (style "hmac" with its key unset).
 */
export function maskStage(options: MaskingOptions & { readonly maskers?: CallMaskers }): Stage {
  const maskerFor = options.maskers ?? callMaskers(options);
  return async function mask(ctx: CallContext, next: Next): Promise<void> {
    if (ctx.result === undefined) throw new TypeError('mask stage needs a result');
    ctx.unmaskedResult = ctx.result;
    const lineage = ctx.facts?.sql?.lineage;
    const { masker, spec, overrides } = maskerFor(ctx);
    // Lineage with unresolved parts does not say where every output came from: column rules then also
    // apply by name (more masking, never less).
    const wholeColumns = lineage?.maskedOutputs ?? [];
    // Lineage masks by position: a result whose columns do not line up with what lineage resolved would
    // mask the wrong ones. With sensitive positions that is refused; without, column rules apply by name.
    const columns = ctx.result.kind === 'rows' ? ctx.result.columns.length : undefined;
    const shifted = lineage !== undefined && lineage.outputCount > 0 && columns !== undefined && columns !== lineage.outputCount;
    if (shifted && wholeColumns.length > 0) throw new MaskingFailedError({ detail: `lineage resolved ${lineage.outputCount} output columns but the result has ${columns}: positions of sensitive columns are not known` });
    const lineageKnown = lineage !== undefined && lineage.unresolved.length === 0 && !shifted;
    // A large result is masked on a worker thread: other sessions' calls go on meanwhile.
    const masked = shouldOffload(ctx.result)
      ? await maskOffThread({ ...spec, result: ctx.result, wholeColumns: [...wholeColumns], lineageKnown }, ctx.signal)
      : masker.maskResult(ctx.result, wholeColumns, { lineageKnown });
    ctx.result = masked.value;
    ctx.maskReport = overrides.length === 0 ? masked.report : { ...masked.report, overrides };
    reportMasking(ctx, masked.report);
    await next();
  };
}

/** Progress once the result is masked, and what was masked (detector names, columns and counts, never values). */
function reportMasking(ctx: CallContext, report: MaskReport): void {
  if (ctx.report === undefined) return;
  const found = Object.entries(report.findings).filter(([, n]) => n > 0);
  const total = found.reduce((sum, [, n]) => sum + n, 0);
  ctx.report({ kind: 'progress', step: 'masked', message: total === 0 ? 'Result checked: nothing to mask' : 'Result masked' });
  if (total === 0) return;
  const kinds = found.map(([type, n]) => `${type} ${n}`).join(', ');
  const columns = report.maskedColumns.length === 0 ? '' : ` in columns: ${report.maskedColumns.join(', ')}`;
  ctx.report({ kind: 'log', level: 'info', message: `Masked ${total === 1 ? '1 value' : `${total} values`} (${kinds})${columns}` });
}

/** Rewrites an error's texts and data with every built-in detector (placeholders): the fallback. */
export function redactError(error: AirlockError): AirlockError {
  const value = (v: unknown): unknown => redactValue(v, 0);
  return rewriteErrorText(error, (s) => redactAll(s), value);
}

/**
 * Masks the texts of a call's error with the call's content detectors, as its result would be: error
 * texts are output (a Postgres message can quote the value it failed on, `relation "4111 …" does not
 * exist`). When the call's masker cannot be built or fails, every built-in detector redacts the texts
 * instead (fail closed: more masking, never less, and the error keeps its code).
 */
export function errorMasking(maskerFor: CallMaskers): (ctx: CallContext, error: AirlockError) => AirlockError {
  return (ctx, error) => {
    try {
      const { masker } = maskerFor(ctx);
      const mctx = new MaskContext();
      // The internal message (audit detail only) keeps its stricter redaction by every built-in detector.
      const text = (s: string, key: string): string => masker.maskText(key === 'message' || key === 'stack' ? redactAll(s) : s, mctx);
      return rewriteErrorText(error, text, (v) => masker.maskValue(v, mctx));
    } catch {
      return redactError(error);
    }
  };
}

/** Strings in a JSON-like value redacted; the same value when nothing changed. Bounded in depth. */
function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactAll(value);
  if (value === null || typeof value !== 'object') return value;
  // Error data is small and flat; anything deeper than this is dropped rather than walked.
  if (depth > 16) return null;
  if (Array.isArray(value)) {
    const items = value.map((v: unknown) => redactValue(v, depth + 1));
    return items.every((v, i) => v === value[i]) ? value : items;
  }
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const key = redactAll(k);
    const masked = redactValue(v, depth + 1);
    if (key !== k || masked !== v) changed = true;
    Object.defineProperty(out, key, { value: masked, enumerable: true, writable: true, configurable: true });
  }
  return changed ? out : value;
}
