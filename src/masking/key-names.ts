/**
 * What a key name says about the value under it, and where that value ends in text. Key names come in
 * every spelling real systems write (`AWS_SECRET_ACCESS_KEY`, `secretAccessKey`, `aws-secret-access-key`,
 * `spring.datasource.password`, `X-Goog-Signature`): a name is read as words, split at `_ . -` and spaces,
 * at a lower-to-upper case change and between letters and digits, and judged by its last words.
 */

import { entropy } from './entropy.js';

/** Kinds of secret a key name can hold (bit flags; 0 for the ordinary names that are most of them). */
export const K_AWS = 1;
export const K_PASSWORD = 2;
export const K_SSN = 4;
export const K_SECRET = 8;
/** `secret`, `secret_key`: a 40-character AWS-shaped value here is an AWS secret key (Terraform, s3cmd). */
export const K_AWS_SHAPE = 16;
/** `PWD`, `OLDPWD`: also the shell's working directory, so a path here is not a password. */
export const K_PWD = 32;
/** `pass` on its own: also a test count (`pass=12 fail=0`), so digits alone are not a password here. */
export const K_PASS = 64;

/**
 * Longest key name read in text: before `=`/`:` (`keyedAt`), after `--` with its dashes (`flagAt`), or
 * from structure (`nameKinds`). The scanner's candidate search takes its bounds from here too.
 */
export const KEY_NAME_MAX = 64;

/**
 * The last word of every key name that `keyKinds` gives a kind, as regular-expression sources for the
 * scanner's candidate search (case-insensitive there; candidates.ts reads them); a version or confirmation word
 * may follow one.
 */
export const KEY_ENDINGS: readonly string[] = [
  'passphrase', 'password', 'passwd', 'pass', 'pwd', 'secret', 'key', 'token', 'credentials', 'credential', 'ssn', 'security', 'number',
  'signature', 'sig', 'auth', 'authorization', 'session', 'sess', 'sid', 'sessionid', 'sessid',
  // `SESSION__ID`, `session.id`: `keyWords` splits at any run of separators, so any run fits in a name.
  `session[_.\\-]{0,${KEY_NAME_MAX - 9}}id`,
  // `password2`, `DB_PASSWORD12`: a number glued to a password word (see NUMBERED_PASSWORD).
  'passw(?:or)?d\\d{1,3}',
];
/**
 * What may follow the last word of a key name: `_v4`, `V2`, `_2`, `_confirmation` (digits alone only after
 * a separator: `T10:` in a timestamp must not look like a name's end).
 */
export const KEY_SUFFIX = '(?:[_.-]?(?:v\\d{1,3}|confirm(?:ation)?)|[_.-]\\d{1,3})?';

const PASSWORD_WORDS = new Set(['password', 'passwd', 'pwd', 'passphrase']);
/** `<word>_key` names that hold a secret (not `idempotency_key`, `cache_key`, `public_key`, `private_key`: a PEM has its own detectors). */
const KEY_QUALIFIERS = new Set(['api', 'access', 'secret', 'signing', 'master', 'encryption', 'client', 'app', 'auth', 'license', 'licence', 'subscription', 'service', 'webhook', 'session', 'hmac', 'shared', 'functions', 'admin', 'write', 'ingest', 'sdk', 'account', 'consumer', 'decryption', 'jwt', 'crypto', 'cipher']);
// `credential` too: a signed URL's or SigV4 header's `Credential=` scope is told apart by its value (isCredentialScope).
const SECRET_WORDS = new Set(['secret', 'token', 'credentials', 'credential', 'signature', 'sig', 'auth', 'authorization', 'apikey', 'apitoken', 'accesstoken', 'authtoken', 'secretkey', 'session', 'sess', 'sid', 'sessionid', 'sessid', 'jsessionid', 'phpsessid']);
/** Words that make a token-like name a pagination cursor or a count, not a credential. */
const NOT_SECRET_WORDS = new Set(['page', 'cursor', 'pagination', 'continuation', 'count', 'type', 'length', 'expiry', 'expires']);
/** Trailing words that do not change what a name holds (`password_v4`, `password_2`, `password_confirmation`). */
const TRAILING = new RegExp(`(?:${KEY_SUFFIX.slice(0, -1)})$`, 'i');
/** `password2`, `DB_PASSWORD12`: a number glued to a password word, a second or numbered password. */
const NUMBERED_PASSWORD = /^\d{1,3}$/;
/**
 * One-word compounds that end in a secret word (`clientsecret`, `privatetoken`, `apitoken`,
 * `signingkey`), unless what comes first makes it a cursor or a count (`pagetoken`, `nexttoken`).
 */
const COMPOUND_SECRET = /^([a-z]*)(?:secret|token|signingkey)$/;
const NOT_SECRET_PREFIXES = new Set(['page', 'next', 'cursor', 'pagination', 'continuation', 'count', 'type', 'max', 'min', 'num', 'total']);

/** The words of a key name, lower case. */
export function keyWords(key: string): string[] {
  const words: string[] = [];
  let word = '';
  let prev = 0; // 1 lower, 2 upper, 3 digit
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const cls = c >= 97 && c <= 122 ? 1 : c >= 65 && c <= 90 ? 2 : c >= 48 && c <= 57 ? 3 : 0;
    if (cls === 0) {
      if (word !== '') words.push(word);
      word = '';
      prev = 0;
      continue;
    }
    // A new word at aB, at a letter/digit change, and at the last capital of a run before a lower
    // case letter (`XMLHttp` → xml, http).
    const split = (prev === 1 && cls === 2) || (prev !== 0 && (prev === 3) !== (cls === 3)) || (prev === 2 && cls === 1 && word.length > 1 && (key.charCodeAt(i - 2) >= 65 && key.charCodeAt(i - 2) <= 90));
    if (split && word !== '') {
      if (prev === 2 && cls === 1) {
        words.push(word.slice(0, -1));
        word = word.slice(-1);
      } else {
        words.push(word);
        word = '';
      }
    }
    word += String.fromCharCode(cls === 2 ? c + 32 : c);
    prev = cls;
  }
  if (word !== '') words.push(word);
  return words;
}

/** The K_* kinds of a key name. */
export function keyKinds(key: string): number {
  // What the scanner's candidate search can see: a name that ends in a letter or digit, once stripped of one
  // version or confirmation suffix.
  const name = key.replace(TRAILING, '');
  const lastCode = name.charCodeAt(name.length - 1);
  if (!((lastCode >= 97 && lastCode <= 122) || (lastCode >= 65 && lastCode <= 90) || (lastCode >= 48 && lastCode <= 57))) return 0;
  const words = keyWords(name);
  if (words.length >= 2 && NUMBERED_PASSWORD.test(words[words.length - 1] ?? '') && /passw(?:or)?d$/.test(words[words.length - 2] ?? '')) words.pop();
  const n = words.length;
  if (n === 0) return 0;
  const last = words[n - 1] ?? '';
  const prev = words[n - 2] ?? '';
  const joined = words.join('');
  let kinds = 0;
  if (joined.endsWith('secretaccesskey') || joined.endsWith('awssecretkey') || joined.endsWith('awssecret')) kinds |= K_AWS;
  if (joined === 'secret' || joined === 'secretkey') kinds |= K_AWS_SHAPE;
  if (PASSWORD_WORDS.has(last) || last.endsWith('password') || last.endsWith('passwd') || last === 'pass') kinds |= K_PASSWORD;
  if (last === 'pass' && n === 1) kinds |= K_PASS;
  if (last === 'pwd' || last === 'oldpwd') kinds |= K_PWD | K_PASSWORD;
  if (last === 'ssn' || joined.endsWith('ssnnumber') || joined.endsWith('socialsecuritynumber') || joined.endsWith('socialsecurity')) kinds |= K_SSN;
  const compound = COMPOUND_SECRET.exec(last);
  const secretLast = SECRET_WORDS.has(last) || (last === 'key' && KEY_QUALIFIERS.has(prev)) || (last === 'id' && prev === 'session') || (compound !== null && !NOT_SECRET_PREFIXES.has(compound[1] ?? ''));
  // `NextToken` pages through results.
  const notSecret = words.some((w) => NOT_SECRET_WORDS.has(w)) || joined.endsWith('nexttoken');
  if (secretLast && !notSecret) kinds |= K_SECRET;
  return kinds;
}

// ---------- values ----------

/**
 * Values that name or stand for a secret rather than hold one: masks and placeholders, template and
 * shell references (`${DB_PASSWORD}`, `{{ .Values.x }}`, `$(vault …)`), secret-store references.
 */
const PLACEHOLDER = /^(?:\*+|x+|\.+|-+|~|<[^>]*>|\$\{.*|\{\{.*|\$\(.*|%\([^)]*\)s|%[sdv]|\?|changeme|redacted|filtered|hidden|null|nil|none|true|false|undefined|secret|password|\[[A-Z_ ]+(?:_\d+)?\]|\*{3}.*\*{3}|(?:vault|env|secret|secretref|sm|gcpsm|awssm|file):[^\s]*|!vault|ENC\[.*|arn:aws:(?:secretsmanager|ssm):.*|projects\/[^/\s]+\/secrets\/.*)$/i;
/** `$DB_PASSWORD`: a shell variable (upper case by convention; `$ecret` is a password). */
const SHELL_VARIABLE = /^\$[A-Z_][A-Z0-9_]*$/;

/** Whether `value` (trimmed) stands for a secret instead of holding one. */
export function isReference(value: string): boolean {
  return value === '' || PLACEHOLDER.test(value) || SHELL_VARIABLE.test(value);
}

/**
 * Base64 of a small JSON document with nothing secret-sounding in it: a pagination cursor or an opaque
 * id, not a credential (`eyJwYWdlIjoyfQ` is `{"page":2}`). Only values that open like `{` or `[` in
 * base64 are decoded.
 */
export function isEncodedCursor(value: string): boolean {
  const c0 = value.charCodeAt(0);
  const c1 = value.charCodeAt(1);
  if (!((c0 === 101 && (c1 === 121 || c1 === 119)) || c0 === 87) || value.length > 1024 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) return false;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  if (/secret|passw|private|token|key|auth|cred/i.test(decoded)) return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoded);
  } catch {
    return false;
  }
  return typeof parsed === 'object' && parsed !== null && !holdsOpaqueString(parsed);
}

/** A string this long and varied inside decoded JSON is a key (`{"k":"OKSpmiRV…","n":"deploy"}`), not a position. */
const OPAQUE_STRING_LENGTH = 20;
const OPAQUE_STRING_BITS = 3;

/**
 * Whether a parsed JSON document holds a string key or value that could be a secret (fail closed: a
 * cursor stays readable only when it has none). The document came from at most 1,024 characters of
 * base64, so walking all of it is bounded.
 */
function holdsOpaqueString(doc: object): boolean {
  const stack: unknown[] = [doc];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') {
      if (item.length >= OPAQUE_STRING_LENGTH && entropy(item) >= OPAQUE_STRING_BITS) return true;
    } else if (typeof item === 'object' && item !== null) {
      for (const [k, v] of Object.entries(item)) stack.push(k, v);
    }
  }
  return false;
}

/** Longest value read after a key (a longer one is cut there, as before). */
export const MAX_VALUE = 4096;

/**
 * Characters read as values after key names (`quotedEnd`, `unquotedEnd`) and measured for entropy
 * under them: a count that does not depend on the machine, so a test can hold the keyed scan linear in
 * its input. One addition per value read.
 */
export const keyedWork = { chars: 0 };

/**
 * The end of a value quoted with `"` escaped `level` times (`"…"`, `\"…\"` inside a JSON string,
 * `\\\"…\\\"` inside one inside another), starting at `from` (after the opening quote): the index of
 * the closing quote's first backslash (or of the quote), or -1 when there is none within MAX_VALUE or a
 * line break comes first. A quote escaped more times than `level` is part of the value.
 */
export function quotedEnd(text: string, from: number, level: number): number {
  const limit = Math.min(text.length, from + MAX_VALUE + level + 1);
  let j = from;
  let end = -1;
  for (; j < limit; j++) {
    const c = text.charCodeAt(j);
    if (c === 10 || c === 13) break;
    if (c === 34) {
      if (level === 0) end = j;
      break;
    }
    if (c !== 92) continue;
    let r = j;
    while (r < limit && text.charCodeAt(r) === 92) r++;
    if (text.charCodeAt(r) === 34 && r - j === level) {
      end = j;
      break;
    }
    // An escaped character (a quote escaped deeper than the value, `\n`, `\\`) is part of the value.
    j = text.charCodeAt(r) === 34 ? r : r - 1;
  }
  keyedWork.chars += j - from;
  return end;
}

/**
 * The end of an unquoted value starting at `from`: before whitespace, `,;&}]"'`, a backslash that opens
 * an escape (`\n`, `\"`, `\\` of JSON text around it), or MAX_VALUE characters.
 */
export function unquotedEnd(text: string, from: number): number {
  const limit = Math.min(text.length, from + MAX_VALUE);
  let j = from;
  for (; j < limit; j++) {
    const c = text.charCodeAt(j);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11 || c === 44 || c === 59 || c === 38 || c === 125 || c === 93 || c === 34 || c === 39) break;
    if (c === 92) {
      const e = text.charCodeAt(j + 1);
      if (e === 110 || e === 114 || e === 116 || e === 34 || e === 92) break;
    }
  }
  keyedWork.chars += j - from;
  return j;
}
