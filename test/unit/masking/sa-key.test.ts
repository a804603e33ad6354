import { describe, expect, it } from 'vitest';
import { detect, DETECTOR_NAMES, type DetectorName } from '../../../src/masking/detectors.js';
import { MaskContext, Masker } from '../../../src/masking/masker.js';

const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nq8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F+/=\n-----END PRIVATE KEY-----\n';
const KEY_FILE = JSON.stringify({
  type: 'service_account',
  project_id: 'proj-alpha',
  private_key_id: '0123456789abcdef0123456789abcdef01234567',
  private_key: PEM,
  client_email: 'etl@proj-alpha.iam.gserviceaccount.com',
});
/** The private_key value as it appears in the JSON text (escaped newlines). */
const ESCAPED = JSON.stringify(PEM).slice(1, -1);

const spans = (text: string, types: DetectorName[]): [string, string][] => detect(text, types).map((d) => [d.type, text.slice(d.start, d.end)]);

describe('detect GCP_SA_KEY', () => {
  it('finds the whole private_key value of a key file in JSON text, escaped newlines included', () => {
    expect(spans(KEY_FILE, ['GCP_SA_KEY'])).toEqual([['GCP_SA_KEY', ESCAPED]]);
  });

  it('wins over PRIVATE_KEY for the same block, and leaves the rest to other detectors', () => {
    expect(spans(KEY_FILE, [...DETECTOR_NAMES])).toEqual([
      ['GCP_SA_KEY', ESCAPED],
      ['EMAIL', 'etl@proj-alpha.iam.gserviceaccount.com'],
    ]);
  });

  it.each<[string, string, string]>([
    ['pretty-printed JSON', `{\n  "private_key" : "${ESCAPED}",\n  "client_id": "1"\n}`, ESCAPED],
    ['a key file inside a JSON string', JSON.stringify({ body: KEY_FILE }), JSON.stringify(ESCAPED).slice(1, -1)],
    ['real newlines after "private_key:"', `private_key: ${PEM}client_id: 1`, PEM],
    ['an env-file line', `PRIVATE_KEY="${ESCAPED}"`, ESCAPED],
    ['single quotes (a printed dict)', `{'private_key': '${ESCAPED}'}`, ESCAPED],
    ['a truncated key', `{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0B`, '-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0B'],
  ])('finds it in %s', (_, text, value) => {
    expect(spans(text, ['GCP_SA_KEY'])).toEqual([['GCP_SA_KEY', value]]);
  });

  it.each<[string, string]>([
    ['a certificate under private_key', '{"private_key": "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"}'],
    ['a public key under private_key', 'private_key: -----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----'],
    ['a private key under another key', `{"signing_pem": "${ESCAPED}"}`],
    ['the key id', '{"private_key_id": "0123456789abcdef0123456789abcdef01234567"}'],
    ['a key name glued to a word', `{"my_private_key2": "${ESCAPED}"}`],
    ['the key name alone', 'rotate the private_key: see runbook'],
  ])('leaves %s alone', (_, text) => {
    expect(spans(text, ['GCP_SA_KEY'])).toEqual([]);
  });

  it('masks the value under a parsed object key "private_key" (no text context left)', () => {
    const masker = new Masker({ detectors: ['GCP_SA_KEY', 'EMAIL'], style: 'redact', columns: [] });
    const ctx = new MaskContext();
    const parsed = JSON.parse(KEY_FILE) as Record<string, unknown>;
    expect(masker.maskValue({ credentials: parsed, public: { private_key: 'not a pem' } }, ctx)).toEqual({
      credentials: { ...parsed, private_key: '[GCP_SA_KEY_1]', client_email: '[EMAIL_1]' },
      public: { private_key: 'not a pem' },
    });
    expect(Object.fromEntries(ctx.counts)).toEqual({ GCP_SA_KEY: 1, EMAIL: 1 });
  });

  it('is fully redacted in every style (a secret)', () => {
    const masker = new Masker({ detectors: ['GCP_SA_KEY'], style: 'hmac', columns: [] }, { hmacKey: 'k'.repeat(32) });
    expect(masker.maskText(KEY_FILE, new MaskContext())).toContain('"private_key":"[GCP_SA_KEY_1]"');
  });

  it('stays linear on adversarial input (many BEGIN markers without an END, many key names)', () => {
    const inputs = [
      '"private_key": "-----BEGIN PRIVATE KEY-----:'.repeat(10_000),
      '-----BEGIN PRIVATE KEY-----:'.repeat(20_000),
      'private_key='.repeat(50_000),
      `"private_key": "${'-----BEGIN PRIVATE KEY-----\\n'.repeat(20_000)}`,
    ];
    for (const text of inputs) {
      const started = performance.now();
      detect(text, [...DETECTOR_NAMES]);
      // A generous bound only a super-linear scan would break (not a performance assertion).
      expect(performance.now() - started).toBeLessThan(4000);
    }
  });
});
