import { describe, expect, it } from 'vitest';
import { DETECTOR_NAMES } from '../../../src/masking/detectors.js';
import { MaskContext, Masker } from '../../../src/masking/masker.js';

/** Cloud Logging entries as @google-cloud/logging returns them: the same engine masks every part. */
const masker = new Masker({ detectors: [...DETECTOR_NAMES], style: 'redact', columns: [] });

const entry = {
  logName: 'projects/shop-prod-381204/logs/run.googleapis.com%2Fstdout',
  resource: { type: 'cloud_run_revision', labels: { project_id: 'shop-prod-381204', service_name: 'checkout', revision_name: 'checkout-00042-xuz', location: 'europe-west1' } },
  timestamp: '2026-11-29T10:00:00.123456Z',
  receiveTimestamp: '2026-11-29T10:00:00.456789012Z',
  severity: 'ERROR',
  insertId: '6569f1a20005c3b1b4c8d2a7',
  trace: 'projects/shop-prod-381204/traces/4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  labels: { 'instance-id': '00bf4bf02d5e0c81a4c3', user: 'ana.silva@example.com' },
  httpRequest: {
    requestMethod: 'POST',
    requestUrl: 'https://app:s3cr3t-Pa55@api.example.com/v1/orders/12345?token=q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F',
    status: 500,
    responseSize: '1843',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.6778.85',
    remoteIp: '203.0.113.42',
    latency: '0.125s',
  },
  textPayload: 'charge failed for card 4111 1111 1111 1111, customer ana.silva@example.com',
  jsonPayload: { message: 'retrying', attempt: 3, config: { db_password: 'hunter2-prod', region: 'eu' }, upstream: { headers: { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl' } } },
};

describe('masking a Cloud Logging entry', () => {
  it('masks textPayload, jsonPayload, labels and httpRequest, and leaves ids, traces and times alone', () => {
    const ctx = new MaskContext();
    const masked = masker.maskValue(entry, ctx) as typeof entry;
    expect(masked.textPayload).toBe('charge failed for card [CREDIT_CARD_1], customer [EMAIL_1]');
    // The same address is the same placeholder across the entry.
    expect(masked.labels).toEqual({ 'instance-id': '00bf4bf02d5e0c81a4c3', user: '[EMAIL_1]' });
    expect(masked.jsonPayload.config).toEqual({ db_password: '[PASSWORD_1]', region: 'eu' });
    expect(masked.jsonPayload.upstream.headers.authorization).toBe('Bearer [JWT_1]');
    expect(masked.httpRequest.requestUrl).toBe('https://app:[PASSWORD_IN_URL_1]@api.example.com/v1/orders/12345?token=[GENERIC_API_KEY_1]');
    expect(masked.httpRequest.remoteIp).toBe('[IP_ADDRESS_1]');
    for (const key of ['logName', 'timestamp', 'receiveTimestamp', 'severity', 'insertId', 'trace', 'spanId'] as const) expect(masked[key]).toBe(entry[key]);
    expect(masked.resource).toEqual(entry.resource);
    expect(masked.httpRequest.userAgent).toBe(entry.httpRequest.userAgent);
    expect(Object.fromEntries(ctx.counts)).toMatchObject({ CREDIT_CARD: 1, EMAIL: 2, PASSWORD: 1, PASSWORD_IN_URL: 1, IP_ADDRESS: 1 });
    // The entry itself is untouched (the unmasked copy is what the compliance record seals).
    expect(entry.textPayload).toContain('4111 1111 1111 1111');
  });
});
