/**
 * Warm-up of phone validation. Masking validates phone numbers with tables generated from libphonenumber-js's
 * metadata at build time (phone-tables.ts); the library itself is no longer loaded at run time. A numbering
 * plan's patterns compile on its first use: a server compiles the default country's (and '+1', '+44', …
 * as met) right after it has answered `initialize`, so that the first call that masks finds them ready.
 */
import { findPhones } from './phone-tables.js';

/** Compiles the patterns of `country`'s numbering plan (and of the plans a '+' number selects) ahead of use. */
export function warmPhoneTables(country = 'US'): void {
  findPhones('(415) 555-2671 +44 20 7946 0958 +49 30 1234567', country);
}
