import { isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ipv6At, type V6Reach } from '../../../src/masking/context-detectors.js';
import { rng } from '../../support/masking-labelled.js';

/**
 * The IPv6 detector as it read its window before it kept the run of hex digits and colons it is in
 * (issue 20): 40 characters back and 39 on, read again at every colon. The detector must find exactly
 * what this finds, and reach as far, colon by colon as the scanner calls it.
 */
const isHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
const isWord = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isAlnum = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const hexOrColon = (text: string, i: number): boolean => isHex(text.charCodeAt(i)) || text.charCodeAt(i) === 58;

function shaped(text: string, from: number, to: number): boolean {
  let colons = 0;
  let group = 0;
  let hex = 0;
  let compressed = false;
  for (let i = from; i < to; i++) {
    if (text.charCodeAt(i) === 58) {
      colons++;
      if (i > from && text.charCodeAt(i - 1) === 58) compressed = true;
      group = 0;
    } else if (++group > 4) return false;
    else hex++;
  }
  return hex > 0 && colons >= 2 && (colons === 7 || compressed);
}

function referenceAt(text: string, colon: number, reach: { end: number }): { start: number; end: number } | undefined {
  let i = colon;
  while (i > 0 && colon - i < 40 && hexOrColon(text, i - 1)) i--;
  if (i > 0 && isWord(text.charCodeAt(i - 1))) return undefined;
  let r = i;
  while (r - i < 39 && hexOrColon(text, r)) r++;
  if (r - i < 2) return undefined;
  let end = r;
  if (text.charCodeAt(r) === 37) {
    let z = r + 1;
    while (z - r - 1 < 16 && isAlnum(text.charCodeAt(z))) z++;
    if (z > r + 1) end = z;
  }
  reach.end = end;
  if (!shaped(text, i, r) || isWord(text.charCodeAt(end)) || !isIPv6(text.slice(i, r))) return undefined;
  return { start: i, end };
}

/** Every colon the scanner would ask about (those at or past the reach), with the answers and reaches. */
function walk(text: string, at: (colon: number, reach: { end: number }) => { start: number; end: number } | undefined, reach: { end: number }): string[] {
  const out: string[] = [];
  for (let c = text.indexOf(':'); c >= 0; c = text.indexOf(':', c + 1)) {
    if (c < reach.end) continue;
    const d = at(c, reach);
    out.push(`${c}:${d === undefined ? '-' : `${d.start}-${d.end}`}:${reach.end}`);
  }
  return out;
}

const PARTS = [':', ':', '::', ':::', 'a', 'f', '0', '1', 'ab', 'fe80', 'ffff', '2001', 'db8', 'g', ' ', '.', '%eth0', '%', 'x', '-', '1:2:3:4:5:6:7:8', '::1', 'fe80::1', '2001:db8::ff00:42:8329'];

describe('the IPv6 detector over long runs (issue 20)', () => {
  it('finds and reaches exactly what reading its window at every colon finds, on random text and long runs', () => {
    const next = rng(2026120730);
    const texts: string[] = [':'.repeat(500), 'a:'.repeat(300), 'ab:'.repeat(200), `${':'.repeat(100)}fe80::1${':'.repeat(100)}`, `x ${'1:2:3:4:5:6:7:8:'.repeat(20)}`];
    for (let t = 0; t < 6000; t++) {
      let text = '';
      const parts = 1 + Math.floor(next() * 40);
      for (let p = 0; p < parts; p++) text += PARTS[Math.floor(next() * PARTS.length)] ?? '';
      texts.push(text);
    }
    let found = 0;
    for (const text of texts) {
      const expected = walk(text, (c, reach) => referenceAt(text, c, reach), { end: 0 });
      const reach: V6Reach = { end: 0 };
      const actual = walk(text, (c) => ipv6At(text, c, reach), reach);
      found += expected.filter((e) => !e.includes(':-:')).length;
      if (actual.join() !== expected.join()) expect({ text, actual }).toEqual({ text, actual: expected });
    }
    expect(found).toBeGreaterThan(500);
  });
});
