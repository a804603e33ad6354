/**
 * The regular expression the scanner used to choose where to look before its candidate search became a
 * JavaScript loop (candidates.ts). Kept as an oracle: every place it matches, the loop must stop too.
 */
import { foldableSource } from '../../src/masking/fold.js';
import { KEY_ENDINGS, KEY_NAME_MAX, KEY_SUFFIX } from '../../src/masking/key-names.js';
import { BIT, KEYED_BITS as KEYED, leastDigits } from '../../src/masking/names.js';

/** `pass` → `[pP][aA][sS][sS]`: case-insensitive words in an otherwise case-sensitive expression. */
const anyCase = (word: string): string => word.replace(/\\.|[a-z]/g, (c) => (c.length > 1 ? c : `[${c}${c.toUpperCase()}]`));

/**
 * The last letters of the key endings (key-names.ts) and of a confirmation that may follow them: a
 * one-character test that rejects most keys before the words.
 */
const lastLetters = (): string => {
  // (An ending that closes with a number, `password2`, has its own quick test in `source`.)
  const letters = new Set([...KEY_ENDINGS.map((w) => w.at(-1) ?? '').filter((c) => /^[a-z]$/.test(c)), 'n', 'm']);
  return [...letters].map((c) => `${c}${c.toUpperCase()}`).join('');
};

/** The endings of key names that can name a secret, any case, with what may follow them. */
const keyEnding = (words: readonly string[]): string => `(?:${words.map(anyCase).join('|')})${anyCase(KEY_SUFFIX)}`;

export function prefilterSource(mask: number): string {
  const alts: string[] = [];
  const on = (bits: number): boolean => (mask & bits) !== 0;
  if (on(BIT.CREDIT_CARD | BIT.US_SSN | BIT.PHONE | BIT.IP_ADDRESS)) {
    // A digit that starts a run (or follows a separator inside one) with enough digits for the most
    // permissive digit detector on, or an IPv4-shaped start. Runs are digits and ` .()+-`.
    const least = leastDigits(mask);
    const conditions: string[] = [];
    if (least > 0) conditions.push(`(?:[ .()+\\-]*\\d){${least - 1}}`);
    if (on(BIT.IP_ADDRESS)) conditions.push('\\d{0,2}\\.\\d{1,3}\\.\\d{1,3}\\.\\d');
    // (Leaving out ISO dates that end their run, as in nearly every log line, made logs ~10% faster but
    // every result cell ~50 ns slower: V8 then compiles the whole expression without its fast start.)
    alts.push(`\\d(?<!\\d\\d)(?=${conditions.join('|')})`);
    // Digits, spaces and dashes in other Unicode forms: the scanner folds the text and looks again.
    alts.push(foldableAlternative());
  }
  if (on(BIT.EMAIL)) alts.push('@', '%(?=(?:25)?40)');
  if (on(KEYED | BIT.GCP_SA_KEY)) {
    // keyedAt and serviceAccountKeyAt: a key, an optional (escaped) quote, up to 8 spaces or tabs.
    const words = on(KEYED) ? KEY_ENDINGS : ['key'];
    const tail = '(?:\\\\{0,8}["\'])?[ \\t]{0,8}[=:]';
    // The last letter of a name's ending, perhaps with a version after it (`password_v4`, `token_2`).
    // `password2`: digits glued to a name end it only after the `d` of a password word.
    alts.push(`[=:](?<=(?:[${lastLetters()}]|[dD]\\d{1,3})(?:[_.\\-]?[vV]\\d{1,3}|[_.\\-]\\d{1,3})?${tail})(?<=${keyEnding(words)}${tail})`);
  }
  if (on(KEYED)) {
    // flagAt: `--name` not glued to a word (up to KEY_NAME_MAX characters with its dashes, as flagAt
    // reads it), then a space, a tab or the quote that ends a JSON item.
    // (The '-' first, then the look back: an alternative that opens with a lookbehind costs every position.)
    // The name is read once (a lookahead does not give back what it matched), then its ending is checked.
    alts.push(`-(?<![A-Za-z0-9_.\\-]-)(?=(?=(?<flag>-[A-Za-z0-9_.\\-]{0,${KEY_NAME_MAX - 2}}))\\k<flag>(?<=${keyEnding(KEY_ENDINGS)})[ \\t"])`);
  }
  const colon: string[] = [];
  // `://`, or `:\/\/` as JSON writers that escape '/' write it (PHP's json_encode).
  if (on(BIT.SLACK_TOKEN | BIT.PASSWORD_IN_URL)) colon.push('\\/\\/', '\\\\\\/\\\\\\/');
  // IPv6: '::', or the first of seven colons between groups of hex digits.
  if (on(BIT.IP_ADDRESS)) colon.push(':', '(?:[0-9A-Fa-f]{1,4}:){6}[0-9A-Fa-f]');
  if (colon.length > 0) alts.push(`:(?=${colon.join('|')})`);
  if (on(BIT.PRIVATE_KEY)) alts.push('-(?=----BEGIN )');
  const dash: string[] = [];
  if (on(BIT.SLACK_TOKEN)) dash.push('xox[baprse]', 'xapp');
  if (on(BIT.GENERIC_API_KEY)) dash.push('glpat');
  if (dash.length > 0) alts.push(`-(?<=(?:${dash.join('|')})-)`);
  const underscore: string[] = [];
  if (on(BIT.GITHUB_TOKEN | BIT.STRIPE_KEY)) underscore.push('gh[pousr]', '[sr]k', 'whsec', 'github');
  if (on(BIT.GENERIC_API_KEY)) underscore.push('npm');
  if (underscore.length > 0) alts.push(`_(?<=(?:${underscore.join('|')})_)`);
  const word = '[A-Za-z0-9_]';
  if (on(BIT.IBAN)) alts.push(`[A-Z](?<!${word}[A-Z])(?=[A-Z]\\d\\d)`);
  if (on(BIT.AWS_ACCESS_KEY | BIT.GCP_API_KEY)) alts.push(`A(?<!${word}A)(?=KIA|SIA|BIA|CCA|Iza)`);
  if (on(BIT.GENERIC_API_KEY)) alts.push('B(?=earer[ \\t]|asic[ \\t])', 'T(?=oken[ \\t])');
  if (on(BIT.JWT)) alts.push('J(?<=eyJ)');
  return alts.join('|');
}

const foldableAlternative = (): string => foldableSource();

/** The old prefilter for a detector set, global; null when no detector is on. */
export function prefilterRegex(mask: number): RegExp | null {
  const src = prefilterSource(mask);
  return src === '' ? null : new RegExp(src, 'g');
}

