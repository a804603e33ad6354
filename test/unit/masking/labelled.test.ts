import { describe, expect, it } from 'vitest';
import { detect, DETECTOR_NAMES, type DetectorName } from '../../../src/masking/detectors.js';
import { labelledSet, score, type Score } from '../../support/masking-labelled.js';

const samples = labelledSet();
const all = [...DETECTOR_NAMES];
const scores = score(samples, (text) => detect(text, all));

/**
 * Floors at what the detectors achieve on the set, rounded down a little. Ten digits that form a valid
 * North American number after a word that says id (`invoice 2125550123`) are no phone since issue 20.
 */
const FLOORS: Readonly<Record<DetectorName, { precision: number; recall: number }>> = {
  CREDIT_CARD: { precision: 0.99, recall: 0.99 },
  EMAIL: { precision: 0.99, recall: 0.99 },
  IBAN: { precision: 0.99, recall: 0.99 },
  JWT: { precision: 0.99, recall: 0.99 },
  GCP_SA_KEY: { precision: 0.99, recall: 0.99 },
  PRIVATE_KEY: { precision: 0.99, recall: 0.99 },
  AWS_ACCESS_KEY: { precision: 0.99, recall: 0.99 },
  GCP_API_KEY: { precision: 0.99, recall: 0.99 },
  GITHUB_TOKEN: { precision: 0.99, recall: 0.99 },
  SLACK_TOKEN: { precision: 0.99, recall: 0.99 },
  STRIPE_KEY: { precision: 0.99, recall: 0.99 },
  PASSWORD_IN_URL: { precision: 0.99, recall: 0.99 },
  PASSWORD: { precision: 0.99, recall: 0.99 },
  AWS_SECRET_KEY: { precision: 0.99, recall: 0.99 },
  GENERIC_API_KEY: { precision: 0.99, recall: 0.99 },
  US_SSN: { precision: 0.99, recall: 0.99 },
  IP_ADDRESS: { precision: 0.99, recall: 0.99 },
  PHONE: { precision: 0.99, recall: 0.99 },
};

describe('detect on the labelled set', () => {
  it('is generated deterministically, with positives for every detector and every kind of look-alike', () => {
    expect(labelledSet()).toEqual(samples);
    const kinds = new Set(samples.map((s) => s.kind));
    for (const name of DETECTOR_NAMES) expect(kinds.has(name)).toBe(true);
    for (const kind of ['luhn-invalid card-length id', 'timestamp', 'uuid', 'version', 'ticket id', 'hash', 'already masked']) expect(kinds.has(`negative:${kind}`)).toBe(true);
  });

  it.each(DETECTOR_NAMES)('%s stays at or above its precision and recall floors', (name) => {
    const s = scores.get(name) as Score;
    const floor = FLOORS[name];
    expect(s.truePositives).toBeGreaterThan(100);
    expect({ name, precision: s.precision >= floor.precision, recall: s.recall >= floor.recall }).toEqual({ name, precision: true, recall: true });
  });

  it('leaves every look-alike readable except ten-digit ids that are valid phone numbers', () => {
    const flagged = samples
      .filter((s) => s.kind.startsWith('negative:') && s.kind !== 'negative:10-digit decimal id')
      .map((s) => ({ kind: s.kind, text: s.text, found: detect(s.text, all).map((d) => d.type) }))
      .filter((s) => s.found.length > 0);
    expect(flagged).toEqual([]);
  });
});
