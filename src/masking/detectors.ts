/**
 * Built-in detectors. One pass over the text finds candidates at literal anchors (`scan.ts`), and each
 * candidate is validated (check digits, checksums, decodable structure), so look-alikes stay readable
 * and no pattern can backtrack over long input: every quantifier is bounded by the real maximum of the
 * thing it matches. Offsets are JS string indices.
 */
import { BIT, DETECTOR_NAMES, maskOf, RANK, type Detection, type DetectorName } from './names.js';
import { scan } from './scan.js';
import { emailAt } from './tokens.js';

export { DETECTOR_NAMES, maskOf, type Detection, type DetectorName } from './names.js';
export { githubChecksumValid, ibanValid } from './tokens.js';

type Find = (text: string) => Detection[];
type PatternName = Exclude<DetectorName, 'PASSWORD' | 'AWS_SECRET_KEY' | 'GENERIC_API_KEY' | 'US_SSN' | 'IP_ADDRESS' | 'PHONE'>;

/** One detector on its own (the same scan with only that detector on). */
const only =
  (name: DetectorName): Find =>
  (text) =>
    scan(text, BIT[name]);

export const FINDERS: Readonly<Record<PatternName, Find>> = {
  CREDIT_CARD: only('CREDIT_CARD'),
  EMAIL: only('EMAIL'),
  IBAN: only('IBAN'),
  JWT: only('JWT'),
  GCP_SA_KEY: only('GCP_SA_KEY'),
  PRIVATE_KEY: only('PRIVATE_KEY'),
  AWS_ACCESS_KEY: only('AWS_ACCESS_KEY'),
  GCP_API_KEY: only('GCP_API_KEY'),
  GITHUB_TOKEN: only('GITHUB_TOKEN'),
  SLACK_TOKEN: only('SLACK_TOKEN'),
  STRIPE_KEY: only('STRIPE_KEY'),
  PASSWORD_IN_URL: only('PASSWORD_IN_URL'),
};

/**
 * Runs the enabled detectors and returns non-overlapping findings in order (on overlap the earlier,
 * then the longer, wins: a JWT inside a URL password is one finding; equal spans go to the type listed
 * first in `DETECTOR_NAMES`).
 */
export function detect(text: string, enabled: readonly DetectorName[]): Detection[] {
  return detectWith(text, maskOf(enabled));
}

/** `detect` with the detectors as a bit set from `maskOf`, computed once by callers on a hot path. */
export function detectWith(text: string, mask: number): Detection[] {
  if (mask === 0 || text.length < 3) return []; // the shortest finding is "::1"
  const all = scan(text, mask);
  if (all.length <= 1) return all;
  return withoutOverlaps(all, (d) => RANK[d.type]);
}

/**
 * `detectWith` for a text whose only candidate is the '@' at `at` (prefilter.ts `candidatesIn`; `mask` has
 * EMAIL on): the scan would visit that anchor alone, with nothing found before it, and call the e-mail
 * detector there, so this calls it directly and skips the scan's setup. At most one finding, so no overlap.
 */
export function detectEmailAt(text: string, at: number, mask: number): Detection | undefined {
  return text.length < 3 ? undefined : emailAt(text, at, (mask & BIT.PASSWORD_IN_URL) !== 0);
}

/**
 * Findings in text order with overlaps resolved: at one start the longest wins, at equal spans the lower
 * rank (the more specific detector); a finding that starts inside an earlier one is dropped. Sorts `all`.
 */
export function withoutOverlaps<T extends { readonly start: number; readonly end: number }>(all: T[], rank: (f: T) => number): T[] {
  all.sort((a, b) => a.start - b.start || b.end - a.end || rank(a) - rank(b));
  const out: T[] = [];
  let reach = -1;
  for (const f of all) {
    if (f.start < reach) continue;
    out.push(f);
    reach = f.end;
  }
  return out;
}

const ALL = maskOf(DETECTOR_NAMES);

/**
 * Replaces everything any detector finds with `[TYPE]`, for text that is not a result: internal error
 * details kept in the audit log (a Postgres error can echo a stored value of any kind).
 */
export function redactAll(text: string): string {
  const findings = detectWith(text, ALL);
  if (findings.length === 0) return text;
  let out = '';
  let last = 0;
  for (const f of findings) {
    out += `${text.slice(last, f.start)}[${f.type}]`;
    last = f.end;
  }
  return out + text.slice(last);
}
