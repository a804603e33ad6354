/** Shannon entropy of a string, kept apart from the context detectors so that policy checks need not load phone metadata. */
const asciiCounts = new Uint32Array(128);
const firstSeen = new Uint8Array(128);

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  // ASCII (nearly every key and token) is counted in a reused table; characters are summed in order of
  // first appearance, as the Map below does, so both give the same bits.
  let distinct = 0;
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128) {
      ascii = false;
      break;
    }
    const seen = asciiCounts[c] ?? 0;
    asciiCounts[c] = seen + 1;
    if (seen === 0) firstSeen[distinct++] = c;
  }
  let h = 0;
  for (let k = 0; k < distinct; k++) {
    const c = firstSeen[k] ?? 0;
    const p = (asciiCounts[c] ?? 0) / s.length;
    asciiCounts[c] = 0;
    h -= p * Math.log2(p);
  }
  return ascii ? h : entropyOfAny(s);
}

function entropyOfAny(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}
