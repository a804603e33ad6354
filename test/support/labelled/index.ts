/**
 * The whole labelled masking set: the first set (masking-labelled.ts) and the issue-20 groups, each its own
 * module with its own seed so one group can grow without changing another's cases.
 */
import { labelledSet, type Sample } from '../masking-labelled.js';
import { keyedSamples } from './keyed.js';
import { numbersSamples } from './numbers.js';
import { tokensSamples } from './tokens.js';

/** Every labelled case, in a fixed order. */
export function fullLabelledSet(): Sample[] {
  return [...labelledSet(), ...keyedSamples(2026120701), ...tokensSamples(2026120702), ...numbersSamples(2026120703)];
}
