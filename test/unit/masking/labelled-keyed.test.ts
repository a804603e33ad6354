import { describe, expect, it } from 'vitest';
import { DETECTOR_NAMES } from '../../../src/masking/detectors.js';
import { Masker } from '../../../src/masking/masker.js';
import { keyedSamples } from '../../support/labelled/keyed.js';
import { score, type Score } from '../../support/masking-labelled.js';

const SEED = 2026120701;
const samples = keyedSamples(SEED);
// The masker's `find`: every detector on the text, plus the context a CSV header gives its column (the
// path every text surface takes: `airlock mask`, objects, log entries).
const masker = new Masker({ detectors: [...DETECTOR_NAMES], style: 'redact', columns: [] });
const find = (text: string): { type: (typeof DETECTOR_NAMES)[number]; start: number; end: number }[] =>
  masker.find(text).map((f) => ({ type: f.type as (typeof DETECTOR_NAMES)[number], start: f.start, end: f.end }));
const scores = score(samples, find);

describe('keyed secrets on the labelled set (issue 20)', () => {
  it('is generated deterministically from its seed, with every class and negatives (issue 20)', () => {
    expect(keyedSamples(SEED)).toEqual(samples);
    const kinds = new Map<string, number>();
    for (const s of samples) kinds.set(s.kind, (kinds.get(s.kind) ?? 0) + 1);
    for (const kind of ['AWS_SECRET_KEY', 'PASSWORD', 'GENERIC_API_KEY', 'US_SSN', 'negative:keyed']) expect(kinds.get(kind)).toBeGreaterThanOrEqual(200);
  });

  it.each(['AWS_SECRET_KEY', 'PASSWORD', 'GENERIC_API_KEY', 'US_SSN'] as const)('finds %s with recall ≥ 0.99 and precision ≥ 0.98 (issue 20)', (name) => {
    const s = scores.get(name) as Score;
    expect(s.truePositives).toBeGreaterThan(200);
    expect({ name, precision: s.precision >= 0.98, recall: s.recall >= 0.99 }).toEqual({ name, precision: true, recall: true });
  });

  it('leaves every reference, masked value and look-alike readable (issue 20)', () => {
    const flagged = samples.filter((s) => s.kind.startsWith('negative:')).map((s) => ({ text: s.text, found: find(s.text).map((f) => `${f.type}:${s.text.slice(f.start, f.end)}`) })).filter((s) => s.found.length > 0);
    expect(flagged).toEqual([]);
  });
});
