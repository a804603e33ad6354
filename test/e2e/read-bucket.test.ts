/**
 * read_bucket end to end (issue 18): the compiled CLI over stdio with a real MCP client, the real
 * `@google-cloud/storage` client inside airlock talking to the loopback GCS server over a temp folder.
 * The server's fault hook records every upstream request (to prove what was, and was not, sent) and
 * injects errors, hangs and dropped connections.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoPng } from '../../src/connectors/demo-objects.js';
import { startLocalGcs, type GcsFault, type GcsFaultRequest, type LocalGcs } from '../../src/connectors/local-gcs.js';
import { auditIdOf, CLI, readAudit, ROOT, tempDir, textOf, writePolicy } from '../support/airlock.js';

const CSV = [
  'id,name,email,card_number,phone,tax_id',
  '1,Ana Silva,ana.silva@example.com,4111111111111111,+1 415 555 0134,TX-99812',
  '2,Ben Okafor,ben.okafor@example.com,5555555555554444,+44 20 7946 0321,TX-10077',
  '',
].join('\n');
const NDJSON = [
  JSON.stringify({ ts: '2026-12-01T08:10:00Z', user: 'ana.silva@example.com', client_ip: '203.0.113.20', path: '/v1/orders' }),
  JSON.stringify({ ts: '2026-12-01T08:11:00Z', user: 'ben.okafor@example.com', body: { username: 'ben', password: 'correct-horse-battery-staple' } }),
  '',
].join('\n');
const PEM_BODY = Buffer.alloc(900, 7).toString('base64').replace(/(.{64})/g, '$1\n').trimEnd();
const SA_KEY = JSON.stringify({ type: 'service_account', project_id: 'acme-prod', private_key_id: 'a1b2c3d4e5f6', private_key: `-----BEGIN PRIVATE KEY-----\n${PEM_BODY}\n-----END PRIVATE KEY-----\n`, client_email: 'exporter@acme-prod.iam.gserviceaccount.com' }, null, 2);
const WORKER_LOG = `2026-12-01T09:12:30Z WARN retry for card 4111 1111 1111 1111\n2026-12-01T09:24:10Z DEBUG using AWS key AKIAIOSFODNN7EXAMPLE\n`;
// 2,600 bytes of lines, each line carrying its own offset: ranges can be checked by content.
const BIG = Array.from({ length: 100 }, (_, i) => `line ${String(i).padStart(3, '0')} of the big log ....\n`).join('');
// 6.6 MB of plain lines: more than one read returns whatever policy allows.
const LARGE = 'abcdefghij\n'.repeat(600_000);
const BOMB = gzipSync(Buffer.alloc(64 * 1024 * 1024, 'a'));

const OBJECTS: Record<string, string | Buffer> = {
  'readme.txt': 'top level, outside every glob\n',
  'app/data/customers.csv': CSV,
  'app/logs/api.ndjson': NDJSON,
  'app/logs/worker.log.gz': gzipSync(WORKER_LOG),
  'app/assets/logo.png': demoPng(),
  'app/keys/server.pem': '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n',
  'app/big/big.log': BIG,
  'app/big/bomb.log.gz': BOMB,
  'app/large/large.txt': LARGE,
  'app/bomb.log.gz': BOMB,
  'config/service.json': SA_KEY,
  'config/server.pem': 'not served\n',
  'cache/tmp.txt': 'never listed upstream when the prefix is narrowed\n',
  'exports/customers.csv': CSV,
  'secret/other.txt': 'out of every glob\n',
};

const POLICY = {
  version: 1,
  resources: {
    buckets: { acme: { bucket: 'acme-data', description: 'Application logs, assets and exports' } },
  },
  // 8 MiB: past the 1 MiB that decompression may reach before its ratio cap applies.
  defaults: { limits: { timeoutMs: 3000, maxBytes: 8 * 1024 * 1024 } },
  rules: [
    { id: 'introspection', effect: 'allow', tools: ['whoami', 'list_resources', 'explain_policy'] },
    { id: 'read-app', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['read_bucket'], resources: ['acme'], objects: ['app/**', 'config/*.json'] },
    { id: 'big-capped', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['read_bucket'], resources: ['acme'], objects: ['app/big/**'], limits: { maxBytes: 1024 } },
    {
      id: 'exports-need-approval',
      effect: 'approve',
      principals: { groups: ['analysts'] },
      tools: ['read_bucket'],
      resources: ['acme'],
      objects: ['exports/**'],
      reason: 'Exports hold customer data: a data owner approves each read.',
      approval: { approverGroups: ['data-owners'] },
    },
    { id: 'no-pem', effect: 'deny', tools: ['read_bucket'], objects: ['**/*.pem'], reason: 'Key files are never read through airlock.' },
  ],
  masking: {
    detectors: ['CREDIT_CARD', 'EMAIL', 'PHONE', 'JWT', 'GCP_SA_KEY', 'PRIVATE_KEY', 'AWS_ACCESS_KEY', 'PASSWORD', 'IP_ADDRESS'],
    style: 'last4',
    columns: ['*.tax_id'],
    sensitiveUse: { approverGroups: ['data-owners'] },
  },
};

let gcs: LocalGcs;
let client: Client;
let auditDir: string;
let moduleLog: string;
let policyPath: string;
const run = promisify(execFile);
let fault: ((req: GcsFaultRequest) => GcsFault | undefined) | undefined;
const seen: GcsFaultRequest[] = [];
/** Every read_bucket call made, with the outcome its audit record must have. */
const calls: { id: string; outcome: string }[] = [];

type Result = { isError?: boolean; structuredContent?: Record<string, unknown>; content?: unknown };

async function call(args: Record<string, unknown>, outcome: string): Promise<Result> {
  const result = (await client.callTool({ name: 'read_bucket', arguments: args })) as Result;
  calls.push({ id: auditIdOf(result), outcome });
  return result;
}

function errorCode(result: Result): string | undefined {
  return ((result as { _meta?: { 'airlock/error'?: { code?: string } } })._meta?.['airlock/error'])?.code;
}

/** What airlock asked the server for: method, object (or list) and the prefix a listing sent. */
function requests(): string[] {
  return seen.map((r) => {
    const prefix = new URL(r.url, 'http://x').searchParams.get('prefix');
    return `${r.media ? 'media' : r.object === undefined ? 'list' : 'meta'} ${r.object ?? `prefix=${prefix ?? ''}`}`;
  });
}

beforeAll(async () => {
  const dir = tempDir();
  auditDir = join(dir, 'audit');
  const root = join(dir, 'gcs');
  for (const [name, content] of Object.entries(OBJECTS)) {
    const path = join(root, 'acme-data', ...name.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }
  gcs = await startLocalGcs({ root, faults: (req) => (seen.push(req), fault?.(req)) });
  const configPath = join(dir, 'airlock.json');
  writeFileSync(configPath, JSON.stringify({ storage: { endpoint: gcs.url }, approvals: { waitSeconds: 0 } }));
  const transport = new StdioClientTransport({
    command: process.execPath,
    // Every module airlock imports is logged: the storage client must load only when a bucket is used.
    args: ['--import', join(ROOT, 'test', 'support', 'module-log.mjs'), CLI, 'serve', '--stdio', '--config', configPath, '--policy', (policyPath = writePolicy(dir, POLICY)), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts'],
    env: { PATH: process.env.PATH ?? '', HOME: dir, AIRLOCK_MODULE_LOG: (moduleLog = join(dir, 'modules.log')) },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  client = new Client({ name: 'e2e-read-bucket', version: '1.0.0' });
  try {
    await client.connect(transport);
  } catch (error) {
    await gcs.close();
    throw new Error(`airlock did not start:\n${stderr}`, { cause: error });
  }
}, 60_000);

afterAll(async () => {
  try {
    await client?.close();
  } finally {
    await gcs?.close();
  }
});

function fresh(): void {
  seen.length = 0;
  fault = undefined;
}

/** Whether airlock has imported the Cloud Storage client library so far. */
function storageLoaded(): boolean {
  return readFileSync(moduleLog, 'utf8').split('\n').some((url) => url.includes('/node_modules/@google-cloud/storage/'));
}

describe('read_bucket client loading (issue 18)', () => {
  it('loads the Cloud Storage client only at the first bucket call', async () => {
    await client.callTool({ name: 'list_resources', arguments: {} });
    expect(readFileSync(moduleLog, 'utf8')).toContain('/dist/src/main.js');
    expect(storageLoaded()).toBe(false);
    fresh();
    await call({ bucket: 'acme', action: 'list', prefix: 'app/logs/' }, 'ok');
    expect(storageLoaded()).toBe(true);
  });
});

describe('read_bucket list (issue 18)', () => {
  it('shows only folders and objects a read could reach, and says how many were hidden', async () => {
    fresh();
    const result = await call({ bucket: 'acme', action: 'list', delimiter: '/' }, 'ok');
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ bucket: 'acme', action: 'list', prefix: '', items: [], prefixes: ['app/', 'config/', 'exports/'], hidden: 3, note: '3 entries were hidden by policy.' });
    expect(requests()).toEqual(['list prefix=']);
    const text = textOf(result);
    expect(text).toContain('0 objects and 3 folders in bucket "acme":');
    for (const hidden of ['readme.txt', 'secret/', 'cache/']) expect(JSON.stringify(result)).not.toContain(hidden);
  });

  it('hides a denied name inside an allowed folder', async () => {
    fresh();
    const result = await call({ bucket: 'acme', action: 'list', prefix: 'app/keys/' }, 'ok');
    expect(result.structuredContent).toMatchObject({ prefix: 'app/keys/', items: [], prefixes: [], hidden: 1 });
    expect(JSON.stringify(result)).not.toContain('server.pem');
  });

  it('narrows the prefix sent upstream to where visible objects can be', async () => {
    fresh();
    const result = await call({ bucket: 'acme', action: 'list', prefix: 'c' }, 'ok');
    expect(requests()).toEqual(['list prefix=config/']);
    const items = result.structuredContent?.items as { name: string; size: number; contentType?: string; updated?: string }[];
    expect(items.map((i) => i.name)).toEqual(['config/service.json']);
    expect(items[0]).toMatchObject({ size: Buffer.byteLength(SA_KEY), contentType: 'application/json' });
    expect(Number.isNaN(Date.parse(items[0]?.updated ?? ''))).toBe(false);
    expect(result.structuredContent).toMatchObject({ hidden: 1 });
    expect(JSON.stringify(result)).not.toContain('cache/');
  });

  it('pages with maxResults and pageToken', async () => {
    fresh();
    const first = await call({ bucket: 'acme', action: 'list', prefix: 'app/logs/', maxResults: 1 }, 'ok');
    expect(first.structuredContent).toMatchObject({ items: [{ name: 'app/logs/api.ndjson' }], hidden: 0 });
    const token = first.structuredContent?.nextPageToken as string;
    expect(typeof token).toBe('string');
    expect(textOf(first)).toContain('More entries follow: call again with pageToken = nextPageToken.');
    const second = await call({ bucket: 'acme', action: 'list', prefix: 'app/logs/', maxResults: 1, pageToken: token }, 'ok');
    expect(second.structuredContent).toMatchObject({ items: [{ name: 'app/logs/worker.log.gz' }] });
    expect(second.structuredContent?.nextPageToken).toBeUndefined();
  });
});

describe('read_bucket read (issue 18)', () => {
  it('masks a CSV by its header: cards to their last four, emails, phones, and a column rule by name', async () => {
    fresh();
    const result = await call({ bucket: 'acme', action: 'read', object: 'app/data/customers.csv' }, 'ok');
    expect(result.isError).toBeFalsy();
    const s = result.structuredContent as Record<string, unknown>;
    expect(s).toMatchObject({ object: 'app/data/customers.csv', format: 'csv', truncated: false, metadata: { size: Buffer.byteLength(CSV), contentType: 'text/csv' } });
    const content = s.content as string;
    for (const raw of ['4111111111111111', '5555555555554444', 'ana.silva@example.com', '415 555 0134', 'TX-99812', 'TX-10077']) {
      expect(content).not.toContain(raw);
      expect(textOf(result)).not.toContain(raw);
    }
    expect(content.split('\n')[0]).toBe('id,name,email,card_number,phone,tax_id');
    expect(content).toBe('id,name,email,card_number,phone,tax_id\n1,Ana Silva,[EMAIL_1],************1111,+* *** *** 0134,[SENSITIVE_COLUMN_1]\n2,Ben Okafor,[EMAIL_2],************4444,+** ** **** 0321,[SENSITIVE_COLUMN_2]\n');
    expect(textOf(result)).toContain(content);
    expect(textOf(result).split('\n')[0]).toMatch(/^acme\/app\/data\/customers\.csv · \d+ bytes · text\/csv · generation \d+$/);
  });

  it('masks a service-account key file as JSON', async () => {
    fresh();
    const result = await call({ bucket: 'acme', action: 'read', object: 'config/service.json' }, 'ok');
    const content = (result.structuredContent as { content: string }).content;
    expect((result.structuredContent as { format: string }).format).toBe('json');
    expect(content).not.toContain('BEGIN PRIVATE KEY');
    expect(content).not.toContain(PEM_BODY.slice(0, 40));
    expect(textOf(result)).not.toContain(PEM_BODY.slice(0, 40));
    expect(content).toContain('"type": "service_account"');
  });

  it('masks NDJSON lines by key', async () => {
    fresh();
    const result = await call({ bucket: 'acme', action: 'read', object: 'app/logs/api.ndjson' }, 'ok');
    const s = result.structuredContent as { content: string; format: string };
    expect(s.format).toBe('ndjson');
    for (const raw of ['ana.silva@example.com', 'ben.okafor@example.com', 'correct-horse-battery-staple', '203.0.113.20']) expect(s.content).not.toContain(raw);
    expect(s.content).toContain('"/v1/orders"');
    expect(s.content.split('\n')).toHaveLength(3);
  });

  it('decompresses a gzip object and masks it', async () => {
    fresh();
    const result = await call({ bucket: 'acme', action: 'read', object: 'app/logs/worker.log.gz' }, 'ok');
    const s = result.structuredContent as { content: string; format: string; metadata: { contentEncoding?: string } };
    expect(s.metadata.contentEncoding).toBe('gzip');
    expect(s.format).toBe('text');
    expect(s.content).toContain('WARN retry for card');
    expect(s.content).not.toContain('4111 1111 1111 1111');
    expect(s.content).not.toContain('AKIAIOSFODNN7EXAMPLE');
    // Ranges of a gzip object count decompressed bytes.
    const ranged = await call({ bucket: 'acme', action: 'read', object: 'app/logs/worker.log.gz', range: { start: 10, end: 29 } }, 'ok');
    expect(ranged.structuredContent).toMatchObject({ content: WORKER_LOG.slice(10, 30), truncated: false });
    const tail = await call({ bucket: 'acme', action: 'read', object: 'app/logs/worker.log.gz', range: { start: 60 } }, 'ok');
    expect((tail.structuredContent as { content: string }).content).toMatch(/^\n2026-12-01T09:24:10Z DEBUG using AWS key /);
    expect((tail.structuredContent as { content: string }).content).not.toContain('AKIAIOSFODNN7EXAMPLE');
  });

  it('returns metadata only for a PNG, without downloading it', async () => {
    fresh();
    const result = await call({ bucket: 'acme', action: 'read', object: 'app/assets/logo.png' }, 'ok');
    expect(result.structuredContent).toMatchObject({ format: 'binary', truncated: false, metadata: { contentType: 'image/png', size: demoPng().length }, note: 'Binary content (image/png) is not returned: only its metadata.' });
    expect(result.structuredContent?.content).toBeUndefined();
    expect((result.structuredContent as { metadata: { md5Hash?: string; crc32c?: string } }).metadata.md5Hash).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(requests()).toEqual(['meta app/assets/logo.png']);
  });

  it('cuts at the byte cap with truncated and the next range, which reads on to the end', async () => {
    fresh();
    const first = await call({ bucket: 'acme', action: 'read', object: 'app/big/big.log' }, 'ok');
    expect(first.structuredContent).toMatchObject({ truncated: true, next: { range: { start: 1024 } }, note: 'Content cut at the 1024-byte cap. Read on with range {"start": 1024}.' });
    expect((first.structuredContent as { content: string }).content).toBe(BIG.slice(0, 1024));
    expect(textOf(first)).toContain('Read on with range {"start": 1024}.');
    const second = await call({ bucket: 'acme', action: 'read', object: 'app/big/big.log', range: { start: 1024 } }, 'ok');
    expect(second.structuredContent).toMatchObject({ truncated: true, next: { range: { start: 2048 } } });
    expect((second.structuredContent as { content: string }).content).toBe(BIG.slice(1024, 2048));
    const third = await call({ bucket: 'acme', action: 'read', object: 'app/big/big.log', range: { start: 2048 } }, 'ok');
    expect(third.structuredContent).toMatchObject({ truncated: false, content: BIG.slice(2048) });
    expect(third.structuredContent?.next).toBeUndefined();
    const middle = await call({ bucket: 'acme', action: 'read', object: 'app/big/big.log', range: { start: 26, end: 51 } }, 'ok');
    expect(middle.structuredContent).toMatchObject({ truncated: false, content: BIG.slice(26, 52) });
  });

  it('returns at most 4 MiB of content per read whatever policy allows (an 8 MiB policy cap), and reads on from there', async () => {
    fresh();
    const first = await call({ bucket: 'acme', action: 'read', object: 'app/large/large.txt' }, 'ok');
    const start = 4 * 1024 * 1024;
    expect(first.structuredContent).toMatchObject({ truncated: true, next: { range: { start } } });
    expect((first.structuredContent?.content as string).length).toBe(start);
    expect(textOf(first)).toContain(`Content cut at the ${start}-byte cap. Read on with range {"start": ${start}}.`);
    const rest = await call({ bucket: 'acme', action: 'read', object: 'app/large/large.txt', range: { start } }, 'ok');
    expect(rest.structuredContent).toMatchObject({ truncated: false });
    expect((rest.structuredContent?.content as string).length).toBe(LARGE.length - start);
  }, 30_000);

  it('stops a gzip bomb: cut at a cap of 1 MiB or less, refused by the ratio cap past 1 MiB, in bounded time', async () => {
    fresh();
    const capped = await call({ bucket: 'acme', action: 'read', object: 'app/big/bomb.log.gz' }, 'ok');
    expect(capped.structuredContent).toMatchObject({ truncated: true, content: 'a'.repeat(1024), next: { range: { start: 1024 } } });
    const refused = await call({ bucket: 'acme', action: 'read', object: 'app/bomb.log.gz' }, 'error');
    expect(refused.isError).toBe(true);
    expect(errorCode(refused)).toBe('CONTENT_REJECTED');
    expect(textOf(refused)).toMatch(/^The content was not returned: it decompresses to far more than its compressed size \(a possible compression bomb\)\.\n\[code: CONTENT_REJECTED; audit id: [0-9a-f-]{36}\]$/);
    expect(JSON.stringify(refused)).not.toContain('aaaaaaaa');
  }, 20_000);

  it('denies a read outside the globs and of a denied path without any upstream request', async () => {
    for (const object of ['secret/other.txt', 'readme.txt', 'app/keys/server.pem', 'config/server.pem']) {
      fresh();
      const result = await call({ bucket: 'acme', action: 'read', object }, 'denied');
      expect(result.isError, object).toBe(true);
      expect(errorCode(result), object).toBe('POLICY_DENIED');
      expect(requests(), object).toEqual([]);
    }
  });

  it('sends a read of exports to approval without any upstream request, with the justification for approvers', async () => {
    fresh();
    const result = await call({ bucket: 'acme', action: 'read', object: 'exports/customers.csv', justification: 'ticket 4711: reconcile the November export' }, 'approval_required');
    expect(result.structuredContent).toMatchObject({ status: 'pending_approval' });
    expect(requests()).toEqual([]);
    // The request approvers see carries the agent's justification, and the bound call does not.
    const stored = readFileSync(join(auditDir, 'approvals.json'), 'utf8');
    expect(stored).toContain('ticket 4711: reconcile the November export');
  });

  it('refuses every path trick with INVALID_INPUT before any upstream request', async () => {
    const tricks = ['../acme-data/secret/other.txt', 'app/../secret/other.txt', './app/logs/api.ndjson', '/app/logs/api.ndjson', 'app//logs/api.ndjson', 'app\\logs\\api.ndjson', 'app/logs/api.ndjson\0.png', 'app%2F..%2Fsecret%2Fother.txt', '%2e%2e/secret/other.txt', 'app\u2215..\u2215secret', 'app\uff0fsecret', 'cafe\u0301.txt', 'a\u202etxt', 'x'.repeat(1025)];
    for (const object of tricks) {
      fresh();
      const result = await call({ bucket: 'acme', action: 'read', object }, 'invalid');
      expect(errorCode(result), object).toBe('INVALID_INPUT');
      expect(textOf(result), object).toMatch(/^Invalid arguments for read_bucket: object: /);
      expect(requests(), object).toEqual([]);
    }
    fresh();
    const prefix = await call({ bucket: 'acme', action: 'list', prefix: 'app/../secret/' }, 'invalid');
    expect(textOf(prefix)).toMatch(/^Invalid arguments for read_bucket: prefix: must not contain "\." or "\.\." segments\n/);
    expect(requests()).toEqual([]);
  });

  it('answers UNKNOWN_RESOURCE for a bucket policy does not name', async () => {
    fresh();
    const result = await call({ bucket: 'acme-data', action: 'list' }, 'invalid');
    expect(errorCode(result)).toBe('UNKNOWN_RESOURCE');
    expect(textOf(result)).toMatch(/^Unknown bucket "acme-data"\.\n/);
    expect(requests()).toEqual([]);
  });
});

describe('read_bucket upstream faults (issue 18)', () => {
  const cases: [string, GcsFault | 'missing', string, string, RegExp][] = [
    ['403', { status: 403 }, 'UPSTREAM_DENIED', 'error', /^Cloud Storage refused airlock's access\. /],
    ['404', 'missing', 'NOT_FOUND', 'error', /^Object "app\/logs\/missing\.log" in bucket "acme" was not found\.\n/],
    ['429', { status: 429 }, 'UPSTREAM_UNAVAILABLE', 'error', /^Cloud Storage is unavailable right now; try again shortly\.\n/],
    ['503', { status: 503 }, 'UPSTREAM_UNAVAILABLE', 'error', /^Cloud Storage is unavailable right now; try again shortly\.\n/],
    ['a hang', { hang: true }, 'UPSTREAM_TIMEOUT', 'timed_out', /^Cloud Storage bucket "acme" did not answer within the call's time limit of 3000 ms; the request was stopped\. /],
    ['a connection dropped mid-object', { dropAfterBytes: 40 }, 'UPSTREAM_UNAVAILABLE', 'error', /^Cloud Storage is unavailable right now; try again shortly\.\n/],
  ];

  it.each(cases)('%s gives its code with the audit id, nothing partial, and the next call works', async (_name, injected, code, outcome, message) => {
    fresh();
    const object = injected === 'missing' ? 'app/logs/missing.log' : 'app/big/big.log';
    if (injected !== 'missing') fault = (req) => ('dropAfterBytes' in injected ? (req.media ? injected : undefined) : injected);
    const failed = await call({ bucket: 'acme', action: 'read', object }, outcome);
    expect(failed.isError).toBe(true);
    expect(errorCode(failed)).toBe(code);
    expect(textOf(failed)).toMatch(message);
    expect(textOf(failed)).toMatch(new RegExp(`\\[code: ${code}; audit id: ${auditIdOf(failed)}\\]$`));
    expect(textOf(failed)).not.toContain('line 000');
    expect(textOf(failed)).not.toMatch(/caller does not have permission|rate of requests|currently unavailable|No such object/);
    if (injected !== 'missing' && 'status' in injected && injected.status !== 403) expect(seen.length).toBe(3); // two bounded retries
    fresh();
    const next = await call({ bucket: 'acme', action: 'read', object: 'app/big/big.log', range: { start: 0, end: 9 } }, 'ok');
    expect(next.structuredContent).toMatchObject({ content: BIG.slice(0, 10) });
  }, 20_000);

  it('a call cancelled while the upstream hangs is audited as cancelled, and the next call works', async () => {
    fresh();
    fault = () => ({ hang: true });
    const before = new Set(readAudit(auditDir).map((r) => r.id));
    const controller = new AbortController();
    const pending = client.callTool({ name: 'read_bucket', arguments: { bucket: 'acme', action: 'read', object: 'app/big/big.log' } }, undefined, { signal: controller.signal });
    for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(requests()).toEqual(['meta app/big/big.log']);
    controller.abort('changed my mind');
    await expect(pending).rejects.toThrow();
    let record: ReturnType<typeof readAudit>[number] | undefined;
    for (let i = 0; i < 60 && record === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      record = readAudit(auditDir).find((r) => r.tool === 'read_bucket' && !before.has(r.id));
    }
    expect(record).toMatchObject({ outcome: 'cancelled', error: { code: 'CANCELLED' } });
    calls.push({ id: record?.id ?? '', outcome: 'cancelled' });
    fresh();
    const next = await call({ bucket: 'acme', action: 'read', object: 'app/big/big.log', range: { start: 0, end: 9 } }, 'ok');
    expect(next.structuredContent).toMatchObject({ content: BIG.slice(0, 10) });
  });

  it('a listing that fails upstream gives its code too', async () => {
    fresh();
    fault = () => ({ status: 403 });
    const result = await call({ bucket: 'acme', action: 'list' }, 'error');
    expect(errorCode(result)).toBe('UPSTREAM_DENIED');
  });
});

describe('list_resources with a bucket (issue 18)', () => {
  it('shows the bucket with the object paths that run, need approval, and are never read', async () => {
    const result = (await client.callTool({ name: 'list_resources', arguments: {} })) as Result;
    expect(result.structuredContent?.resources).toEqual([
      {
        kind: 'bucket',
        name: 'acme',
        description: 'Application logs, assets and exports',
        access: [
          { tool: 'read_bucket', effect: 'allow', conditional: true, objects: ['app/**', 'config/*.json', 'app/big/**'], deniedObjects: ['**/*.pem'] },
          { tool: 'read_bucket', effect: 'approve', approverGroups: ['data-owners'], conditional: true, objects: ['exports/**'], deniedObjects: ['**/*.pem'] },
        ],
      },
    ]);
    expect(textOf(result)).toBe(
      [
        'You may use 1 resource (anything not listed is denied):',
        'bucket "acme": Application logs, assets and exports',
        '  read_bucket: objects app/**, config/*.json, app/big/**: runs; objects exports/**: needs approval (approvers: data-owners)',
        '    never: **/*.pem',
      ].join('\n'),
    );
  });
});

describe('explain_policy and policy explain for read_bucket (issue 18)', () => {
  it('dry-runs a bucket read on the server, and offline from the CLI, with the same decision', async () => {
    const cases: [string, string, string[]][] = [
      ['exports/customers.csv', 'approve', ['exports-need-approval']],
      ['app/logs/api.ndjson', 'allow', ['read-app']],
      ['app/keys/server.pem', 'deny', ['no-pem']],
    ];
    for (const [object, effect, ruleIds] of cases) {
      const input = { bucket: 'acme', action: 'read', object };
      const online = (await client.callTool({ name: 'explain_policy', arguments: { tool: 'read_bucket', arguments: input } })) as Result;
      expect(online.structuredContent, object).toMatchObject({ effect, ruleIds, facts: { resource: { kind: 'bucket', name: 'acme' }, object } });
      const { stdout } = await run(process.execPath, [CLI, 'policy', 'explain', '--policy', policyPath, '--principal', '{"email":"ana@example.com","groups":["analysts"]}', '--tool', 'read_bucket', '--input', JSON.stringify(input)]);
      expect(JSON.parse(stdout), object).toMatchObject({ effect, ruleIds, facts: { resource: { kind: 'bucket', name: 'acme' }, object } });
    }
  });
});

describe('read_bucket audit (issue 18)', () => {
  it('has exactly one audit record per call, with the right outcome', () => {
    const records = readAudit(auditDir).filter((r) => r.tool === 'read_bucket');
    expect(records).toHaveLength(calls.length);
    for (const c of calls) {
      const mine = records.filter((r) => r.id === c.id);
      expect(mine, c.id).toHaveLength(1);
      expect(mine[0]?.outcome, c.id).toBe(c.outcome);
    }
  });
});
