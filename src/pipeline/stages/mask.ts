import { MaskingFailedError } from '../../errors.js';
import { maskingSecret, type SecretResolver } from '../../masking/keys.js';
import { Masker } from '../../masking/masker.js';
import type { PolicySource } from './policy.js';
import type { CallContext, Next, Stage } from '../context.js';

/**
 * Masks the result on its way out. A masking failure discards the result (fail closed), and so does a
 * masker that cannot be built for the current policy (style "hmac" with its key unset).
 */
export function maskStage(options: { readonly policy: PolicySource; readonly secrets?: SecretResolver }): Stage {
  const { policy } = options;
  // Without a resolver no reference resolves, so style "hmac" fails closed.
  const resolve = options.secrets ?? ((): undefined => undefined);
  const secret = (ref: string): string | undefined => maskingSecret(ref, resolve);
  let cached: { version: string; masker: Masker } | undefined;
  const maskerFor = (): Masker => {
    const current = policy.current();
    if (cached?.version !== current.version) {
      const settings = current.file.masking;
      let masker: Masker;
      try {
        masker = new Masker(settings, { hmacKey: settings.hmacKey === undefined ? undefined : secret(settings.hmacKey) });
      } catch (error) {
        throw new MaskingFailedError({ detail: error instanceof Error ? error.message : String(error), cause: error });
      }
      cached = { version: current.version, masker };
    }
    return cached.masker;
  };
  return async function mask(ctx: CallContext, next: Next): Promise<void> {
    if (ctx.result === undefined) throw new TypeError('mask stage needs a result');
    ctx.unmaskedResult = ctx.result;
    const lineage = ctx.facts?.sql?.lineage;
    // Lineage with unresolved parts does not say where every output came from: column rules then also
    // apply by name (more masking, never less).
    const masked = maskerFor().maskResult(ctx.result, lineage?.maskedOutputs ?? [], { lineageKnown: lineage !== undefined && lineage.unresolved.length === 0 });
    ctx.result = masked.value;
    ctx.maskReport = masked.report;
    await next();
  };
}
