/**
 * Where the scanner needs to look, found by one JavaScript loop over char codes (no regular expression).
 * Visiting every anchor character (every digit, capital, '=' and ':') costs more than the detectors
 * themselves on ordinary logs, where a third of the characters are anchors and almost none start a
 * finding. At each anchor this loop checks the cheapest necessary condition of the detectors it can start
 * (a digit run with enough digits, a key name that can name a secret before '=' or ':', a token prefix
 * before '_' or '-') and goes on at once when it fails.
 *
 * Each condition is a superset of where its detector can find something, so the scanner runs exactly the
 * code it would run at that anchor anyway and the findings are those of visiting every anchor (a property
 * test compares both on random and adversarial text, for every detector set). Each character is read a
 * bounded number of times: a digit run is read once ahead from its first digit and then skipped, and
 * every look back is bounded (KEY_NAME_MAX, 8 quotes or spaces).
 */
import { DIGIT, HEX, is, isCode, isDigitCode, KEY, WORD } from './chars.js';
import { isFoldable } from './fold.js';
import { KEY_ENDINGS, KEY_NAME_MAX } from './key-names.js';
import { BIT, KEYED_BITS as KEYED, leastDigits } from './names.js';

// What an ASCII character can start, per detector set.
const C_DIGIT = 1;
const C_AT = 2;
const C_PERCENT = 3;
const C_COLON = 4;
const C_EQUALS = 5;
const C_DASH = 6;
const C_UNDERSCORE = 7;
const C_CAPITAL = 8;

/** What the loop needs to know about one detector set, worked out once per set (`candidatePlan`). */
export interface Plan {
  readonly table: Uint8Array;
  /** Some detector of the set has an anchor character. */
  readonly any: boolean;
  /** Digits one run needs (0: no digit-count detector is on). */
  readonly least: number;
  /** IPv4 is on: three dots in a run make a candidate. */
  readonly ipv4: boolean;
  /** A digit detector is on: digits, spaces and dashes in other Unicode forms are candidates (the scan folds them). */
  readonly folds: boolean;
  /** Key names before '=' / ':' are read: every secret-name ending (KEYED), or only `key` (GCP_SA_KEY alone). */
  readonly keys: 0 | 1 | 2;
  /** `--name value` flags. */
  readonly flags: boolean;
  /** `://` and `:\/\/` (Slack webhooks, URL passwords). */
  readonly urls: boolean;
  readonly ipv6: boolean;
  readonly pem: boolean;
  /** `xox?-`, `xapp-` (Slack), `glpat-` (GitLab). */
  readonly slack: boolean;
  readonly gitlab: boolean;
  /** `gh?_`, `sk_`, `rk_`, `whsec_`, `github_` (GitHub, Stripe), `npm_`. */
  readonly github: boolean;
  readonly npm: boolean;
  readonly iban: boolean;
  readonly cloud: boolean;
  readonly auth: boolean;
  readonly jwt: boolean;
}

const plans = new Map<number, Plan>();

/** The plan for a detector set (`maskOf`): built once per set, passed to `nextCandidate`. */
export function candidatePlan(mask: number): Plan {
  return plans.get(mask) ?? buildPlan(mask);
}

function buildPlan(mask: number): Plan {
  const on = (bits: number): boolean => (mask & bits) !== 0;
  const table = new Uint8Array(128);
  const set = (chars: string, kind: number): void => {
    for (const ch of chars) table[ch.charCodeAt(0)] = kind;
  };
  const least = leastDigits(mask);
  const ipv4 = on(BIT.IP_ADDRESS);
  if (least > 0 || ipv4) set('0123456789', C_DIGIT);
  if (on(BIT.EMAIL)) set('@', C_AT);
  if (on(BIT.EMAIL)) set('%', C_PERCENT);
  const keys = on(KEYED) ? 2 : on(BIT.GCP_SA_KEY) ? 1 : 0;
  const urls = on(BIT.SLACK_TOKEN | BIT.PASSWORD_IN_URL);
  if (keys > 0 || urls || ipv4) set(':', C_COLON);
  if (keys > 0) set('=', C_EQUALS);
  const flags = on(KEYED);
  const pem = on(BIT.PRIVATE_KEY);
  const slack = on(BIT.SLACK_TOKEN);
  const gitlab = on(BIT.GENERIC_API_KEY);
  if (flags || pem || slack || gitlab) set('-', C_DASH);
  const github = on(BIT.GITHUB_TOKEN | BIT.STRIPE_KEY);
  const npm = on(BIT.GENERIC_API_KEY);
  if (github || npm) set('_', C_UNDERSCORE);
  const iban = on(BIT.IBAN);
  const cloud = on(BIT.AWS_ACCESS_KEY | BIT.GCP_API_KEY);
  const auth = on(BIT.GENERIC_API_KEY);
  const jwt = on(BIT.JWT);
  // An IBAN (`GB82`) is found from its first digit (see `ibanBefore`): most capitals start nothing.
  if (iban) set('0123456789', C_DIGIT);
  if (cloud) set('A', C_CAPITAL);
  if (auth) set('BT', C_CAPITAL);
  if (jwt) set('J', C_CAPITAL);
  const plan: Plan = { table, any: table.some((k) => k !== 0), least, ipv4, folds: least > 0 || ipv4, keys, flags, urls, ipv6: ipv4, pem, slack, gitlab, github, npm, iban, cloud, auth, jwt };
  plans.set(mask, plan);
  return plan;
}

/**
 * The first place at or after `from` where a detector of the plan's set may find something, or
 * `text.length`.
 * `runEnd`: the end of the digit run the scanner read last (its digits are not looked at again).
 */
export function nextCandidate(text: string, from: number, plan: Plan, runEnd: number): number {
  const { table } = plan;
  const n = text.length;
  // Digits before this are in a run already read (by the scanner, or ahead by this loop).
  let dead = runEnd;
  for (let i = from; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128) {
      // A digit, space or dash in another Unicode form: the scan folds the text and looks again.
      if (plan.folds && isFoldable(text.codePointAt(i) ?? c)) return i;
      continue;
    }
    const kind = table[c] ?? 0;
    if (kind === 0) continue;
    switch (kind) {
      case C_DIGIT: {
        if (i < dead) {
          // Inside a run already read: on to its end, or to its next dash (a dash may start a flag or a PEM block).
          while (i + 1 < dead && text.charCodeAt(i + 1) !== 45) i++;
          break;
        }
        // `GB82`: the IBAN's first capital, two places back (not yet passed).
        if (plan.iban && i - 2 >= from && ibanBefore(text, i)) return i - 2;
        if (plan.least === 0 && !plan.ipv4) break;
        // The run the scanner would read from here: digits and ` .()+-`.
        let e = i;
        let digits = 0;
        let dots = 0;
        let dashes = 0;
        let last = i;
        for (; e < n; e++) {
          const d = text.charCodeAt(e);
          if (d >= 48 && d <= 57) {
            digits++;
            last = e;
          } else if (d === 46) dots++;
          else if (d === 45) dashes++;
          else if (d !== 32 && d !== 40 && d !== 41 && d !== 43) break;
        }
        if ((plan.ipv4 && dots >= 3) || (plan.least > 0 && digits >= plan.least && !bareDate(text, i, e, digits, dashes) && !(last + 1 - i === digits && gluedDigits(text, i, last + 1)))) return i;
        // No other anchor in the run but its dashes: without them, go on after it.
        if (dashes === 0 || table[45] === 0) i = e - 1;
        else dead = e;
        break;
      }
      case C_AT:
        return i;
      case C_PERCENT:
        // `%40`, `%2540`: an e-mail address written URL-encoded.
        if (text.charCodeAt(i + 1) === 52 ? text.charCodeAt(i + 2) === 48 : text.startsWith('2540', i + 1)) return i;
        break;
      case C_COLON:
        if (plan.keys > 0 && keyEndsBefore(text, i, plan.keys)) return i;
        if (colonStarts(text, i, plan)) return i;
        break;
      case C_EQUALS:
        if (keyEndsBefore(text, i, plan.keys)) return i;
        break;
      case C_DASH:
        if (dashStarts(text, i, plan)) return i;
        break;
      case C_UNDERSCORE:
        if (underscoreStarts(text, i, plan)) return i;
        break;
      case C_CAPITAL:
        if (capitalStarts(text, i, c, plan)) return i;
        break;
    }
  }
  return n;
}

/**
 * `2026-11-29` alone in its run (the run is `[i, e)`), not after '(' or '+': no detector finds anything in
 * it (eight digits: no card or SSN; the phone matcher skips a date; no dots), and nearly every log line
 * opens with one.
 */
function bareDate(text: string, i: number, e: number, digits: number, dashes: number): boolean {
  if (e - i !== 10 || digits !== 8 || dashes !== 2 || text.charCodeAt(i + 4) !== 45 || text.charCodeAt(i + 7) !== 45) return false;
  const before = text.charCodeAt(i - 1);
  return before !== 40 && before !== 43;
}

/**
 * Digits `[i, e)` with no separator between them (a run may go on with separators alone), glued to a word
 * (`07f116cb4717682cb…`, `span=c88764043133`, `id42…`): part of an id. No card starts next to a word
 * character, and the phone matcher takes a run glued to a word as part of it (except before an extension:
 * `x12`, `ext`).
 */
function gluedDigits(text: string, i: number, e: number): boolean {
  if (is(text, i - 1, WORD)) return true;
  const after = text.charCodeAt(e);
  if (!((after >= 65 && after <= 90) || (after >= 97 && after <= 122) || after === 95)) return false;
  if ((after === 120 || after === 88) && is(text, e + 1, DIGIT)) return false;
  return !((after | 32) === 101 && (text.charCodeAt(e + 1) | 32) === 120 && (text.charCodeAt(e + 2) | 32) === 116);
}

const isSeparator = (c: number): boolean => c === 95 || c === 46 || c === 45; // _ . -

/** ':' that starts `//` or `\/\/` (a URL), `::` or seven groups of an IPv6 address. */
function colonStarts(text: string, i: number, plan: Plan): boolean {
  const next = text.charCodeAt(i + 1);
  if (plan.urls && ((next === 47 && text.charCodeAt(i + 2) === 47) || (next === 92 && text.startsWith('\\/\\/', i + 1)))) return true;
  if (!plan.ipv6) return false;
  if (next === 58) return true;
  // Six more groups of one to four hex digits, each followed by ':', then a hex digit.
  let k = i + 1;
  for (let group = 0; group < 6; group++) {
    let hex = 0;
    while (hex < 4 && is(text, k, HEX)) {
      hex++;
      k++;
    }
    if (hex === 0 || text.charCodeAt(k) !== 58) return false;
    k++;
  }
  return is(text, k, HEX);
}


/** '-' that starts `--name` (a flag naming a secret), `-----BEGIN `, or ends `xoxb-`, `xapp-`, `glpat-`. */
function dashStarts(text: string, i: number, plan: Plan): boolean {
  const next = text.charCodeAt(i + 1);
  if (next === 45) {
    if (plan.pem && text.startsWith('----BEGIN ', i + 1)) return true;
    if (plan.flags && flagNamesSecret(text, i)) return true;
  }
  const before = text.charCodeAt(i - 1);
  if (plan.slack) {
    // xox[baprse]-, xapp-
    if ((before === 98 || before === 97 || before === 112 || before === 114 || before === 115 || before === 101) && text.startsWith('xox', i - 4)) return true;
    if (before === 112 && text.startsWith('xapp', i - 4)) return true;
  }
  return plan.gitlab && before === 116 && text.startsWith('glpat', i - 5);
}

/** `--name` at `i`, not glued to a word, whose name ends like a secret's and is followed by a space, a tab or '"'. */
function flagNamesSecret(text: string, i: number): boolean {
  const before = text.charCodeAt(i - 1);
  if (isCode(before, WORD) || before === 46 || before === 45) return false;
  // The name with its dashes, read as far as the scanner reads one (KEY_NAME_MAX characters).
  let e = i;
  const limit = Math.min(text.length, i + KEY_NAME_MAX);
  while (e < limit && is(text, e, KEY)) e++;
  if (e === limit && e < text.length && is(text, e, KEY)) return false;
  const after = text.charCodeAt(e);
  if (after !== 32 && after !== 9 && after !== 34) return false;
  return nameEndsLikeSecret(text, e, 2);
}


/** '_' that ends `gh?_`, `sk_`, `rk_`, `whsec_`, `github_` or `npm_`. */
function underscoreStarts(text: string, i: number, plan: Plan): boolean {
  const b1 = text.charCodeAt(i - 1);
  if (plan.github) {
    // gh[pousr]_
    if ((b1 === 112 || b1 === 111 || b1 === 117 || b1 === 115 || b1 === 114) && text.charCodeAt(i - 2) === 104 && text.charCodeAt(i - 3) === 103) return true;
    // [sr]k_
    if (b1 === 107 && (text.charCodeAt(i - 2) === 115 || text.charCodeAt(i - 2) === 114)) return true;
    if (b1 === 99 && text.startsWith('whsec', i - 5)) return true;
    if (b1 === 98 && text.startsWith('github', i - 6)) return true;
  }
  return plan.npm && b1 === 109 && text.startsWith('npm', i - 3);
}

/** Two capitals before the digit at `i`, not glued to a word, and a second digit after it: `GB82`. */
function ibanBefore(text: string, i: number): boolean {
  const a = text.charCodeAt(i - 2);
  const b = text.charCodeAt(i - 1);
  return a >= 65 && a <= 90 && b >= 65 && b <= 90 && is(text, i + 1, DIGIT) && !is(text, i - 3, WORD);
}

/** A capital that starts `AKIA`/`ASIA`/`ABIA`/`ACCA`/`AIza`, `Bearer `, `Basic `, `Token `, or the `J` of `eyJ`. */
function capitalStarts(text: string, i: number, c: number, plan: Plan): boolean {
  const next = text.charCodeAt(i + 1);
  switch (c) {
    case 65: // A
      return plan.cloud && !is(text, i - 1, WORD) && (text.startsWith('KIA', i + 1) || text.startsWith('SIA', i + 1) || text.startsWith('BIA', i + 1) || text.startsWith('CCA', i + 1) || text.startsWith('Iza', i + 1));
    case 66: // B
      return plan.auth && (text.startsWith('earer', i + 1) || text.startsWith('asic', i + 1)) && spaceOrTab(text.charCodeAt(i + (next === 101 ? 6 : 5)));
    case 84: // T
      return plan.auth && text.startsWith('oken', i + 1) && spaceOrTab(text.charCodeAt(i + 5));
    case 74: // J
      return plan.jwt && text.charCodeAt(i - 1) === 121 && text.charCodeAt(i - 2) === 101;
    default:
      return false;
  }
}

const spaceOrTab = (c: number): boolean => c === 32 || c === 9;

// ---------- key names before '=' and ':' ----------

/** The plain words among the key endings, grouped by their last letter; the two patterned endings apart. */
const PLAIN = KEY_ENDINGS.filter((w) => /^[a-z]+$/.test(w));
const PATTERNED = KEY_ENDINGS.filter((w) => !/^[a-z]+$/.test(w));
// The two patterned endings are read by hand below (`session…id`, `passw(or)d<digits>`); a new one must be too.
if (PATTERNED.length !== 2 || !PATTERNED[0]?.startsWith('session[') || !PATTERNED[1]?.startsWith('passw(')) {
  throw new Error(`candidates.ts reads the key endings session…id and passw(or)d<digits> by hand; key-names.ts now has: ${PATTERNED.join(', ')}`);
}
/** By the char code of their last letter (0–127; `| 32` folds case): the plain endings ending in it, or none. */
const BY_LAST: (readonly string[] | undefined)[] = Array.from({ length: 128 }, (): readonly string[] | undefined => undefined);
for (const word of [...PLAIN].sort((a, b) => b.length - a.length)) {
  const last = word.charCodeAt(word.length - 1);
  BY_LAST[last] = [...(BY_LAST[last] ?? []), word];
}

/** Whether `text` ends with `word` (lower-case letters) just before `end`, in any case. */
function endsWithWord(text: string, end: number, word: string): boolean {
  const start = end - word.length;
  if (start < 0) return false;
  for (let k = word.length - 1; k >= 0; k--) if ((text.charCodeAt(start + k) | 32) !== word.charCodeAt(k)) return false;
  return true;
}

/**
 * A key ending just before `end`: a plain word, `session` + up to KEY_NAME_MAX − 9 separators + `id`, or
 * (KEYED) a password word with one to three digits glued to it (`password2`).
 */
function endingBefore(text: string, end: number, keys: number): boolean {
  const code = text.charCodeAt(end - 1);
  const last = code | 32;
  if (keys === 1) return last === 121 && endsWithWord(text, end, 'key');
  if (isDigitCode(code)) {
    if (keys !== 2) return false;
    let k = end - 1;
    while (is(text, k - 1, DIGIT) && end - k < 3) k--;
    return (text.charCodeAt(k - 1) | 32) === 100 && (endsWithWord(text, k, 'password') || endsWithWord(text, k, 'passwd'));
  }
  const words = last < 128 ? BY_LAST[last] : undefined;
  if (words !== undefined) for (const w of words) if (endsWithWord(text, end, w)) return true;
  if (last === 100 && (text.charCodeAt(end - 2) | 32) === 105) {
    // session[_.-]{0,55}id
    let k = end - 2;
    const stop = Math.max(0, k - (KEY_NAME_MAX - 9));
    while (k > stop && isSeparator(text.charCodeAt(k - 1))) k--;
    if (endsWithWord(text, k, 'session')) return true;
  }
  return false;
}

/**
 * A key name that can name a secret ends at `end` (exclusive): an ending (`endingBefore`), perhaps with what
 * may follow it (KEY_SUFFIX: `_v4`, `V2`, `_2`, `_confirmation`).
 */
function nameEndsLikeSecret(text: string, end: number, keys: number): boolean {
  if (end <= 0) return false;
  if (endingBefore(text, end, keys)) return true;
  if (is(text, end - 1, DIGIT)) {
    // One to three digits after `v`/`V` (perhaps after a separator) or after a separator.
    let k = end - 1;
    while (is(text, k - 1, DIGIT) && end - k < 3) k--;
    const b = text.charCodeAt(k - 1);
    if (b === 118 || b === 86) return endingBefore(text, k - 1, keys) || (isSeparator(text.charCodeAt(k - 2)) && endingBefore(text, k - 2, keys));
    return isSeparator(b) && endingBefore(text, k - 1, keys);
  }
  // `confirm`, `confirmation`, perhaps after a separator.
  const last = text.charCodeAt(end - 1) | 32;
  if (last !== 109 && last !== 110) return false;
  for (const word of CONFIRM) {
    if (!endsWithWord(text, end, word)) continue;
    const k = end - word.length;
    if (endingBefore(text, k, keys) || (isSeparator(text.charCodeAt(k - 1)) && endingBefore(text, k - 1, keys))) return true;
  }
  return false;
}

const CONFIRM = ['confirm', 'confirmation'];

/**
 * The last two letters of every ending a name can end with (`rd` of password, `id` of session…id, `rm` and
 * `on` of the confirmations): 1 at (first − 'a') × 26 + (second − 'a'). Most key names end otherwise.
 */
const PAIRS = new Uint8Array(26 * 26);
for (const w of [...PLAIN, 'id', ...CONFIRM]) PAIRS[(w.charCodeAt(w.length - 2) - 97) * 26 + (w.charCodeAt(w.length - 1) - 97)] = 1;

/**
 * '=' or ':' at `i` after a key name that can name a secret: the name, then perhaps a quote (escaped by up
 * to 8 backslashes), then up to 8 spaces or tabs.
 */
function keyEndsBefore(text: string, i: number, keys: number): boolean {
  let k = i;
  const spaces = Math.max(0, k - 8);
  while (k > spaces && spaceOrTab(text.charCodeAt(k - 1))) k--;
  const q = text.charCodeAt(k - 1);
  if (q === 34 || q === 39) {
    k--;
    const slashes = Math.max(0, k - 8);
    while (k > slashes && text.charCodeAt(k - 1) === 92) k--;
  }
  // Cheap tests first: a name that ends in a digit, or in two letters that end some ending.
  const last = text.charCodeAt(k - 1);
  if (last >= 48 && last <= 57) return nameEndsLikeSecret(text, k, keys);
  const a = (text.charCodeAt(k - 2) | 32) - 97;
  const b = (last | 32) - 97;
  if (a < 0 || a > 25 || b < 0 || b > 25 || PAIRS[a * 26 + b] === 0) return false;
  return nameEndsLikeSecret(text, k, keys);
}
