/**
 * Object names and prefixes as read_bucket accepts them. Policy matches object globs as paths, so a name
 * must mean one path only: no `.`/`..` segments, no empty segments, no escapes (`%2F`), no characters that
 * some layer might turn into a slash or a dot, nothing invisible. Checked before any upstream call.
 */

/** Cloud Storage's own limit on an object name. */
export const MAX_OBJECT_NAME_BYTES = 1024;

// Characters that are, or normalise (NFKC) to, a slash, a backslash or a dot: U+2215 ∕, U+FF0F ／, U+2044 ⁄,
// U+29F8 ⧸, U+FF3C ＼, U+FE68 ﹨, U+2216 ∖, U+2024 ․, U+FF0E ．, U+FE52 ﹒ and the like are found by NFKC below.
const LOOKALIKE_EXTRA = /[\u2044\u2215\u2216\u29f8\u29f9\u2571\u2572\u3033\u3035\ufe68\uff0f\uff3c]/u;
// C0 and C1 controls and DEL (matching them is the point); zero-width and direction controls that make a name read as something else.
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/u;
const LONE_SURROGATE = /[\ud800-\udfff]/u;
const PERCENT_ESCAPE = /%[0-9A-Fa-f]{2}/;

function looksLikeSeparator(ch: string): boolean {
  if (ch.charCodeAt(0) < 0x80) return false;
  if (LOOKALIKE_EXTRA.test(ch)) return true;
  const folded = ch.normalize('NFKC');
  return /[/\\.]/.test(folded);
}

/**
 * Why `name` is not a safe object name or prefix, or undefined when it is. `kind` "prefix" allows the
 * empty string and a trailing `/`; an object name must name one object (no trailing `/`).
 */
export function objectNameProblem(name: string, kind: 'object' | 'prefix'): string | undefined {
  if (name === '') return kind === 'object' ? 'must not be empty' : undefined;
  if (LONE_SURROGATE.test(name)) return 'must be valid Unicode text';
  if (Buffer.byteLength(name, 'utf8') > MAX_OBJECT_NAME_BYTES) return `must be at most ${MAX_OBJECT_NAME_BYTES} bytes of UTF-8`;
  if (name.includes('\0')) return 'must not contain NUL';
  if (INVISIBLE.test(name)) return 'must not contain control or invisible characters';
  if (name.includes('\\')) return 'must not contain a backslash (names use "/" between folders)';
  if (PERCENT_ESCAPE.test(name)) return 'must not contain percent-encoded sequences such as %2F: give the name as it is stored';
  if (name.normalize('NFC') !== name) return 'must be in Unicode normal form C (NFC)';
  for (const ch of name) {
    if (looksLikeSeparator(ch)) return `must not contain "${ch}" (U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}), which reads like "/", "\\" or "."`;
  }
  if (name.startsWith('/')) return 'must not start with "/" (names are relative to the bucket)';
  if (name.includes('//')) return 'must not contain "//" (empty folder names)';
  const segments = name.split('/');
  // A prefix may end in "/" (a folder); an object name may not.
  const last = segments.at(-1);
  if (last === '') {
    if (kind === 'object') return 'must name an object, not a folder (it ends with "/")';
    segments.pop();
  }
  if (segments.some((s) => s === '.' || s === '..')) return 'must not contain "." or ".." segments';
  return undefined;
}
