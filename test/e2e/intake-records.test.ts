/**
 * Issue 21 ("every tools/call is audited"): a call that airlock screened must reach a handler, or be
 * recorded. The legacy SSE transport parses the Content-Type header again, more strictly than HTTP does
 * (`application/json;`, with an empty parameter, is JSON to one and an error to the other): airlock had
 * screened the call, and the transport then refused the POST with a bare 400 before any handler, leaving
 * the call without an answer in MCP terms and without an audit record. A real `airlock serve --http` and
 * the SDK's SSE client, whose requests carry that header.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { describe, expect, it } from 'vitest';
import { auditIdOf, auditRecord, readAudit, tempDir } from '../support/airlock.js';
import { examplePolicy, startFaultServer } from '../support/fault-server.js';

/** fetch, with the Content-Type of every POST sent as `application/json;` (valid JSON to HTTP, odd to a strict parser). */
const oddContentType: typeof fetch = (input, init) => {
  if (init?.method !== 'POST') return fetch(input, init);
  const headers = new Headers(init.headers);
  headers.set('content-type', 'application/json;');
  return fetch(input, { ...init, headers });
};

describe('legacy SSE: a tools/call whose Content-Type has an empty parameter (issue 21)', () => {
  it('is served and audited, not refused by the transport after screening', async () => {
    const dir = tempDir();
    const server = await startFaultServer({ dir, policy: examplePolicy() });
    const client = new Client({ name: 'e2e-odd-content-type', version: '1.0.0' });
    try {
      await client.connect(new SSEClientTransport(new URL(`${server.url}/sse`), { fetch: oddContentType }));
      const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT count(*)::int AS n FROM products' } });
      expect(result.isError).toBeUndefined();
      expect(auditRecord(server.auditDir, auditIdOf(result))).toMatchObject({ tool: 'query_sql', transport: 'sse', outcome: 'ok' });
      expect(readAudit(server.auditDir).filter((r) => r.tool === 'query_sql')).toHaveLength(1);
    } finally {
      await client.close().catch(() => undefined);
      await server.stop();
    }
  }, 60_000);
});
