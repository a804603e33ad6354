import { describe, expect, it } from 'vitest';
import { DETECTOR_NAMES, type DetectorName } from '../../../src/masking/detectors.js';
import { Masker } from '../../../src/masking/masker.js';
import { ACCURACY_TARGET } from '../../../bench/masking-accuracy.js';
import { fullLabelledSet } from '../../support/labelled/index.js';
import { score } from '../../support/masking-labelled.js';

const samples = fullLabelledSet();
// The masker's `find`, the path every text surface takes (`airlock mask`, objects, log entries): every detector,
// plus the context a CSV header gives its column.
const masker = new Masker({ detectors: [...DETECTOR_NAMES], style: 'redact', columns: [] });
const scores = score(samples, (text) => masker.find(text).map((f) => ({ type: f.type as DetectorName, start: f.start, end: f.end })));

describe('the whole labelled masking set, all detectors on (issue 20)', () => {
  it('holds several thousand cases, with look-alikes, and positives of every type', () => {
    expect(samples.length).toBeGreaterThan(5000);
    expect(samples.filter((s) => s.expected.length === 0).length).toBeGreaterThan(1000);
    for (const name of DETECTOR_NAMES) expect(scores.get(name)?.truePositives ?? 0, name).toBeGreaterThanOrEqual(100);
  });

  it.each(DETECTOR_NAMES)('%s keeps precision ≥ 0.98 and recall ≥ 0.99 on it (issue 20)', (name) => {
    const s = scores.get(name);
    expect(s).toBeDefined();
    expect({ name, precision: s?.precision ?? 0, recall: s?.recall ?? 0 }).toEqual({
      name,
      precision: expect.toSatisfy((p: number) => p >= ACCURACY_TARGET.precision) as number,
      recall: expect.toSatisfy((r: number) => r >= ACCURACY_TARGET.recall) as number,
    });
  });

  it('keeps them overall too (issue 20)', () => {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (const s of scores.values()) {
      tp += s.truePositives;
      fp += s.falsePositives;
      fn += s.falseNegatives;
    }
    expect(tp / (tp + fp)).toBeGreaterThanOrEqual(ACCURACY_TARGET.precision);
    expect(tp / (tp + fn)).toBeGreaterThanOrEqual(ACCURACY_TARGET.recall);
  });
});
