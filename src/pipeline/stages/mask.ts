import { MaskingFailedError } from '../../errors.js';
import { maskingSecret, type SecretResolver } from '../../masking/keys.js';
import { Masker, type MaskerSettings } from '../../masking/masker.js';
import { maskOffThread, shouldOffload } from '../../masking/offload.js';
import { maskingFor } from '../../policy/masking.js';
import type { PolicySource } from './policy.js';
import type { CallContext, Next, Stage } from '../context.js';

/** A masker and what it was built from (a worker thread builds the same one). */
interface Built {
  readonly masker: Masker;
  readonly spec: { readonly settings: MaskerSettings; readonly hmacKey: string | undefined };
}

/**
 * Masks the result on its way out. A masking failure discards the result (fail closed), and so does a
 * masker that cannot be built for the current policy (style "hmac" with its key unset).
 */
export function maskStage(options: { readonly policy: PolicySource; readonly secrets?: SecretResolver }): Stage {
  const { policy } = options;
  // Without a resolver no reference resolves, so style "hmac" fails closed.
  const resolve = options.secrets ?? ((): undefined => undefined);
  const secret = (ref: string): string | undefined => maskingSecret(ref, resolve);
  // One masker per detector set of the current policy version (the policy's own set, and each set its
  // overrides produce for some calls).
  let cached: { version: string; maskers: Map<string, Built> } | undefined;
  const maskerFor = (ctx: CallContext): Built & { overrides: readonly string[] } => {
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
  return async function mask(ctx: CallContext, next: Next): Promise<void> {
    if (ctx.result === undefined) throw new TypeError('mask stage needs a result');
    ctx.unmaskedResult = ctx.result;
    const lineage = ctx.facts?.sql?.lineage;
    const { masker, spec, overrides } = maskerFor(ctx);
    // Lineage with unresolved parts does not say where every output came from: column rules then also
    // apply by name (more masking, never less).
    const wholeColumns = lineage?.maskedOutputs ?? [];
    const lineageKnown = lineage !== undefined && lineage.unresolved.length === 0;
    // A large result is masked on a worker thread: other sessions' calls go on meanwhile.
    const masked = shouldOffload(ctx.result)
      ? await maskOffThread({ ...spec, result: ctx.result, wholeColumns: [...wholeColumns], lineageKnown }, ctx.signal)
      : masker.maskResult(ctx.result, wholeColumns, { lineageKnown });
    ctx.result = masked.value;
    ctx.maskReport = overrides.length === 0 ? masked.report : { ...masked.report, overrides };
    await next();
  };
}
