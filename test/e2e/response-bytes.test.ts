import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { describe, expect, inject, it } from 'vitest';
import { auditRecord, CLI, tempDir, writePolicy } from '../support/airlock.js';
import { stopChild } from '../support/child.js';

type Child = ChildProcessByStdio<Writable, Readable, null>;

/** A raw JSON-RPC client over the child's stdio: every answer as the exact line the server wrote. */
class RawLines {
  private buffer = Buffer.alloc(0);
  private readonly waiting = new Map<string, (line: string) => void>();

  constructor(private readonly child: Child) {
    child.stdout.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (let nl = this.buffer.indexOf(0x0a); nl >= 0; nl = this.buffer.indexOf(0x0a)) {
        const line = this.buffer.subarray(0, nl).toString('utf8');
        this.buffer = this.buffer.subarray(nl + 1);
        const id = (JSON.parse(line) as { id?: unknown }).id;
        this.waiting.get(JSON.stringify(id))?.(line);
      }
    });
  }

  request(id: string | number, method: string, params: unknown): Promise<string> {
    return new Promise((resolve) => {
      this.waiting.set(JSON.stringify(id), resolve);
      this.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  }

  notify(method: string): void {
    this.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method })}\n`);
  }
}

/** The exact text of the `result` member of a response line, as the client received it. */
function resultText(line: string, id: string | number): string {
  const head = '{"result":';
  const tail = `,"jsonrpc":"2.0","id":${JSON.stringify(id)}}`;
  expect(line.startsWith(head)).toBe(true);
  expect(line.endsWith(tail)).toBe(true);
  return line.slice(head.length, line.length - tail.length);
}

function auditIdIn(result: { structuredContent?: { auditId?: string }; _meta?: { 'airlock/error'?: { auditId?: string } } }): string {
  const id = result.structuredContent?.auditId ?? result._meta?.['airlock/error']?.auditId;
  if (id === undefined) throw new Error('no audit id');
  return id;
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

async function withServer(run: (lines: RawLines, auditDir: string) => Promise<void>): Promise<void> {
  const dir = tempDir();
  const auditDir = `${dir}/audit`;
  let child: Child | undefined;
  try {
    // One read rule (anything else is denied); card numbers masked by content, last four kept.
    const policy = writePolicy(dir, {
      version: 1,
      resources: { connections: { shop: { url: 'env:DATABASE_URL' } } },
      rules: [{ id: 'read', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['read'] } }],
      masking: { detectors: ['CREDIT_CARD'], style: 'last4' },
    });
    child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--policy', policy, '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, DATABASE_URL: inject('databaseUrl') },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    const lines = new RawLines(child);
    await lines.request(0, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
    lines.notify('notifications/initialized');
    await run(lines, auditDir);
  } finally {
    if (child !== undefined) await stopChild(child);
  }
}

describe('the audit hash of a stdio response (issue 19)', () => {
  it('is the SHA-256 of exactly the bytes of the result the client received, kept whole when small', async () => {
    await withServer(async (lines, auditDir) => {
      const line = await lines.request(1, 'tools/call', { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT id, name, card_number FROM customers WHERE id = 1' } });
      const text = resultText(line, 1);
      const result = JSON.parse(text) as { structuredContent: { rows: unknown[][]; auditId: string } };
      expect(result.structuredContent.rows).toEqual([[1, 'Ana Silva', '**** **** **** 1111']]);
      const record = auditRecord(auditDir, auditIdIn(result));
      expect(record.response).toEqual({ sha256: sha256(text), bytes: Buffer.byteLength(text, 'utf8'), truncated: false, body: JSON.parse(text) as unknown });
    });
  });

  it('is the SHA-256 of the received bytes for a 1,000-row result with multi-byte text, with the preview its first 16 KiB characters', async () => {
    await withServer(async (lines, auditDir) => {
      const sql = "SELECT g AS n, 'Zoë – 東京 😀 ' || g AS label, '4111 1111 1111 1111' AS card FROM generate_series(1, 1000) AS g";
      const line = await lines.request('big', 'tools/call', { name: 'query_sql', arguments: { connection: 'shop', sql } });
      const text = resultText(line, 'big');
      const result = JSON.parse(text) as { content: { text: string }[]; structuredContent: { rows: unknown[][]; rowCount: number; auditId: string } };
      expect(result.structuredContent.rowCount).toBe(1000);
      expect(result.structuredContent.rows[999]).toEqual([1000, 'Zoë – 東京 😀 1000', '**** **** **** 1111']);
      expect(result.content[0]?.text.split('\n')[2]).toBe('1 | Zoë – 東京 😀 1 | **** **** **** 1111');
      expect(Buffer.byteLength(text, 'utf8')).toBeGreaterThan(text.length);
      const record = auditRecord(auditDir, auditIdIn(result));
      expect(record.response).toEqual({ sha256: sha256(text), bytes: Buffer.byteLength(text, 'utf8'), truncated: true, preview: text.slice(0, 16 * 1024) });
      expect(line).not.toContain('4111 1111 1111 1111');
    });
  });

  it('is the SHA-256 of the received bytes of refusals: a policy denial and an unknown tool', async () => {
    await withServer(async (lines, auditDir) => {
      const denied = resultText(await lines.request(2, 'tools/call', { name: 'query_sql', arguments: { connection: 'shop', sql: 'DROP TABLE customers' } }), 2);
      const deniedResult = JSON.parse(denied) as { isError: boolean; _meta: { 'airlock/error': { code: string; auditId: string } } };
      expect(deniedResult.isError).toBe(true);
      expect(deniedResult._meta['airlock/error'].code).toBe('POLICY_DENIED');
      expect(auditRecord(auditDir, auditIdIn(deniedResult))).toMatchObject({ outcome: 'denied', response: { sha256: sha256(denied), bytes: Buffer.byteLength(denied, 'utf8'), truncated: false } });

      const unknown = resultText(await lines.request(3, 'tools/call', { name: 'drop_everything', arguments: {} }), 3);
      const unknownResult = JSON.parse(unknown) as { _meta: { 'airlock/error': { code: string; auditId: string } } };
      expect(unknownResult._meta['airlock/error'].code).toBe('UNKNOWN_TOOL');
      expect(auditRecord(auditDir, auditIdIn(unknownResult)).response).toEqual({ sha256: sha256(unknown), bytes: Buffer.byteLength(unknown, 'utf8'), truncated: false, body: JSON.parse(unknown) as unknown });
    });
  });

  it('keeps each response its own bytes when calls overlap and ids look alike ("7" and 7)', async () => {
    await withServer(async (lines, auditDir) => {
      const call = (id: string | number, n: number): Promise<string> => lines.request(id, 'tools/call', { name: 'query_sql', arguments: { connection: 'shop', sql: `SELECT ${n} AS n, count(*)::int AS c FROM generate_series(1, 20000)` } });
      const [a, b, c] = await Promise.all([call('7', 1), call(7, 2), call(8, 3)]);
      for (const [line, id, n] of [[a, '7', 1], [b, 7, 2], [c, 8, 3]] as const) {
        const text = resultText(line, id);
        const result = JSON.parse(text) as { structuredContent: { rows: unknown[][]; auditId: string } };
        expect(result.structuredContent.rows).toEqual([[n, 20000]]);
        expect(auditRecord(auditDir, auditIdIn(result)).response).toEqual({ sha256: sha256(text), bytes: Buffer.byteLength(text, 'utf8'), truncated: false, body: JSON.parse(text) as unknown });
      }
    });
  });
});
