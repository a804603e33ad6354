import type { DetectorName } from './names.js';

/**
 * Types that are secrets: always a numbered placeholder, whatever the style (a last-4 or a keyed token
 * of a credential still helps an attacker; nothing needs to join on one), and never turned off for some
 * callers by a policy's masking overrides.
 */
export const SECRET_TYPES: ReadonlySet<string> = new Set<DetectorName>([
  'JWT', 'GCP_SA_KEY', 'PRIVATE_KEY', 'AWS_ACCESS_KEY', 'GCP_API_KEY', 'GITHUB_TOKEN', 'SLACK_TOKEN', 'STRIPE_KEY',
  'PASSWORD_IN_URL', 'PASSWORD', 'AWS_SECRET_KEY', 'GENERIC_API_KEY',
]);
