import type { Principal } from '../identity/principal.js';
import type { Policy } from './load.js';

/**
 * The service account policy assigns to a principal for Google APIs: the first `byGroup` entry sharing a
 * group with the principal. `undefined` when impersonation is not configured or nothing matches.
 */
export function serviceAccountFor(policy: Policy, principal: Principal): string | undefined {
  const entries = policy.file.downstream.impersonation?.byGroup ?? [];
  return entries.find((entry) => entry.groups.some((g) => principal.groups.includes(g)))?.serviceAccount;
}
