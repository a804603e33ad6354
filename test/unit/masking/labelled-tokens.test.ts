import { describe, expect, it } from 'vitest';
import { detect, DETECTOR_NAMES } from '../../../src/masking/detectors.js';
import { tokensSamples } from '../../support/labelled/tokens.js';
import { score, type Score } from '../../support/masking-labelled.js';

const SEED = 2026120702;
const samples = tokensSamples(SEED);
const all = [...DETECTOR_NAMES];
const scores = score(samples, (text) => detect(text, all));
const labelled = [...new Set(samples.flatMap((s) => s.expected.map((e) => e.type)))].sort();

describe('secrets found by their own shape, on the labelled set (issue 20)', () => {
  it('is generated deterministically, with hundreds of positives and look-alikes of every class (issue 20)', () => {
    expect(tokensSamples(SEED)).toEqual(samples);
    const kinds = new Set(samples.map((s) => s.kind));
    for (const kind of ['prefixed:GITHUB_TOKEN', 'prefixed:AWS_ACCESS_KEY', 'prefixed:STRIPE_KEY', 'prefixed:GCP_API_KEY', 'prefixed:SLACK_TOKEN', 'prefixed:GENERIC_API_KEY', 'negative:prefixed look-alike', 'PRIVATE_KEY', 'PRIVATE_KEY truncated', 'GCP_SA_KEY', 'negative:certificates and public keys', 'EMAIL encoded', 'negative:encoded non-addresses', 'PASSWORD_IN_URL', 'negative:URLs without a password', 'SLACK_TOKEN webhook', 'negative:Slack look-alikes', 'PASSWORD_IN_URL with colon', 'negative:URL ports and hosts', 'PRIVATE_KEY narrow or escaped slashes', 'prefixed dash-led:GENERIC_API_KEY', 'prefixed dash-led:SLACK_TOKEN', 'escaped slashes']) {
      expect(kinds.has(kind)).toBe(true);
    }
    expect(samples.length).toBeGreaterThan(2000);
  });

  it.each(labelled)('%s: recall ≥ 0.99 and precision ≥ 0.98 (issue 20)', (name) => {
    const s = scores.get(name) as Score;
    expect(s.truePositives).toBeGreaterThan(10);
    expect({ name, precision: s.precision >= 0.98, recall: s.recall >= 0.99 }).toEqual({ name, precision: true, recall: true });
  });

  it('leaves every look-alike readable (issue 20)', () => {
    const flagged = samples
      .filter((s) => s.kind.startsWith('negative:'))
      .map((s) => ({ kind: s.kind, text: s.text, found: detect(s.text, all).map((d) => `${d.type} ${s.text.slice(d.start, d.end)}`) }))
      .filter((s) => s.found.length > 0);
    expect(flagged).toEqual([]);
  });
});
