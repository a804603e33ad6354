/**
 * A loose, cheap test for short strings (a result's cells): one JavaScript loop that answers false only
 * when the scanner's candidate search (candidates.ts) would find no place to look. Most cells of a result
 * are names, statuses, codes and numbers, and this costs less than setting up the scan.
 */
import { isFoldable } from './fold.js';
import { BIT, KEYED_BITS as KEYED, leastDigits } from './names.js';

const Q_DIGIT = 1;
const Q_DOT = 2;
const Q_RUN = 4; // ' ', '(', ')', '+', '-': keep a digit run going
const Q_ANCHOR = 8; // starts a candidate of an enabled detector other than the digit ones
const Q_CAPITAL = 16; // a capital letter: a candidate when the letters after it say so
const Q_FLAG = 32; // '-': a candidate when another follows (`--password value`)

interface Quick {
  readonly table: Uint8Array;
  /** Digits in one run that make a candidate (0: no digit detector on). */
  readonly least: number;
  /** Whether three dots in a run make a candidate (IPv4). */
  readonly dots: boolean;
  /** The enabled detectors (for the capital letters). */
  readonly mask: number;
  /** Only detectors of digit runs are on (cards, phones: no anchor character, no capital, no IPv4). */
  readonly digitsOnly: boolean;
}

const quick = new Map<number, Quick>();
// The set asked about last: a result's cells all ask about the same one, and this spares a map lookup per cell.
let lastKey = -1;
let lastQuick: Quick | undefined;

function quickFor(mask: number, newlines: boolean): Quick {
  const key = mask * 2 + (newlines ? 1 : 0);
  if (key === lastKey && lastQuick !== undefined) return lastQuick;
  // The lookup stays apart from the builder: a closure over `mask` in the same function would make V8
  // allocate its context on every call (every cell of a result), not only when a table is built.
  const q = quick.get(key) ?? buildQuick(mask, newlines, key);
  lastKey = key;
  lastQuick = q;
  return q;
}

function buildQuick(mask: number, newlines: boolean, key: number): Quick {
  const on = (bits: number): boolean => (mask & bits) !== 0;
  const table = new Uint8Array(128);
  const set = (chars: string, flag: number): void => {
    for (const ch of chars) table[ch.charCodeAt(0)] = (table[ch.charCodeAt(0)] ?? 0) | flag;
  };
  set('0123456789', Q_DIGIT);
  set('.', Q_DOT);
  set(' ()+-', Q_RUN);
  if (on(BIT.EMAIL)) set('@%', Q_ANCHOR);
  if (on(KEYED | BIT.GCP_SA_KEY)) set('=:', Q_ANCHOR);
  if (on(KEYED)) set('-', Q_FLAG);
  if (on(BIT.SLACK_TOKEN | BIT.PASSWORD_IN_URL | BIT.IP_ADDRESS)) set(':', Q_ANCHOR);
  if (on(BIT.PRIVATE_KEY | BIT.SLACK_TOKEN | BIT.GENERIC_API_KEY)) set('-', Q_ANCHOR);
  if (on(BIT.GITHUB_TOKEN | BIT.STRIPE_KEY | BIT.GENERIC_API_KEY)) set('_', Q_ANCHOR);
  if (on(BIT.IBAN | BIT.AWS_ACCESS_KEY | BIT.GCP_API_KEY | BIT.GENERIC_API_KEY | BIT.JWT)) set('ABCDEFGHIJKLMNOPQRSTUVWXYZ', Q_CAPITAL);
  // A line break makes the text possible CSV, which a header can give context (see `candidatesIn`).
  if (newlines) set('\n', Q_ANCHOR);
  const least = leastDigits(mask);
  // No anchor character and no capital: what is left of the loop below is the digit run (see digitRun).
  const digitsOnly = least > 0 && !on(BIT.IP_ADDRESS) && table.every((f) => (f & (Q_ANCHOR | Q_CAPITAL | Q_FLAG)) === 0);
  const q = { table, least, dots: on(BIT.IP_ADDRESS), mask, digitsOnly };
  quick.set(key, q);
  return q;
}

/** `candidatesIn`: no detector can find anything in the text. */
export const NO_CANDIDATE = -1;
/** `candidatesIn`: the text holds a candidate other than one lone '@' (or more than one). */
export const CANDIDATES = -2;

/**
 * A necessary condition for the scan to find anything: true whenever the candidate search finds a place (and
 * sometimes when it does not), except on a text too short to hold a finding when only digit-run detectors
 * are on: a digit run with enough digits or three dots, or any other anchor character of an enabled
 * detector. One JavaScript loop, cheaper than the candidate search on short strings
 * (a result's cells): a false answer means there is nothing to find.
 */
export function mayMatch(text: string, mask: number): boolean {
  return candidatesIn(text, mask, false) !== NO_CANDIDATE;
}

/**
 * `mayMatch`, telling one more case apart: the index of the text's '@' when that '@' is its only
 * candidate (an e-mail address alone in a cell, the commonest finding in a result). Then the candidate
 * search stops nowhere else either (each of its conditions implies a candidate of this loop on the
 * characters it reads, and none of them holds or runs across an '@'), so the scan would run the e-mail
 * detector at that '@' and nothing else. NO_CANDIDATE: nothing to find; CANDIDATES: anything else.
 * `newlines`: a line break is a candidate too (the masker reads a text with one as possible CSV, whose
 * header can give its columns context), found in the same loop rather than by a second pass.
 */
export function candidatesIn(text: string, mask: number, newlines: boolean): number {
  const q = quickFor(mask, newlines);
  if (q.digitsOnly) return digitRun(text, q.least) ? CANDIDATES : NO_CANDIDATE;
  const { table, least, dots: ipv4 } = q;
  let digits = 0;
  let dots = 0;
  let at = NO_CANDIDATE;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    const f = c < 128 ? (table[c] ?? 0) : 0;
    if (f === 0) {
      // A digit, space or dash in another Unicode form: the scan folds it (digit detectors only).
      if (c >= 128 && (least > 0 || ipv4) && isFoldable(text.codePointAt(i) ?? c)) return CANDIDATES;
      // Most characters of a value (small letters, most punctuation) start nothing and end any run.
      digits = 0;
      dots = 0;
    } else if ((f & Q_ANCHOR) !== 0) {
      if (c !== 64 || at !== NO_CANDIDATE) return CANDIDATES;
      // '@' is in no digit run, IPv4 address or other candidate: what follows starts afresh.
      at = i;
      digits = 0;
      dots = 0;
    } else if ((f & Q_FLAG) !== 0 && text.charCodeAt(i + 1) === 45) return CANDIDATES;
    else if ((f & Q_CAPITAL) !== 0) {
      if (capitalMayStart(text, i, c, q.mask)) return CANDIDATES;
      digits = 0;
      dots = 0;
    } else if ((f & Q_DIGIT) !== 0) {
      if (++digits >= least && least > 0) return CANDIDATES;
    } else if ((f & Q_DOT) !== 0) {
      if (++dots >= 3 && ipv4 && digits > 0) return CANDIDATES;
    } else if ((f & Q_RUN) === 0) {
      digits = 0;
      dots = 0;
    }
  }
  return at;
}

/**
 * `mayMatch` when only digit-run detectors are on (the policy of most databases: cards): the same answer
 * from comparisons alone, except that a text shorter than the run is rejected unread (names, statuses,
 * codes). Each digit is at least one UTF-16 unit, so no detector can find anything in it, even where
 * the candidate search would stop at a foldable character.
 */
function digitRun(text: string, least: number): boolean {
  const n = text.length;
  if (n < least) return false;
  let digits = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 57) {
      // A digit, space or dash in another Unicode form: the scan folds it.
      if (c >= 128 && isFoldable(text.codePointAt(i) ?? c)) return true;
      digits = 0;
    } else if (c >= 48) {
      if (++digits >= least) return true;
    } else if (c !== 32 && c !== 45 && c !== 46 && c !== 40 && c !== 41 && c !== 43) {
      // Not one of ` -.()+`, which keep a run going.
      digits = 0;
    }
  }
  return false;
}

const upper = (c: number): boolean => c >= 65 && c <= 90;
const digit = (c: number): boolean => c >= 48 && c <= 57;

/** The capital letters the candidate search stops at (and IBANs), loosened to the next one or two characters. */
function capitalMayStart(text: string, i: number, c: number, mask: number): boolean {
  const next = text.charCodeAt(i + 1);
  if ((mask & BIT.IBAN) !== 0 && upper(next) && digit(text.charCodeAt(i + 2)) && digit(text.charCodeAt(i + 3))) return true;
  // AKIA, ASIA, ABIA, ACCA, AIza
  if (c === 65 && (mask & (BIT.AWS_ACCESS_KEY | BIT.GCP_API_KEY)) !== 0 && (next === 75 || next === 83 || next === 66 || next === 67 || next === 73)) return true;
  // Bearer, Basic, Token
  if ((mask & BIT.GENERIC_API_KEY) !== 0 && ((c === 66 && (next === 101 || next === 97)) || (c === 84 && next === 111))) return true;
  // eyJ
  return c === 74 && (mask & BIT.JWT) !== 0 && text.charCodeAt(i - 1) === 121;
}
