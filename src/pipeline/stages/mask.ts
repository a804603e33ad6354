import { Masker } from '../../masking/masker.js';
import type { PolicySource } from './policy.js';
import type { CallContext, Next, Stage } from '../context.js';

/** Masks the result on its way out. A masking failure discards the result (fail closed). */
export function maskStage(options: { readonly policy: PolicySource }): Stage {
  const { policy } = options;
  let cached: { version: string; masker: Masker } | undefined;
  const maskerFor = (): Masker => {
    const current = policy.current();
    if (cached?.version !== current.version) cached = { version: current.version, masker: new Masker(current.file.masking) };
    return cached.masker;
  };
  return async function mask(ctx: CallContext, next: Next): Promise<void> {
    if (ctx.result === undefined) throw new TypeError('mask stage needs a result');
    ctx.unmaskedResult = ctx.result;
    const masked = maskerFor().maskResult(ctx.result, ctx.facts?.sql?.lineage?.maskedOutputs ?? []);
    ctx.result = masked.value;
    ctx.maskReport = masked.report;
    await next();
  };
}
