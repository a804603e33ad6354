import type { CallContext, Stage } from './context.js';

/**
 * Composes stages into an onion: each stage runs, calls `next()` to run the rest, and can act on the way
 * back. Calling `next()` twice from one stage is a bug and throws.
 */
export function compose(stages: readonly Stage[]): (ctx: CallContext) => Promise<void> {
  for (const [i, stage] of stages.entries()) {
    if (typeof stage !== 'function') throw new TypeError(`compose: stage ${i} is not a function`);
  }
  const chain = [...stages];
  return function run(ctx: CallContext): Promise<void> {
    let index = -1;
    const dispatch = async (i: number): Promise<void> => {
      // `i - 1` is the stage whose next() this is.
      if (i <= index) throw new Error(`next() called more than once in stage "${chain[i - 1]?.name ?? i - 1}"`);
      index = i;
      const stage = chain[i];
      if (stage === undefined) return;
      await stage(ctx, () => dispatch(i + 1));
    };
    return dispatch(0);
  };
}
