/**
 * Detectors that need context: values under password-like or secret-like keys (JSON, YAML, env files,
 * `key=value` text, connection strings), bearer/basic credentials, US social security numbers, IP
 * addresses and phone numbers. Keys give the context that patterns alone cannot.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { findNumbers, type CountryCode } from 'libphonenumber-js/max';

export type ContextDetectorName = 'PASSWORD' | 'AWS_SECRET_KEY' | 'GENERIC_API_KEY' | 'US_SSN' | 'IP_ADDRESS' | 'PHONE';

export interface ContextDetection {
  readonly start: number;
  readonly end: number;
  readonly type: ContextDetectorName;
}

const PASSWORD_KEY = /^(?:.*[_.-])?(?:password|passwd|pwd|pass|passphrase|db_pass)$/i;
const AWS_SECRET_KEY = /^(?:aws_?)?secret_?access_?key$|^aws_?secret(?:_?key)?$/i;
const SECRET_KEY = /^(?:.*[_.-])?(?:secret|token|api_?key|apikey|access_?token|auth_?token|client_?secret|private_?token|credentials?|signing_?key)$/i;
/** Keys that look secret but are not: identifiers, counts, public parts. */
const NOT_SECRET_KEY = /(?:_id|_type|_name|_count|_length|_url|_uri|_path|_file|_expires?(?:_at|_in)?|public_?key|token_?type|max_?tokens?)$/i;
const SSN_KEY = /(?:^|[_.-])(?:ssn|social_?security(?:_?number)?)$/i;
const PLACEHOLDER = /^(?:\*+|x+|\.+|-+|<[^>]*>|\$\{[^}]*\}?|\{\{[^}]*\}\}|%\([^)]*\)s|changeme|redacted|null|none|true|false|undefined|secret|password|\[[A-Z_]+(?:_\d+)?\])$/i;

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

export function ssnValid(digits: string): boolean {
  if (!/^\d{9}$/.test(digits)) return false;
  const area = Number(digits.slice(0, 3));
  const group = Number(digits.slice(3, 5));
  const serial = Number(digits.slice(5));
  return area !== 0 && area !== 666 && area < 900 && group !== 0 && serial !== 0;
}

// key, then = or :, then a value: quoted, or up to whitespace / , ; & } ] (all bounded).
const KEY_VALUE = /["']?([A-Za-z_][A-Za-z0-9_.-]{0,63})["']?[ \t]{0,8}[=:][ \t]{0,8}(?:"((?:[^"\\\n]|\\.){1,4096})"|'([^'\n]{1,4096})'|([^\s,;&}\]"']{1,4096}))/y;

function keyed(text: string): ContextDetection[] {
  const out: ContextDetection[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch !== 61 && ch !== 58) continue; // '=' or ':'
    // Walk back over spaces, an optional quote and the key (at most 64 characters).
    let k = i - 1;
    while (k >= 0 && i - k <= 8 && (text[k] === ' ' || text[k] === '\t')) k--;
    if (text[k] === '"' || text[k] === "'") k--;
    let start = k;
    while (start >= 0 && k - start < 64 && /[A-Za-z0-9_.-]/.test(text[start] ?? '')) start--;
    start++;
    if (start > k) continue;
    if (start > 0 && (text[start - 1] === '"' || text[start - 1] === "'")) start--;
    KEY_VALUE.lastIndex = start;
    const m = KEY_VALUE.exec(text);
    if (m === null) continue;
    const key = m[1] ?? '';
    const value = m[2] ?? m[3] ?? m[4] ?? '';
    if (value === '' || PLACEHOLDER.test(value.trim())) continue;
    const valueStart = m.index + m[0].length - value.length - (m[2] !== undefined || m[3] !== undefined ? 1 : 0);
    let type: ContextDetectorName | undefined;
    if (AWS_SECRET_KEY.test(key) && /^[A-Za-z0-9/+=]{40}$/.test(value)) type = 'AWS_SECRET_KEY';
    else if (PASSWORD_KEY.test(key)) type = 'PASSWORD';
    else if (SSN_KEY.test(key) && ssnValid(value.replace(/[- ]/g, ''))) type = 'US_SSN';
    else if (SECRET_KEY.test(key) && !NOT_SECRET_KEY.test(key) && value.length >= 16 && entropy(value) >= 3.0) type = 'GENERIC_API_KEY';
    if (type !== undefined) {
      out.push({ start: valueStart, end: valueStart + value.length, type });
      i = valueStart + value.length - 1;
    }
  }
  return out;
}

const AUTH_HEADER = /(?:Bearer|Basic|Token)[ \t]{1,4}([A-Za-z0-9\-._~+/]{16,4096}=*)/y;
function authHeaders(text: string): ContextDetection[] {
  const out: ContextDetection[] = [];
  for (const word of ['Bearer', 'Basic', 'Token']) {
    let from = 0;
    for (;;) {
      const at = text.indexOf(word, from);
      if (at < 0) break;
      from = at + 1;
      AUTH_HEADER.lastIndex = at;
      const m = AUTH_HEADER.exec(text);
      const cred = m?.[1];
      if (m === null || cred === undefined || entropy(cred) < 3.0) continue;
      const start = at + m[0].length - cred.length;
      out.push({ start, end: start + cred.length, type: 'GENERIC_API_KEY' });
    }
  }
  return out;
}

const DASHED_SSN = /\d{3}-\d{2}-\d{4}/y;
function dashedSsns(text: string): ContextDetection[] {
  const out: ContextDetection[] = [];
  for (let i = 0; i + 11 <= text.length; i++) {
    if (text[i + 3] !== '-' || /[\w-]/.test(text[i - 1] ?? ' ')) continue;
    DASHED_SSN.lastIndex = i;
    const m = DASHED_SSN.exec(text);
    if (m === null || /[\w-]/.test(text[i + 11] ?? ' ')) continue;
    if (ssnValid(m[0].replace(/-/g, ''))) out.push({ start: i, end: i + 11, type: 'US_SSN' });
  }
  return out;
}

const IPV4 = /(?:\d{1,3}\.){3}\d{1,3}/y;
const IPV6 = /[0-9A-Fa-f:]{2,39}(?:%[A-Za-z0-9]{1,16})?/y;
function ips(text: string): ContextDetection[] {
  const out: ContextDetection[] = [];
  let reach = 0;
  // IPv4: from each '.', step back to the start of the dotted run.
  for (let dot = text.indexOf('.'); dot >= 0; dot = text.indexOf('.', dot + 1)) {
    if (dot < reach) continue;
    let i = dot;
    while (i > 0 && dot - i < 3 && isDigitAt(text, i - 1)) i--;
    if (i === dot || (i > 0 && /[\w.]/.test(text[i - 1] ?? ''))) continue;
    IPV4.lastIndex = i;
    const m = IPV4.exec(text);
    if (m === null) continue;
    const end = i + m[0].length;
    if (!isIPv4(m[0]) || /\w/.test(text[end] ?? ' ') || /^\.\d/.test(text.slice(end, end + 2))) {
      reach = end;
      continue;
    }
    // "v1.2.3.4" / "version 1.2.3.4" are versions, not addresses.
    if (!/(?:v|version[ :=]?)$/i.test(text.slice(Math.max(0, i - 8), i))) out.push({ start: i, end, type: 'IP_ADDRESS' });
    reach = end;
  }
  // IPv6: only where '::' or at least 5 colons appear, starting at the run's first hex digit.
  for (let colon = text.indexOf(':'); colon >= 0; colon = text.indexOf(':', colon + 1)) {
    if (colon < reach) continue;
    let i = colon;
    while (i > 0 && colon - i < 40 && /[0-9A-Fa-f:]/.test(text[i - 1] ?? '')) i--;
    if (i > 0 && /[\w]/.test(text[i - 1] ?? '')) continue;
    IPV6.lastIndex = i;
    const m = IPV6.exec(text);
    if (m === null) continue;
    const end = i + m[0].length;
    reach = end;
    if ((m[0].match(/:/g)?.length ?? 0) >= 2 && isIPv6(m[0].split('%')[0] ?? '') && !/\w/.test(text[end] ?? ' ')) {
      out.push({ start: i, end, type: 'IP_ADDRESS' });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

function isDigitAt(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c >= 48 && c <= 57;
}

/** Phone-shaped runs: an optional +, then 7–15 digits with spaces, dots, dashes or brackets between. */
const PHONE_CANDIDATE = /\+?\(?\d[\d ().-]{5,22}\d/g;

function phones(text: string, country: CountryCode): ContextDetection[] {
  const out: ContextDetection[] = [];
  PHONE_CANDIDATE.lastIndex = 0;
  // libphonenumber's text matcher is thorough but slow: only phone-shaped runs are handed to it.
  for (let m = PHONE_CANDIDATE.exec(text); m !== null; m = PHONE_CANDIDATE.exec(text)) {
    const run = m[0];
    const digits = run.replace(/\D/g, '').length;
    if (digits < 7 || digits > 15 || /^\d{4}-\d{2}-\d{2}/.test(run) || /\d\.\d+\.\d/.test(run)) continue;
    for (const n of findNumbers(run, { defaultCountry: country, v2: true })) {
      out.push({ start: m.index + n.startsAt, end: m.index + n.endsAt, type: 'PHONE' });
    }
  }
  return out;
}

export function findContext(text: string, enabled: ReadonlySet<string>, phoneCountry: CountryCode = 'US'): ContextDetection[] {
  const out: ContextDetection[] = [];
  if (enabled.has('PASSWORD') || enabled.has('AWS_SECRET_KEY') || enabled.has('GENERIC_API_KEY') || enabled.has('US_SSN')) {
    out.push(...keyed(text).filter((d) => enabled.has(d.type)));
  }
  if (enabled.has('GENERIC_API_KEY')) out.push(...authHeaders(text));
  if (enabled.has('US_SSN')) out.push(...dashedSsns(text));
  if (enabled.has('IP_ADDRESS')) out.push(...ips(text));
  if (enabled.has('PHONE')) out.push(...phones(text, phoneCountry));
  return out;
}
