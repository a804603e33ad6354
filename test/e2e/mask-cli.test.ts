import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, EXAMPLE_POLICY, tempDir } from '../support/airlock.js';

function airlock(args: string[], input: string, env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    // Not from the checkout: every path the CLI needs is given. Killed before the test's own 30 s timeout.
    const child = execFile(process.execPath, [CLI, ...args], { cwd: dir, timeout: 25_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ stdout, stderr, code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1 });
    });
    // The CLI may exit before reading stdin (a policy it refuses): that is not a test failure.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

const dir = tempDir('airlock-mask-cli-');
function policyFile(name: string, masking: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ version: 1, rules: [], masking }));
  return path;
}

const PEM = `-----BEGIN PRIVATE KEY-----\n${'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7q8Zr4Lk2Vx9T\n'.repeat(26)}-----END PRIVATE KEY-----\n`;
const KEY_FILE = JSON.stringify({ type: 'service_account', private_key: PEM, client_email: 'etl@proj-alpha.iam.gserviceaccount.com' });

describe('airlock mask (CLI)', () => {
  it('--jsonl: one line per input with the masked text and findings with offsets into the original', async () => {
    const input = [
      JSON.stringify({ id: 1, text: 'mail ana@example.com, key AKIAIOSFODNN7EXAMPLE, card 4111 1111 1111 1111' }),
      JSON.stringify({ id: 'plain', text: 'release v1.2.3, ticket PROJ-1234, icon@2x.png' }),
      'not json',
    ].join('\n');
    const result = await airlock(['mask', '--jsonl'], input);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({
      id: 1,
      masked: 'mail [EMAIL_1], key [AWS_ACCESS_KEY_1], card [CREDIT_CARD_1]',
      findings: [
        { start: 5, end: 20, type: 'EMAIL' },
        { start: 26, end: 46, type: 'AWS_ACCESS_KEY' },
        { start: 53, end: 72, type: 'CREDIT_CARD' },
      ],
    });
    expect(lines[1]).toEqual({ id: 'plain', masked: 'release v1.2.3, ticket PROJ-1234, icon@2x.png', findings: [] });
    expect(lines[2]).toEqual({ line: 3, error: 'not valid JSON' });
    expect(result.code).toBe(1);
  });

  it('uses the detectors and style of a policy file', async () => {
    const result = await airlock(['mask', '--jsonl', '--policy', EXAMPLE_POLICY], JSON.stringify({ id: 1, text: 'ana@example.com 4111 1111 1111 1111' }));
    expect(JSON.parse(result.stdout)).toMatchObject({ masked: 'ana@example.com **** **** **** 1111' });
  });

  it('--jsonl: masks a service-account key whole and gives CSV headers context', async () => {
    const csv = 'user,password,ssn\nana,hunter2x,123456789\n';
    const result = await airlock(['mask', '--jsonl'], [JSON.stringify({ id: 'sa', text: KEY_FILE }), JSON.stringify({ id: 'csv', text: csv })].join('\n'));
    const [sa, table] = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { masked: string; findings: { start: number; end: number; type: string }[] });
    expect(sa?.masked).toBe('{"type":"service_account","private_key":"[GCP_SA_KEY_1]","client_email":"[EMAIL_1]"}');
    expect(sa?.findings.map((f) => [f.type, KEY_FILE.slice(f.start, f.end)])).toEqual([
      ['GCP_SA_KEY', JSON.stringify(PEM).slice(1, -1)],
      ['EMAIL', 'etl@proj-alpha.iam.gserviceaccount.com'],
    ]);
    expect(table).toEqual({ id: 'csv', masked: 'user,password,ssn\nana,[PASSWORD_1],[US_SSN_1]\n', findings: [{ start: 22, end: 30, type: 'PASSWORD' }, { start: 31, end: 40, type: 'US_SSN' }] });
    expect(result.code).toBe(0);
  });

  it('--stream: masks keyed secrets in the syntaxes real systems write, and leaves references readable (issue 20)', async () => {
    const aws = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const input = [
      `{"severity":"INFO","textPayload":"{\\"SecretAccessKey\\":\\"${aws}\\",\\"password\\":\\"Tr0ub4dor!\\"}"}`,
      'mysqladmin --password s3cr3t-x status; authorization: bearer q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F',
      'password=${DB_PASSWORD} token: required ssn: 123 45 6789',
      '',
    ].join('\n');
    const result = await airlock(['mask', '--stream'], input);
    expect(result.stdout).toBe(
      [
        '{"severity":"INFO","textPayload":"{\\"SecretAccessKey\\":\\"[AWS_SECRET_KEY_1]\\",\\"password\\":\\"[PASSWORD_1]\\"}"}',
        'mysqladmin --password [PASSWORD_2] status; authorization: bearer [GENERIC_API_KEY_1]',
        'password=${DB_PASSWORD} token: required ssn: [US_SSN_1]',
        '',
      ].join('\n'),
    );
    expect(result.code).toBe(0);
  });

  it('--policy with style hmac: keyed tokens from the key in the environment, and no output without it', async () => {
    const policy = policyFile('hmac.json', { detectors: ['EMAIL', 'AWS_ACCESS_KEY'], style: 'hmac', hmacKey: 'env:AIRLOCK_MASKING_KEY' });
    const line = JSON.stringify({ id: 1, text: 'ana@example.com AKIAIOSFODNN7EXAMPLE' });
    const first = await airlock(['mask', '--jsonl', '--policy', policy], line, { AIRLOCK_MASKING_KEY: 'deployment-key-0123456789abcdef' });
    const again = await airlock(['mask', '--jsonl', '--policy', policy], line, { AIRLOCK_MASKING_KEY: 'deployment-key-0123456789abcdef' });
    const masked = (JSON.parse(first.stdout) as { masked: string }).masked;
    expect(masked).toMatch(/^\[EMAIL:hmac:[0-9a-f]{12}\] \[AWS_ACCESS_KEY_1\]$/);
    expect(again.stdout).toBe(first.stdout);
    const missing = await airlock(['mask', '--jsonl', '--policy', policy], line, { AIRLOCK_MASKING_KEY: '' });
    expect(missing).toEqual({ stdout: '', stderr: 'airlock: masking.style "hmac" needs its key: set masking.hmacKey to a reference like "env:AIRLOCK_MASKING_KEY" and give that variable a value\n', code: 2 });
  });

  it('--policy with custom detectors and column names; a pattern that could hang is refused at load', async () => {
    const policy = policyFile('custom.json', { detectors: ['EMAIL'], columns: ['*salary*'], sensitiveUse: { approverGroups: ['security'] }, custom: [{ name: 'TICKET_SECRET', pattern: 'tks_[A-Za-z0-9]{16}' }] });
    const result = await airlock(['mask', '--jsonl', '--policy', policy], JSON.stringify({ id: 1, text: 'name,base_salary\nana,120000\nuse tks_Ab12Cd34Ef56Gh78 now\n' }));
    expect(JSON.parse(result.stdout)).toMatchObject({ masked: 'name,base_salary\nana,[SENSITIVE_COLUMN_1]\nuse [TICKET_SECRET_1] now\n' });
    const bad = policyFile('bad.json', { custom: [{ name: 'SLOW', pattern: '(a+)+\\1' }] });
    const refused = await airlock(['mask', '--jsonl', '--policy', bad], '');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('bad.json: masking.custom[0].pattern: pattern "(a+)+\\\\1" cannot run in linear time');
  });

  it("--principal/--tool/--resource: the detectors a policy's masking overrides give that call", async () => {
    const policy = policyFile('overrides.json', { detectors: ['EMAIL', 'CREDIT_CARD'], overrides: [{ id: 'support-sees-email', principals: { groups: ['support'] }, resources: ['shop'], remove: ['EMAIL'] }] });
    const text = JSON.stringify({ id: 1, text: 'ana@example.com paid 4111 1111 1111 1111' });
    const support = await airlock(['mask', '--jsonl', '--policy', policy, '--principal', '{"email":"sam@example.com","groups":["support"]}', '--resource', 'shop'], text);
    expect(JSON.parse(support.stdout)).toMatchObject({ masked: 'ana@example.com paid **** **** **** 1111' });
    expect(support.stderr).toContain('detectors for query_sql on shop: CREDIT_CARD (overrides: support-sees-email)');
    const analyst = await airlock(['mask', '--jsonl', '--policy', policy, '--principal', '{"email":"ana@example.com","groups":["analysts"]}', '--resource', 'shop'], text);
    expect(JSON.parse(analyst.stdout)).toMatchObject({ masked: '[EMAIL_1] paid **** **** **** 1111' });
    const noPolicy = await airlock(['mask', '--jsonl', '--resource', 'shop'], text);
    expect(noPolicy.code).toBe(2);
    expect(noPolicy.stderr).toContain('give --policy FILE');
    const unknownTool = await airlock(['mask', '--jsonl', '--policy', policy, '--tool', 'read_buckets'], text);
    expect(unknownTool.code).toBe(2);
    expect(unknownTool.stderr).toContain('--tool: unknown tool "read_buckets"');
    const both = await airlock(['mask', '--jsonl', '--policy', policy, '--resource', 'shop', '--detectors', 'EMAIL'], text);
    expect(both.code).toBe(2);
  });

  it('--stream: masks stdin in chunks and finds a key split across pipe chunks', async () => {
    const filler = 'x'.repeat(65_000);
    const text = `${filler}\n${KEY_FILE}\n${'log line ana@example.com\n'.repeat(5000)}`;
    const result = await airlock(['mask', '--stream'], text);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${filler}\n{"type":"service_account","private_key":"[GCP_SA_KEY_1]","client_email":"[EMAIL_1]"}\n${'log line [EMAIL_2]\n'.repeat(5000)}`);
  });

  it('--stream: stops the output and exits 1 when masking fails (fail closed)', async () => {
    const policy = policyFile('busy.json', { detectors: [], custom: [{ name: 'BUSY', pattern: '[^z]*z|a' }] });
    const result = await airlock(['mask', '--stream', '--policy', policy], 'a'.repeat(400_000));
    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain('aaaa');
    expect(result.stderr).toMatch(/^airlock: masking failed, output stopped: custom detector BUSY exceeded its budget/);
  });
});
