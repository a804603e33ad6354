/**
 * Adversarial inputs for the masking bench (issue 20): text built to make a scanner revisit what it has
 * already seen (a quadratic detector shows up here long before it shows up in real logs). Each input is
 * lines of one shape and a given length; the bench runs each at two line lengths, so a detector whose
 * cost grows faster than the text shows as a rate that falls with the line length.
 */
import { BASE64, chars, flatLines, rng, type GeneratedLog, type Rand } from './masking-rng.js';

export interface Adversarial {
  readonly name: string;
  /** What the line is made of, for the table. */
  readonly shape: string;
  /** One line of exactly `length` characters. */
  line(r: Rand, length: number): string;
}

/** `unit` repeated to exactly `length` characters. */
const repeat = (unit: string, length: number): string => unit.repeat(Math.ceil(length / unit.length)).slice(0, length);

function nested(length: number): string {
  // {"a":{"a":…{"a":1}…}}: each level is 6 characters, its closing brace 1.
  const depth = Math.max(1, Math.floor((length - 1) / 6));
  const line = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  return line + ' '.repeat(length - line.length);
}

export const ADVERSARIAL: readonly Adversarial[] = [
  { name: 'digits', shape: 'one run of digits', line: (r, n) => chars(r, '0123456789', n) },
  { name: 'base64', shape: 'one run of base64 characters', line: (r, n) => chars(r, BASE64, n) },
  { name: 'json-depth', shape: 'JSON nested one key per level ({"a":{"a":…}})', line: (_r, n) => nested(n) },
  { name: 'at-signs', shape: '`a.b@` repeated (an email start everywhere)', line: (_r, n) => repeat('a.b@', n) },
  { name: 'pem-begin', shape: '`-----BEGIN PRIVATE KEY-----\\n` repeated, no END', line: (_r, n) => repeat('-----BEGIN PRIVATE KEY-----\\n', n) },
  { name: 'equals-colons', shape: '`password=token:` repeated (a key name before every value)', line: (_r, n) => repeat('password=token:', n) },
  { name: 'one-char', shape: 'one character repeated (`a`)', line: (_r, n) => 'a'.repeat(n) },
];

/** At least `megabytes` MiB of one adversarial shape, in lines of `lineLength` characters (seed 11). */
export function adversarialLog(input: Adversarial, megabytes: number, lineLength: number, seed = 11): GeneratedLog {
  const r = rng(seed);
  const lines: string[] = [];
  let bytes = 0;
  while (bytes < megabytes * 1024 * 1024) {
    const line = input.line(r, lineLength);
    lines.push(line);
    bytes += line.length + 1;
  }
  return { lines: flatLines(lines), bytes };
}
