import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectPost } from '../../../../src/mcp/transports/respond.js';
import { raw, type RawResponse } from '../../../support/http.js';

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  server = undefined;
});

/** One real HTTP exchange whose response `answer` writes with a DirectPost. */
async function exchange(answer: (post: DirectPost) => void): Promise<RawResponse> {
  server = createServer((_req, res: ServerResponse) => answer(new DirectPost(res, 'session-19')));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return raw(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
}

describe('DirectPost', () => {
  it('sends the result text the audit encoded, spliced into the answer, when the answer carries that very result (issue 19)', async () => {
    const result = { content: [{ type: 'text', text: 'é ok' }] };
    // Spaced on purpose: a fresh encoding of `result` would have none.
    const text = '{ "content": [{ "type": "text", "text": "é ok" }] }';
    const res = await exchange((post) => {
      post.expectEncoded(result, text);
      post.write({ result, jsonrpc: '2.0', id: 'a"b' }, true);
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['mcp-session-id']).toBe('session-19');
    expect(res.body).toBe(`{"result":${text},"jsonrpc":"2.0","id":"a\\"b"}`);
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
  });

  it('encodes the answer anew when its result is another object or the message has another shape (issue 19)', async () => {
    const result = { content: [] };
    const other = await exchange((post) => {
      post.expectEncoded(result, '{ "content": [] }');
      post.write({ result: { content: [] }, jsonrpc: '2.0', id: 1 }, true);
    });
    expect(other.body).toBe('{"result":{"content":[]},"jsonrpc":"2.0","id":1}');
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    const error = await exchange((post) => {
      post.expectEncoded(result, '{ "content": [] }');
      post.write({ jsonrpc: '2.0', id: 2, error: { code: -32603, message: 'x' } }, true);
    });
    expect(error.body).toBe('{"jsonrpc":"2.0","id":2,"error":{"code":-32603,"message":"x"}}');
  });

  it('streams related messages as SDK-framed SSE events, then the answer, then ends; nothing after the answer (issue 19)', async () => {
    const res = await exchange((post) => {
      post.write({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } }, false);
      post.write({ jsonrpc: '2.0', id: 0, method: 'elicitation/create', params: {} }, false);
      post.write({ result: {}, jsonrpc: '2.0', id: 9 }, true);
      post.write({ jsonrpc: '2.0', method: 'notifications/message', params: {} }, false);
      post.end();
    });
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no', 'mcp-session-id': 'session-19' });
    expect(res.body).toBe(
      'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}\n\n' +
        'event: message\ndata: {"jsonrpc":"2.0","id":0,"method":"elicitation/create","params":{}}\n\n' +
        'event: message\ndata: {"result":{},"jsonrpc":"2.0","id":9}\n\n',
    );
  });

  it('ends with an empty event stream when the request is cancelled before anything was sent (issue 19)', async () => {
    const res = await exchange((post) => {
      post.end();
      post.write({ result: {}, jsonrpc: '2.0', id: 1 }, true);
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(res.body).toBe('');
  });
});

describe('DirectPost keep-alive', () => {
  /** As `exchange`, with the keep-alive interval given. */
  async function exchangeEvery(keepAliveMs: number, answer: (post: DirectPost) => void): Promise<RawResponse> {
    server = createServer((_req, res: ServerResponse) => answer(new DirectPost(res, 'session-19', keepAliveMs)));
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return raw(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  }

  it('turns a quiet POST into an SSE stream with the SDK\'s keep-alive comments, then the answer (issue 19)', async () => {
    const res = await exchangeEvery(40, (post) => {
      setTimeout(() => post.write({ result: { content: [] }, jsonrpc: '2.0', id: 5 }, true), 150);
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(res.headers['mcp-session-id']).toBe('session-19');
    const comments = res.body.split('\n\n').filter((chunk) => chunk === ': keepalive');
    expect(comments.length).toBeGreaterThanOrEqual(2);
    expect(res.body.endsWith('event: message\ndata: {"result":{"content":[]},"jsonrpc":"2.0","id":5}\n\n')).toBe(true);
  });

  it('writes no keep-alive after the answer, and none to a POST that answers in time (issue 19)', async () => {
    const res = await exchangeEvery(40, (post) => post.write({ result: {}, jsonrpc: '2.0', id: 6 }, true));
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.body).toBe('{"result":{},"jsonrpc":"2.0","id":6}');
    // The released or answered post's timer is gone: nothing fires on a finished response.
    await new Promise((r) => setTimeout(r, 120));
  });
});
