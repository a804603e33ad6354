/**
 * Issue 21 (faults): the approval webhook's receiver down. A call that opens a request gets its pending
 * handle at once (delivery never delays a request); the failed delivery is on record (`notified`, failed,
 * the attempts, the reason, never the URL); once the receiver listens again, the next request's delivery
 * arrives, without a restart.
 */
import { createServer, type Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/connectors/embedded.js';
import { readAudit, tempDir } from '../support/airlock.js';
import { connectClient, examplePolicy, startFaultServer } from '../support/fault-server.js';
import { until } from '../support/served.js';

const write = (id: number): Record<string, unknown> => ({ connection: 'shop', sql: `UPDATE products SET price = price WHERE id = ${id}` });

/** The `notified` record of a request, once it is written. */
function notified(auditDir: string, requestId: string): Promise<{ outcome: string; detail: Record<string, unknown> }> {
  return until(() => {
    const record = readAudit(auditDir).find((r) => r.approval?.requestId === requestId && r.approval.event === 'notified');
    return record === undefined ? undefined : { outcome: record.outcome, detail: record.approval?.detail as Record<string, unknown> };
  }, `the notified record of ${requestId}`, 30_000);
}

describe('approval requests while the webhook receiver is down (issue 21)', () => {
  it('hands out the pending handle at once, records the failed delivery, and delivers again once the receiver is back', async () => {
    const dir = tempDir();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/airlock-hook`;
    const runtime = { approvals: { waitSeconds: 0, publicUrl: 'https://airlock.example.com', notify: [{ type: 'webhook', id: 'siem', url, secret: 'env:HOOK_SECRET' }] } };
    const server = await startFaultServer({ dir, policy: examplePolicy(), runtime, env: { HOOK_SECRET: 'a-webhook-secret-of-enough-length' } });
    const client = await connectClient(server.url);
    let receiver: Server | undefined;
    try {
      const first = await client.call('query_sql', write(5));
      expect(first.structuredContent).toMatchObject({ status: 'pending_approval' });
      const failed = await notified(server.auditDir, first.structuredContent?.requestId as string);
      expect(failed).toEqual({ outcome: 'error', detail: { about: 'requested', channel: 'siem', delivery: 'failed', attempts: 4, error: 'connection refused' } });
      expect(JSON.stringify(readAudit(server.auditDir))).not.toContain(url);

      const received: string[] = [];
      receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          received.push((JSON.parse(body) as { requestId: string }).requestId);
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => receiver!.listen(port, '127.0.0.1', resolve));
      const second = await client.call('query_sql', write(6));
      const requestId = second.structuredContent?.requestId as string;
      expect(await notified(server.auditDir, requestId)).toEqual({ outcome: 'ok', detail: { about: 'requested', channel: 'siem', delivery: 'delivered', attempts: 1, status: 204 } });
      expect(received).toEqual([requestId]);
    } finally {
      await client.close().catch(() => undefined);
      await server.stop();
      await new Promise((resolve) => (receiver === undefined ? resolve(undefined) : receiver.close(resolve)));
    }
  }, 90_000);
});
