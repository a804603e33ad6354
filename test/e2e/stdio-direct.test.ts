import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { describe, expect, inject, it } from 'vitest';
import { CLI, readAudit, tempDir, writePolicy } from '../support/airlock.js';
import { stopChild } from '../support/child.js';

type Child = ChildProcessByStdio<Writable, Readable, null>;
type Message = { id?: unknown; method?: string; params?: { level?: string; data?: unknown }; result?: { isError?: boolean; structuredContent?: { rows?: unknown[] } } };

/** Every line the server writes, in order; resolves waiters once the answers to some ids are all in. */
class Lines {
  readonly seen: Message[] = [];
  private buffer = '';
  private waiter: (() => void) | undefined;

  constructor(child: Child) {
    child.stdout.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        this.seen.push(JSON.parse(this.buffer.slice(0, nl)) as Message);
        this.buffer = this.buffer.slice(nl + 1);
      }
      this.waiter?.();
    });
  }

  async answers(ids: readonly unknown[]): Promise<Message[]> {
    const done = (): boolean => ids.every((id) => this.seen.some((m) => m.id === id && m.method === undefined));
    while (!done()) await new Promise<void>((resolve) => (this.waiter = resolve));
    return ids.map((id) => this.seen.find((m) => m.id === id && m.method === undefined) as Message);
  }
}

const line = (message: unknown): string => `${JSON.stringify(message)}\n`;
const call = (id: number): unknown => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT id, card_number FROM customers WHERE id = 1' } } });

async function withServer(run: (child: Child, lines: Lines, auditDir: string) => Promise<void>): Promise<void> {
  const dir = tempDir();
  const auditDir = `${dir}/audit`;
  let child: Child | undefined;
  try {
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
    const lines = new Lines(child);
    child.stdin.write(line({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
    await lines.answers([0]);
    child.stdin.write(line({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    await run(child, lines, auditDir);
  } finally {
    if (child !== undefined) await stopChild(child);
  }
}

describe('stdio: tools/call in order with the messages before it (issue 19)', () => {
  it('applies a logging/setLevel sent in the same write before the call it precedes', async () => {
    await withServer(async (child, lines) => {
      // One write: the level request, then the call. The call must see the level (its info message is sent).
      child.stdin.write(line({ jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'info' } }) + line(call(2)));
      const [level, answer] = await lines.answers([1, 2]);
      expect(level?.result).toEqual({});
      expect(answer?.result?.isError).toBeUndefined();
      const at = lines.seen.indexOf(answer as Message);
      const logs = lines.seen.slice(0, at).filter((m) => m.method === 'notifications/message');
      expect(logs.map((m) => m.params?.level)).toEqual(['info']);
      expect(String(logs[0]?.params?.data)).toContain('Masked 1 value');
      // Back to warnings: the next call sends no info message.
      child.stdin.write(line({ jsonrpc: '2.0', id: 3, method: 'logging/setLevel', params: { level: 'warning' } }) + line(call(4)));
      const [, next] = await lines.answers([3, 4]);
      const from = lines.seen.indexOf(level as Message);
      expect(lines.seen.slice(from, lines.seen.indexOf(next as Message)).filter((m) => m.method === 'notifications/message')).toHaveLength(1);
    });
  });

  it('answers every call of a burst written at once, each under its own id, with one audit record each', async () => {
    await withServer(async (child, lines, auditDir) => {
      const ids = Array.from({ length: 25 }, (_, i) => 100 + i);
      child.stdin.write(ids.map((id) => line(call(id))).join(''));
      const answers = await lines.answers(ids);
      // Rows, or the principal's cap on calls at once (4 by default) for those that found no room in time.
      let ok = 0;
      for (const answer of answers) {
        const text = JSON.stringify(answer);
        if (answer.result?.isError === true) expect(text).toContain('TOO_MANY_CALLS');
        else {
          expect(answer.result?.structuredContent?.rows).toHaveLength(1);
          ok++;
        }
      }
      expect(ok).toBeGreaterThanOrEqual(4);
      // Exactly one line per id.
      expect(lines.seen.filter((m) => typeof m.id === 'number' && m.id >= 100).length).toBe(25);
      const records = readAudit(auditDir).filter((r) => r.tool === 'query_sql');
      expect(records).toHaveLength(25);
      expect(records.filter((r) => r.outcome === 'ok')).toHaveLength(ok);
    });
  });
});
