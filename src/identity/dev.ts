import { DEV_ISSUER, type Principal } from './principal.js';

const EMAIL = /^[^\s@,]{1,64}@[^\s@,]{1,255}$/;
const GROUP = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;

/**
 * Parses `--dev-identity EMAIL[,GROUP,...]` into an unverified principal for the demo and tests.
 * Throws TypeError on malformed values: bad wiring must fail at start-up.
 */
export function parseDevIdentity(spec: string): Principal {
  const parts = spec.split(',').map((p) => p.trim());
  const [email, ...groups] = parts;
  if (email === undefined || !EMAIL.test(email)) {
    throw new TypeError(`--dev-identity: expected EMAIL[,GROUP,...], got "${spec}" (first item must be an email address)`);
  }
  for (const group of groups) {
    if (!GROUP.test(group)) throw new TypeError(`--dev-identity: invalid group name "${group}"`);
  }
  return Object.freeze({
    issuer: DEV_ISSUER,
    sub: email,
    email,
    groups: Object.freeze([...new Set(groups)]),
    clientId: undefined,
    dev: true,
  });
}
