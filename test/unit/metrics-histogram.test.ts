/**
 * Issue 21: the per-call histograms are airlock's own (prom-client's Histogram turned each bucket bound into a
 * string on every observation). They must print exactly what prom-client prints for the same observations.
 */
import { Histogram, Registry, type Metric } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { labelledHistogram } from '../../src/metrics/histogram.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.01, 1, 60];
/** Below the first bound, on a bound, between bounds, above the last, and a second label value. */
const OBSERVED: readonly [string, number][] = [
  ['audit', 0.0001],
  ['audit', 0.001],
  ['audit', 0.002],
  ['audit', 0.5],
  ['execute', 75],
  ['execute', 0.0005],
];

describe('labelledHistogram', () => {
  it('prints the same exposition as a prom-client Histogram given the same observations', async () => {
    const theirs = new Registry();
    const reference = new Histogram({ name: 'x_seconds', help: 'stage time', labelNames: ['stage'], buckets: BUCKETS, registers: [theirs] });
    const ours = new Registry();
    const histogram = labelledHistogram({ name: 'x_seconds', help: 'stage time', labelName: 'stage', buckets: BUCKETS });
    ours.registerMetric(histogram as unknown as Metric);
    for (const [stage, seconds] of OBSERVED) {
      reference.observe({ stage }, seconds);
      histogram.observe(stage, seconds);
    }
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain('x_seconds_bucket{le="0.0025",stage="audit"} 3\n');
    expect(text).toContain('x_seconds_bucket{le="+Inf",stage="execute"} 2\n');
    expect(text).toContain('x_seconds_count{stage="audit"} 4\n');
  });

  it('starts empty again after reset, as the registry resets its metrics', async () => {
    const registry = new Registry();
    const histogram = labelledHistogram({ name: 'y_seconds', help: 'h', labelName: 'tool', buckets: BUCKETS });
    registry.registerMetric(histogram as unknown as Metric);
    histogram.observe('query_sql', 0.01);
    registry.resetMetrics();
    expect(await registry.metrics()).toBe('# HELP y_seconds h\n# TYPE y_seconds histogram\n');
  });

  it('throws TypeError at build time for buckets out of order or the reserved label le', () => {
    expect(() => labelledHistogram({ name: 'z', help: 'h', labelName: 'stage', buckets: [1, 0.5] })).toThrow(TypeError);
    expect(() => labelledHistogram({ name: 'z', help: 'h', labelName: 'le', buckets: [1] })).toThrow(TypeError);
  });
});
