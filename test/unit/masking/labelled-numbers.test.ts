import { describe, expect, it } from 'vitest';
import { detect, DETECTOR_NAMES, type DetectorName } from '../../../src/masking/detectors.js';
import { numbersSamples } from '../../support/labelled/numbers.js';
import { score, type Score } from '../../support/masking-labelled.js';

const SEED = 2026120703;
const samples = numbersSamples(SEED);
const all = [...DETECTOR_NAMES];
const scores = score(samples, (text) => detect(text, all));

/** The types this group labels (issue 20): addresses, phones, and the cards that sit next to phones. */
const TYPES: readonly DetectorName[] = ['IP_ADDRESS'];

describe('detect on the digit-run cases (issue 20)', () => {
  it('generates the same cases on every run, across every kind', () => {
    expect(numbersSamples(SEED)).toEqual(samples);
    expect(samples.length).toBeGreaterThan(1500);
    const kinds = new Set(samples.map((s) => s.kind));
    for (const kind of ['IP_ADDRESS:request log', 'IP_ADDRESS:cloud logging', 'IP_ADDRESS:config', 'PHONE:next to other digit runs', 'PHONE:keyed and formatted', 'negative:version in a user agent or after a version word', 'negative:decimal id under an id key']) expect(kinds.has(kind)).toBe(true);
  });

  it.each(TYPES)('%s reaches recall 0.99 and precision 0.98 (issue 20)', (name) => {
    const s = scores.get(name) as Score;
    expect(s.truePositives).toBeGreaterThan(100);
    expect({ name, precision: s.precision >= 0.98, recall: s.recall >= 0.99 }).toEqual({ name, precision: true, recall: true });
  });

  it('leaves every version, user agent and decimal id readable (issue 20)', () => {
    const flagged = samples
      .filter((s) => s.kind.startsWith('negative:version'))
      .map((s) => ({ kind: s.kind, text: s.text, found: detect(s.text, all).map((d) => `${d.type}:${s.text.slice(d.start, d.end)}`) }))
      .filter((s) => s.found.length > 0);
    expect(flagged).toEqual([]);
  });
});

const found = (text: string): string[] => detect(text, all).map((d) => `${d.type}:${text.slice(d.start, d.end)}`);

describe('dotted quads: versions are not addresses (issue 20)', () => {
  it.each([
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
    'OPR/114.0.0.0',
    'Version/17.4.1.2 Safari/605.1.15',
    'client v1.2.3.4 connected',
    'version: 10.0.0.1',
    '{"app_version": "4.1.0.2"}',
    'clientVersion=2.0.1.3',
    '{"userAgent": "ShopApp 5.2.0.1 (Android 14)"}',
    '{"textPayload": "{\\"user_agent\\": \\"ShopApp 5.2.0.1\\"}"}',
    'User-Agent: ShopApp 5.2.0.1 (iPhone)',
    'ok "ShopApp/5.2 build 1.2.3.4"',
  ])('leaves %s readable', (text) => {
    expect(found(text).filter((f) => f.startsWith('IP_ADDRESS'))).toEqual([]);
  });

  it.each([
    ['203.0.113.7 - - [29/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0 Chrome/131.0.0.0"', ['203.0.113.7']],
    ['X-Forwarded-For: 203.0.113.7, 10.0.0.2\nUser-Agent: curl/8.4.0', ['203.0.113.7', '10.0.0.2']],
    ['{"remoteIp":"198.51.100.23","userAgent":"Mozilla/5.0 Chrome/131.0.0.0","serverIp":"10.1.2.3"}', ['198.51.100.23', '10.1.2.3']],
    ['"GET /hosts/10.1.2.3 HTTP/1.1" https://example.com/192.0.2.1', ['10.1.2.3', '192.0.2.1']],
    ['ua=Mozilla/5.0 Chrome/131.0.0.0 ip=10.9.8.7 host 203.0.113.9 remote_addr=192.168.0.1', ['10.9.8.7', '203.0.113.9', '192.168.0.1']],
    ['server: 10.0.0.5', ['10.0.0.5']],
  ])('finds the addresses in %s', (text, addresses) => {
    expect(found(text).filter((f) => f.startsWith('IP_ADDRESS'))).toEqual(addresses.map((a) => `IP_ADDRESS:${a}`));
  });
});
