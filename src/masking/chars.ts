/** Character classes as bit flags over ASCII, so hot loops test a class with one table read. */

export const WORD = 1; // [A-Za-z0-9_]
export const DIGIT = 2; // [0-9]
export const UPPER = 4; // [A-Z]
export const HEX = 8; // [0-9A-Fa-f]
export const LOCAL = 16; // e-mail local part: [A-Za-z0-9._%+-]
export const KEY = 32; // key names: [A-Za-z0-9_.-]
export const ALNUM = 64; // [A-Za-z0-9]
export const LETTER = 128; // [A-Za-z]

const TABLE = new Uint8Array(128);
function add(flag: number, chars: string): void {
  for (const ch of chars) TABLE[ch.charCodeAt(0)] = (TABLE[ch.charCodeAt(0)] ?? 0) | flag;
}
const digits = '0123456789';
const upper = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const lower = upper.toLowerCase();
add(WORD, `${digits}${upper}${lower}_`);
add(DIGIT, digits);
add(UPPER, upper);
add(HEX, `${digits}ABCDEFabcdef`);
add(LOCAL, `${digits}${upper}${lower}._%+-`);
add(KEY, `${digits}${upper}${lower}_.-`);
add(ALNUM, `${digits}${upper}${lower}`);
add(LETTER, `${upper}${lower}`);

/** Whether the character at `i` is in class `flag`; false outside the string and for non-ASCII. */
export function is(text: string, i: number, flag: number): boolean {
  return isCode(text.charCodeAt(i), flag); // NaN outside the string
}

/** Whether the char code `c` is in class `flag`; false for NaN (outside a string) and for non-ASCII. */
export function isCode(c: number, flag: number): boolean {
  return c < 128 && ((TABLE[c] ?? 0) & flag) !== 0;
}

export function isDigitCode(c: number): boolean {
  return c >= 48 && c <= 57;
}
