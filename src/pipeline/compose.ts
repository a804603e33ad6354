import type { CallContext, Stage } from './context.js';

export interface ComposeOptions {
  /**
   * Told how long each stage took by itself (seconds), the stages inside its `next()` left out, once it
   * returns or throws. Absent: nothing is timed.
   */
  readonly onStage?: (stage: string, seconds: number) => void;
}

/**
 * Composes stages into an onion: each stage runs, calls `next()` to run the rest, and can act on the way
 * back. Calling `next()` twice from one stage is a bug and throws.
 */
export function compose(stages: readonly Stage[], options: ComposeOptions = {}): (ctx: CallContext) => Promise<void> {
  for (const [i, stage] of stages.entries()) {
    if (typeof stage !== 'function') throw new TypeError(`compose: stage ${i} is not a function`);
  }
  const { onStage } = options;
  if (onStage !== undefined && typeof onStage !== 'function') throw new TypeError('compose: onStage must be a function');
  const chain = [...stages];
  const names = chain.map((stage, i) => (stage.name === '' ? `stage${i}` : stage.name));
  return function run(ctx: CallContext): Promise<void> {
    let index = -1;
    // With onStage: each stage's time with the stages inside it, set when it ends. A stage's own time is its
    // total less the total of the stage its next() ran, read at the edges of dispatch rather than by wrapping
    // every next() in a timing closure (with metrics on, that wrapper was most of compose's cost per call).
    const spent = onStage === undefined ? undefined : new Float64Array(chain.length + 1);
    const dispatch = async (i: number): Promise<void> => {
      // `i - 1` is the stage whose next() this is.
      if (i <= index) throw new Error(`next() called more than once in stage "${chain[i - 1]?.name ?? i - 1}"`);
      index = i;
      const stage = chain[i];
      if (stage === undefined) return;
      if (onStage === undefined || spent === undefined) return stage(ctx, () => dispatch(i + 1));
      const started = performance.now();
      try {
        await stage(ctx, () => dispatch(i + 1));
      } finally {
        const total = performance.now() - started;
        spent[i] = total;
        // The stage inside ran only if this one called next() (index moved past i).
        onStage(names[i] ?? `stage${i}`, Math.max(0, total - (index > i ? (spent[i + 1] ?? 0) : 0)) / 1000);
      }
    };
    return dispatch(0);
  };
}
