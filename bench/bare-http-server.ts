/**
 * The bare baseline for the Streamable HTTP figure of `BENCH_ONLY=peer`: `node dist/bench/bare-http-server.js
 * PORT DATABASE_URL`. An MCP server on the v2 SDK airlock itself uses (`@modelcontextprotocol/server` and the
 * Node transport of `@modelcontextprotocol/node`), stateful 2025-era sessions, one Server per session, and one
 * `query` tool that does what the MCP reference Postgres server does: `BEGIN TRANSACTION READ ONLY`, the query,
 * `ROLLBACK` not awaited, rows as pretty-printed JSON text. No identity, policy, masking, audit or limits.
 * Prints `listening PORT` on stdout once it accepts connections.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import { Server } from '@modelcontextprotocol/server';
import pg from 'pg';

const port = Number(process.argv[2]);
const url = process.argv[3] ?? '';
if (!Number.isInteger(port) || url === '') {
  process.stderr.write('usage: bare-http-server PORT DATABASE_URL\n');
  process.exit(2);
}

// The same pool size as airlock's connector (10), so neither side gets more database connections.
const pool = new pg.Pool({ connectionString: url, max: 10 });
const sessions = new Map<string, NodeStreamableHTTPServerTransport>();

function sessionServer(): Server {
  const server = new Server({ name: 'bare-postgres', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler('tools/list', () => ({
    tools: [{ name: 'query', description: 'Run a read-only SQL query', inputSchema: { type: 'object', properties: { sql: { type: 'string' } } } }],
  }));
  server.setRequestHandler('tools/call', async (request) => {
    const sql = request.params.arguments?.sql;
    if (typeof sql !== 'string') throw new TypeError('query: sql must be a string');
    const client = await pool.connect();
    try {
      await client.query('BEGIN TRANSACTION READ ONLY');
      const result = await client.query(sql);
      return { content: [{ type: 'text', text: JSON.stringify(result.rows, null, 2) }], isError: false };
    } finally {
      // As the reference server: the ROLLBACK is queued on the connection and not awaited.
      client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  });
  return server;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? undefined : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
}

const http = createServer((req, res) => {
  void (async () => {
    try {
      const body = req.method === 'POST' ? await readJson(req) : undefined;
      const id = req.headers['mcp-session-id'];
      const known = typeof id === 'string' ? sessions.get(id) : undefined;
      if (known !== undefined) {
        await known.handleRequest(req, res, body);
        return;
      }
      if (typeof id === 'string' || req.method !== 'POST') {
        res.writeHead(404).end();
        return;
      }
      const transport = new NodeStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (newId) => {
          sessions.set(newId, transport);
        },
      });
      transport.onclose = () => {
        if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
      };
      await sessionServer().connect(transport);
      await transport.handleRequest(req, res, body);
    } catch (error) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(error instanceof Error ? error.message : String(error));
    }
  })();
});

http.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));

const stop = (): void => {
  http.close();
  http.closeAllConnections();
  void pool.end().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
