/**
 * One pass over a string for every enabled detector. A table maps each ASCII character to the detectors
 * it can anchor (a digit, '@', ':', '=', '-', '_', some capitals). The candidate search (candidates.ts)
 * picks the anchors worth a look; with `every`, every anchor character is visited instead (the reference
 * the candidate search is tested against). Validators run only at anchors, and each keeps its own reach so
 * no span is examined twice by the same detector: the whole scan stays linear in the length of the text.
 */
import type { CountryCode } from 'libphonenumber-js/max';
import { cardsIn } from './cards.js';
import { isDigitCode } from './chars.js';
import { authHeaderAt, fieldMemo, flagAt, ipv4In, ipv6At, keyedAt, phonesIn, ssnsIn, type FieldMemo } from './context-detectors.js';
import { BIT, KEYED_BITS as KEYED, type Detection } from './names.js';
import { fold, isFoldable } from './fold.js';
import { candidatePlan, nextCandidate } from './candidates.js';
import { cloudKeyAt, emailAt, encodedEmailAt, ibanAt, jwtAt, mailMemo, pemMemo, privateKeyAt, serviceAccountKeyAt, slackHookAt, dashTokenAt, underscoreTokenAt, urlPasswordAt } from './tokens.js';

// What an anchor character starts.
const A_DIGIT = 1;
const A_AT = 2;
const A_COLON = 3;
const A_EQUALS = 4;
const A_DASH = 5;
const A_UNDERSCORE = 6;
const A_CAPITAL = 7; // IBAN, and by letter: A (AWS, Google), B/T (Bearer, Basic, Token), J (eyJ)
const A_PERCENT = 8; // an e-mail address written URL-encoded: `%40`, `%2540`

const DIGIT_RUNS = BIT.CREDIT_CARD | BIT.US_SSN | BIT.IP_ADDRESS | BIT.PHONE;

const tables = new Map<number, Uint8Array>();

/** The anchor table for a set of detectors (built once per set). */
function tableFor(mask: number): Uint8Array {
  const cached = tables.get(mask);
  if (cached !== undefined) return cached;
  const table = new Uint8Array(128);
  const set = (chars: string, anchor: number): void => {
    for (const ch of chars) table[ch.charCodeAt(0)] = anchor;
  };
  if ((mask & DIGIT_RUNS) !== 0) set('0123456789', A_DIGIT);
  if ((mask & BIT.EMAIL) !== 0) set('@', A_AT);
  if ((mask & BIT.EMAIL) !== 0) set('%', A_PERCENT);
  if ((mask & (KEYED | BIT.GCP_SA_KEY | BIT.PASSWORD_IN_URL | BIT.SLACK_TOKEN | BIT.IP_ADDRESS)) !== 0) set(':', A_COLON);
  if ((mask & (KEYED | BIT.GCP_SA_KEY)) !== 0) set('=', A_EQUALS);
  if ((mask & (BIT.PRIVATE_KEY | BIT.SLACK_TOKEN | KEYED)) !== 0) set('-', A_DASH);
  if ((mask & (BIT.GITHUB_TOKEN | BIT.STRIPE_KEY | BIT.GENERIC_API_KEY)) !== 0) set('_', A_UNDERSCORE);
  if ((mask & BIT.IBAN) !== 0) set('ABCDEFGHIJKLMNOPQRSTUVWXYZ', A_CAPITAL);
  if ((mask & (BIT.AWS_ACCESS_KEY | BIT.GCP_API_KEY)) !== 0) set('A', A_CAPITAL);
  if ((mask & BIT.GENERIC_API_KEY) !== 0) set('BT', A_CAPITAL);
  if ((mask & BIT.JWT) !== 0) set('J', A_CAPITAL);
  tables.set(mask, table);
  return table;
}

const on = (mask: number, d: Detection): boolean => (mask & BIT[d.type]) !== 0;

/**
 * Every finding of the enabled detectors (`mask`, from `maskOf`), unordered and possibly overlapping.
 * Offsets are JS string indices.
 */
/**
 * A phone check (phone-tables.ts) costs ~1.5–30 µs of CPU per candidate here: a string made of thousands of
 * phone-shaped runs (`1 1 1 …`) would still cost tens of milliseconds. Past this many checks in one string,
 * phone-shaped candidates are masked without the check (fail closed: more masking, never less).
 */
export const PHONE_CHECKS_PER_STRING = 256;

export function scan(text: string, mask: number, phoneCountry: CountryCode = 'US', every = false): Detection[] {
  const table = tableFor(mask);
  const out: Detection[] = [];
  const n = text.length;
  // Candidate anchors: the candidate search's places, or (`every`, the reference it is tested
  // against) every anchor character.
  let first = 0;
  const plan = candidatePlan(mask);
  if (!every) {
    if (!plan.any) return out;
    first = nextCandidate(text, 0, plan, 0);
    if (first >= n) return out; // most strings: nothing to look at, nothing allocated
  }
  // How far each detector has already looked: anchors before these are inside an earlier candidate.
  let runEnd = 0;
  let keyedEnd = 0;
  // The end of the last value read under a secret name and found to hold none (keyedAt, flagAt).
  const keyedReach = { end: 0 };
  let emailEnd = 0;
  const mail = mailMemo();
  let pemEnd = 0;
  const pem = pemMemo();
  let saEnd = 0;
  let ibanEnd = 0;
  let slackEnd = 0;
  let underscoreEnd = 0;
  const v6 = { end: 0 };
  const jwt = { end: 0 };
  const phoneChecks = { left: PHONE_CHECKS_PER_STRING };
  const fields = fieldMemo();
  // The next candidate after `i` (digits of the run read last are not looked at again).
  const next = (i: number): number => (every ? i + 1 : nextCandidate(text, i + 1, plan, runEnd));
  for (let i = first; i < n; i = next(i)) {
    const c = text.charCodeAt(i);
    if (c >= 128) {
      // A digit, space or dash in another Unicode form (the candidate search stops at them): scan the whole
      // text folded to ASCII instead (rare: most text has none).
      if ((mask & DIGIT_RUNS) !== 0 && isFoldable(text.codePointAt(i) ?? c)) return scanFolded(text, mask, phoneCountry, every);
      continue;
    }
    const anchor = table[c] ?? 0;
    if (anchor === 0) continue;
    switch (anchor) {
      case A_DIGIT:
        if (i >= runEnd) runEnd = digitRun(text, i, mask, phoneCountry, out, phoneChecks, fields);
        break;
      case A_AT:
        if (i >= emailEnd) {
          const d = emailAt(text, i, (mask & BIT.PASSWORD_IN_URL) !== 0, mail);
          if (d !== undefined) {
            out.push(d);
            emailEnd = d.end;
          }
        }
        break;
      case A_PERCENT:
        if (i >= emailEnd) {
          const d = encodedEmailAt(text, i, mail);
          if (d !== undefined) {
            out.push(d);
            emailEnd = d.end;
          }
        }
        break;
      case A_COLON:
      case A_EQUALS:
        if ((mask & BIT.GCP_SA_KEY) !== 0 && i >= saEnd) {
          const d = serviceAccountKeyAt(text, i, pem);
          if (d !== undefined) {
            out.push(d);
            saEnd = d.end;
          }
        }
        if ((mask & KEYED) !== 0 && i >= keyedEnd && i >= keyedReach.end) {
          const d = keyedAt(text, i, keyedReach);
          if (d !== undefined) {
            if (on(mask, d)) out.push(d);
            keyedEnd = d.end;
          }
        }
        if (anchor === A_EQUALS) break;
        if ((text.charCodeAt(i + 1) === 47 && text.charCodeAt(i + 2) === 47) || text.startsWith('\\/\\/', i + 1)) {
          const hook = (mask & BIT.SLACK_TOKEN) !== 0 ? slackHookAt(text, i) : undefined;
          if (hook !== undefined) out.push(hook);
          const password = (mask & BIT.PASSWORD_IN_URL) !== 0 ? urlPasswordAt(text, i) : undefined;
          if (password !== undefined) out.push(password);
        }
        if ((mask & BIT.IP_ADDRESS) !== 0 && i >= v6.end) {
          const d = ipv6At(text, i, v6);
          if (d !== undefined) out.push(d);
        }
        break;
      case A_DASH:
        if (text.charCodeAt(i + 1) === 45) {
          if ((mask & BIT.PRIVATE_KEY) !== 0 && i >= pemEnd && text.startsWith('-----BEGIN ', i)) {
            const d = privateKeyAt(text, i, pem);
            if (d !== undefined) {
              out.push(d);
              pemEnd = d.end;
            }
          }
          // `--password <value>`: a flag naming a secret, its value after a space.
          if ((mask & KEYED) !== 0 && i >= keyedEnd && i >= keyedReach.end) {
            const d = flagAt(text, i, keyedReach);
            if (d !== undefined) {
              if (on(mask, d)) out.push(d);
              keyedEnd = d.end;
            }
          }
        }
        // Also after `--`: a token's random part may open with '-' (`glpat--AbC…`, `xoxb--…`).
        if ((mask & (BIT.SLACK_TOKEN | BIT.GENERIC_API_KEY)) !== 0 && i >= slackEnd) {
          const d = dashTokenAt(text, i);
          if (d !== undefined) {
            if (on(mask, d)) {
              out.push(d);
              slackEnd = d.end;
            }
          }
        }
        break;
      case A_UNDERSCORE:
        if (i >= underscoreEnd) {
          const d = underscoreTokenAt(text, i);
          if (d !== undefined) {
            if (on(mask, d)) out.push(d);
            underscoreEnd = d.end;
          }
        }
        break;
      case A_CAPITAL:
        if ((mask & BIT.IBAN) !== 0 && i >= ibanEnd) {
          const d = ibanAt(text, i);
          if (d !== undefined) {
            out.push(d);
            ibanEnd = d.end;
          }
        }
        if (c === 65 /* A */ && (mask & (BIT.AWS_ACCESS_KEY | BIT.GCP_API_KEY)) !== 0) {
          const d = cloudKeyAt(text, i);
          if (d !== undefined && on(mask, d)) out.push(d);
        } else if ((c === 66 /* B */ || c === 84) /* T */ && (mask & BIT.GENERIC_API_KEY) !== 0) {
          const d = authHeaderAt(text, i);
          if (d !== undefined) out.push(d);
        } else if (c === 74 /* J */ && (mask & BIT.JWT) !== 0 && i - 2 >= jwt.end && text.charCodeAt(i - 1) === 121 && text.charCodeAt(i - 2) === 101) {
          const d = jwtAt(text, i - 2, jwt);
          if (d !== undefined) out.push(d);
        }
        break;
    }
  }
  return out;
}

/** `scan` over the text folded to ASCII digits, spaces and dashes, with findings mapped back to `text`. */
function scanFolded(text: string, mask: number, phoneCountry: CountryCode, every: boolean): Detection[] {
  const folded = fold(text);
  if (folded === undefined) return scan(text, mask & ~DIGIT_RUNS, phoneCountry, every);
  const { offsets } = folded;
  return scan(folded.text, mask, phoneCountry, every).map((d) => {
    const last = offsets[d.end - 1] ?? 0;
    const width = (text.codePointAt(last) ?? 0) > 0xffff ? 2 : 1;
    return { ...d, start: offsets[d.start] ?? 0, end: last + width };
  });
}

/**
 * A run of digits, spaces, dots, dashes, brackets and '+' that starts with the digit at `first`: every
 * digit-based detector looks inside it, and only when it holds enough digits for that detector.
 * Returns the end of the run.
 */
function digitRun(text: string, first: number, mask: number, phoneCountry: CountryCode, out: Detection[], phoneChecks: { left: number }, fields: FieldMemo): number {
  const n = text.length;
  let end = first;
  let digits = 0;
  let dots = 0;
  let dashes = 0;
  for (; end < n; end++) {
    const c = text.charCodeAt(end);
    if (isDigitCode(c)) digits++;
    else if (c === 46) dots++;
    else if (c === 45) dashes++;
    else if (c !== 32 && c !== 40 && c !== 41 && c !== 43) break;
  }
  if (digits < 4) return end;
  const cardsFrom = out.length;
  if (digits >= 13 && (mask & BIT.CREDIT_CARD) !== 0) cardsIn(text, first, end, out);
  const cardsTo = out.length;
  if (digits >= 9 && dashes >= 2 && (mask & BIT.US_SSN) !== 0) ssnsIn(text, first, end, out);
  if (dots >= 3 && (mask & BIT.IP_ADDRESS) !== 0) ipv4In(text, first, end, out, fields);
  if (digits >= 7 && (mask & BIT.PHONE) !== 0) {
    // A phone number may open with '+', '(' or '+(' just before its first digit.
    let from = first;
    if (text.charCodeAt(from - 1) === 40) from--;
    if (text.charCodeAt(from - 1) === 43) from--;
    // Phones are looked for between the cards of the run, not across them: a card's digits are masked whole
    // (a phone that began before a card and ran into it would win the overlap and leave the card's tail
    // readable), and pieces of a card are never checked as phones.
    for (let c = cardsFrom; c < cardsTo; c++) {
      const card = out[c] as Detection;
      if (card.start > from) phonesIn(text, from, card.start, phoneCountry, out, phoneChecks);
      from = Math.max(from, card.end);
    }
    if (end > from) phonesIn(text, from, end, phoneCountry, out, phoneChecks);
  }
  return end;
}
