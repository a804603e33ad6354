/**
 * The masking bench's inputs (issue 20): the same text from the same seed, the densities the bench
 * claims (measured with the working tree's engine), the adversarial shapes as described, and today's
 * engine built from git or a reason why not. No timings: the bench measures, this checks what it measures.
 */
import { describe, expect, it } from 'vitest';
import { ADVERSARIAL, adversarialLog } from '../../../bench/masking-adversarial.js';
import { CURRENT_ENGINE, loadBaseline } from '../../../bench/masking-baseline.js';
import { denseLog } from '../../../bench/masking-dense.js';
import { asFile } from '../../../bench/masking-rng.js';
import { SPARSE_SPACING, sparseLog } from '../../../bench/masking-sparse.js';
import { detect, DETECTOR_NAMES } from '../../../src/masking/detectors.js';

const all = [...DETECTOR_NAMES];

describe('denseLog', () => {
  it('gives the same lines for the same seed and other lines for another seed (issue 20)', () => {
    const a = denseLog(0.25);
    expect(denseLog(0.25)).toEqual(a);
    expect(denseLog(0.25, 43).lines.slice(0, 50)).not.toEqual(a.lines.slice(0, 50));
    expect(a.bytes).toBe(a.lines.reduce((n, line) => n + line.length + 1, 0));
    expect(a.bytes).toBeGreaterThanOrEqual(0.25 * 1024 * 1024);
  });

  it('holds about one finding per 90 bytes (issue 20)', () => {
    const log = denseLog(1);
    const findings = log.lines.reduce((n, line) => n + detect(line, all).length, 0);
    const bytesPerFinding = log.bytes / findings;
    expect(bytesPerFinding).toBeGreaterThan(80);
    expect(bytesPerFinding).toBeLessThan(100);
  });
});

describe('sparseLog', () => {
  const log = sparseLog(1);

  it('gives the same lines and planted values for the same seed (issue 20)', () => {
    expect(sparseLog(1)).toEqual(log);
    expect(sparseLog(1, 8).lines.slice(0, 50)).not.toEqual(log.lines.slice(0, 50));
    expect(log.lines.every((line) => !line.includes('\n'))).toBe(true);
  });

  it('plants one finding per about 4 KB, of every planted kind (issue 20)', () => {
    const kbPerFinding = log.bytes / 1024 / log.planted.length;
    expect(kbPerFinding).toBeGreaterThan(3.5);
    expect(kbPerFinding).toBeLessThan(4.7);
    expect(SPARSE_SPACING).toBe(4096);
    expect(new Set(log.planted.map((p) => p.type))).toEqual(new Set(['EMAIL', 'CREDIT_CARD', 'JWT', 'AWS_ACCESS_KEY', 'PASSWORD_IN_URL', 'IP_ADDRESS']));
    // At most one planted value per line, and lines far enough apart for the spacing claimed.
    expect(new Set(log.planted.map((p) => p.line)).size).toBe(log.planted.length);
  });

  it('has every planted value found by the engine with its type and exact span (issue 20)', () => {
    for (const p of log.planted) {
      const line = log.lines[p.line]!;
      const start = line.indexOf(p.value);
      expect(line.indexOf(p.value, start + 1)).toBe(-1);
      expect(detect(line, all)).toContainEqual({ type: p.type, start, end: start + p.value.length });
    }
  });

  it('holds nothing else an engine may find but dotted-quad versions, which issue 20 says are versions', () => {
    const planted = new Map(log.planted.map((p) => [p.line, p]));
    const other: string[] = [];
    log.lines.forEach((line, i) => {
      const p = planted.get(i);
      for (const f of detect(line, all)) {
        const value = line.slice(f.start, f.end);
        if (p !== undefined && value === p.value) continue;
        // Chrome/131.0.0.0, Edg/…, v10.2.0.17: a product version or a `v` version, never an address here.
        const before = line.slice(Math.max(0, f.start - 7), f.start);
        if (f.type === 'IP_ADDRESS' && (/(Chrome|Edg)\/$/.test(before) || before.endsWith('v'))) continue;
        other.push(`${f.type} ${value} in ${line}`);
      }
    });
    expect(other).toEqual([]);
  });
});

describe('adversarialLog', () => {
  const shapes: Record<string, (line: string, length: number) => void> = {
    digits: (line) => expect(line).toMatch(/^[0-9]+$/),
    base64: (line) => expect(line).toMatch(/^[A-Za-z0-9+/]+$/),
    'json-depth': (line, length) => {
      let depth = 0;
      let value: unknown = JSON.parse(line);
      while (typeof value === 'object' && value !== null) {
        value = (value as { a: unknown }).a;
        depth++;
      }
      expect(value).toBe(1);
      expect(depth).toBe(Math.floor((length - 1) / 6));
    },
    'at-signs': (line, length) => expect(line.split('@').length - 1).toBe(length / 4),
    'pem-begin': (line, length) => {
      expect(line.split('-----BEGIN PRIVATE KEY-----\\n').length - 1).toBe(Math.floor(length / 29));
      expect(line).not.toContain('-----END');
    },
    'equals-colons': (line, length) => {
      expect(line.split('password=token:').length - 1).toBe(Math.floor(length / 15));
      expect(line.split('=').length + line.split(':').length - 2).toBeGreaterThanOrEqual(2 * Math.floor(length / 15));
    },
    'one-char': (line) => expect(new Set(line)).toEqual(new Set(['a'])),
  };

  it('has a shape check for every input and no other (issue 20)', () => {
    expect(ADVERSARIAL.map((a) => a.name).sort()).toEqual(Object.keys(shapes).sort());
  });

  for (const input of ADVERSARIAL) {
    it(`${input.name}: lines of exactly the length asked, of the shape claimed, the same for the same seed (issue 20)`, () => {
      for (const length of [4096, 65_536]) {
        const log = adversarialLog(input, 0.25, length);
        expect(adversarialLog(input, 0.25, length)).toEqual(log);
        expect(log.bytes).toBeGreaterThanOrEqual(0.25 * 1024 * 1024);
        expect(log.lines.length).toBe(Math.ceil((0.25 * 1024 * 1024) / (length + 1)));
        for (const line of log.lines) {
          expect(line).toHaveLength(length);
          expect(line).not.toContain('\n');
          shapes[input.name]!(line, length);
        }
      }
    });
  }
});

describe('loadBaseline', () => {
  it('builds the engine of a commit from git and masks as that commit did, or says why not (issue 20)', async () => {
    const baseline = await loadBaseline();
    if ('reason' in baseline) {
      expect(baseline.reason).toMatch(/git|commit/);
      return;
    }
    const text = 'mail ana@example.com card 4111 1111 1111 1111 id 8f3c2a10-4b1e-4c2d-9a7b-1c2d3e4f5a6b';
    const out = (engine: typeof CURRENT_ENGINE): string => {
      const masker = new engine.Masker({ detectors: [...engine.DETECTOR_NAMES], style: 'last4', columns: [] });
      return masker.maskText(text, new engine.MaskContext());
    };
    expect(out(baseline.engine)).toBe('mail [EMAIL_1] card **** **** **** 1111 id 8f3c2a10-4b1e-4c2d-9a7b-1c2d3e4f5a6b');
    expect(baseline.engine.Masker).not.toBe(CURRENT_ENGINE.Masker);
  });

  it('gives a reason instead of an engine for a commit the checkout does not have (issue 20)', async () => {
    expect(await loadBaseline('0000000000000000000000000000000000000000')).toEqual({ reason: 'commit 0000000000000000000000000000000000000000 is not in this checkout' });
  });
});

describe('asFile', () => {
  it('joins the lines with newlines, the text a stream of the file carries (issue 20)', () => {
    const log = denseLog(0.01);
    expect(asFile(log)).toBe(log.lines.join('\n'));
    expect(asFile(log).length).toBe(log.bytes - 1);
  });
});
