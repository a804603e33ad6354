import { parsePolicy, PolicyLoadError } from '../../src/policy/load.js';

/** The problems parsePolicy reports for a policy that must be rejected (fails the test if it loads). */
export function policyProblems(text: string, source: string, tools: readonly string[]): readonly string[] {
  try {
    parsePolicy(text, source, tools);
  } catch (error) {
    if (error instanceof PolicyLoadError) return error.problems;
    throw error;
  }
  throw new Error('expected the policy to be rejected');
}
