import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Credential } from '../../../src/identity/principal.js';
import { unservedCallRecord } from '../../../src/audit/rejected.js';
import { IntakeDesk, TICKET, type UnservedCall } from '../../../src/mcp/screen.js';

const envelope = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
};

/** Where the messages of these tests come from. */
const HERE = { transport: 'in-memory', sessionId: '' } as const;

function ticketOf(message: unknown): string {
  return ((message as { params: { _meta: Record<string, string> } }).params._meta[TICKET]) ?? '';
}

describe('IntakeDesk shared by a serving entry (issue 16)', () => {
  it("keeps the 2026-07-28 _meta envelope and the tool's name, and hands the call back once", () => {
    const desk = new IntakeDesk();
    const screened = desk.screen({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: { a: 1 }, _meta: { ...envelope, progressToken: 'p' } } }, HERE);
    expect(screened.kind).toBe('pass');
    const message = (screened as unknown as { message: { params: { name: string; arguments: unknown; _meta: Record<string, unknown> } } }).message;
    expect(message.params.name).toBe('whoami');
    expect(message.params.arguments).toEqual({});
    expect(message.params._meta).toMatchObject({ ...envelope, progressToken: 'p' });
    expect(desk.take(message.params._meta)).toEqual({ toolName: 'whoami', rawArguments: { a: 1 }, issues: [] });
    expect(desk.take(message.params._meta).toolName).toBe('(unknown)');
  });

  it('passes a parsed copy of a message it rewrote (what the SDK transports hand on) without a second ticket', () => {
    const desk = new IntakeDesk();
    const first = desk.screen({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'q', arguments: { n: 1 } } }, HERE);
    const copy = JSON.parse(JSON.stringify((first as { message: unknown }).message)) as unknown;
    const again = desk.screen(copy, HERE);
    expect(again).toEqual({ kind: 'pass', message: copy });
    expect(desk.pending()).toBe(1);
    expect(desk.take((copy as { params: { _meta: unknown } }).params._meta)).toMatchObject({ toolName: 'q', rawArguments: { n: 1 } });
  });

  it('does not honour a ticket a client made up: the call is read as sent, the made-up key dropped', () => {
    const desk = new IntakeDesk();
    const screened = desk.screen({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'q', arguments: { n: 2 }, _meta: { [TICKET]: 'guessed' } } }, HERE);
    const ticket = ticketOf((screened as { message: unknown }).message);
    expect(ticket).not.toBe('guessed');
    expect(desk.take({ [TICKET]: 'guessed' }).toolName).toBe('(unknown)');
    expect(desk.take({ [TICKET]: ticket })).toMatchObject({ toolName: 'q', rawArguments: { n: 2 } });
  });

  it('drops tickets nobody took after their time, so a desk that outlives server instances does not grow', () => {
    let now = 0;
    const desk = new IntakeDesk(60_000, () => now);
    for (let i = 0; i < 5; i++) desk.screen({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'q', arguments: {} } }, HERE);
    expect(desk.pending()).toBe(5);
    now = 59_999;
    expect(desk.pending()).toBe(5);
    now = 60_000;
    expect(desk.pending()).toBe(0);
  });
});

describe('IntakeDesk: a tools/call no handler takes (issue 21)', () => {
  const ana: Credential = { kind: 'dev', principal: { issuer: 'dev', sub: 'ana@example.com', email: 'ana@example.com', groups: ['analysts'], clientId: undefined, dev: true } };
  const call = (id: number, sql = 'SELECT 1'): unknown => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'query_sql', arguments: { connection: 'shop', sql } } });

  it('reports each expired ticket once, with the call as received, who sent it and how long it waited; taken ones are not reported', () => {
    let now = 1_000;
    const expired: UnservedCall[] = [];
    const desk = new IntakeDesk(60_000, () => now, (u) => expired.push(u));
    const taken = desk.screen(call(1), { transport: 'http', sessionId: 's-1', credential: ana });
    desk.screen(call(2, 'SELECT 2'), { transport: 'http', sessionId: 's-1', credential: ana });
    desk.take((taken as unknown as { message: { params: { _meta: unknown } } }).message.params._meta);
    now = 60_999;
    expect(desk.pending()).toBe(1);
    expect(expired).toEqual([]);
    now = 61_500;
    expect(desk.pending()).toBe(0);
    expect(expired).toEqual([
      {
        call: { toolName: 'query_sql', rawArguments: { connection: 'shop', sql: 'SELECT 2' }, issues: [] },
        requestId: 2,
        receivedAt: 1_000,
        ageMs: 60_500,
        origin: { transport: 'http', sessionId: 's-1', credential: ana },
      },
    ]);
    expect(desk.pending()).toBe(0);
    expect(expired).toHaveLength(1);
  });

  describe('with no traffic (review of issue 21: the sweep timer)', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('records each untaken call one time-to-live after its arrival, not a time-to-live after the previous sweep', () => {
      vi.useFakeTimers({ now: 0 });
      const expired: UnservedCall[] = [];
      const desk = new IntakeDesk(60_000, () => Date.now(), (u) => expired.push(u));
      desk.screen(call(1), { transport: 'stdio', sessionId: 's-1' });
      vi.advanceTimersByTime(30_000);
      desk.screen(call(2), { transport: 'stdio', sessionId: 's-1' });
      vi.advanceTimersByTime(31_000);
      expect(expired.map((u) => u.requestId)).toEqual([1]);
      // The second call arrived at 30 s: it is due at 90 s. A timer re-armed for a whole time-to-live at the
      // first sweep (61 s) would leave it waiting until 122 s.
      vi.advanceTimersByTime(29_100);
      expect(expired.map((u) => u.requestId)).toEqual([1, 2]);
      expect(expired[1]?.ageMs).toBeLessThan(60_200);
      expect(vi.getTimerCount()).toBe(0);
    });
  });

  it('records every ticket still waiting when it closes, under the caller it knew, and its timer no longer fires', () => {
    vi.useFakeTimers({ now: 5_000 });
    try {
      const expired: UnservedCall[] = [];
      const desk = new IntakeDesk(60_000, () => Date.now(), (u) => expired.push(u));
      desk.screen(call(1), { transport: 'stdio', sessionId: 's-9', credential: ana });
      const taken = desk.screen(call(2), { transport: 'stdio', sessionId: 's-9', credential: ana });
      desk.take((taken as unknown as { message: { params: { _meta: unknown } } }).message.params._meta);
      vi.advanceTimersByTime(1_000);
      expect(vi.getTimerCount()).toBe(1);
      desk.close();
      expect(expired).toEqual([
        { call: { toolName: 'query_sql', rawArguments: { connection: 'shop', sql: 'SELECT 1' }, issues: [] }, requestId: 1, receivedAt: 5_000, ageMs: 1_000, origin: { transport: 'stdio', sessionId: 's-9', credential: ana } },
      ]);
      expect(vi.getTimerCount()).toBe(0);
      vi.advanceTimersByTime(120_000);
      desk.close();
      expect(desk.pending()).toBe(0);
      expect(expired).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses a tools/call that reaches it once closed (no ticket nobody would report), keeping the call for its record', () => {
    const expired: UnservedCall[] = [];
    const desk = new IntakeDesk(60_000, () => 1_000, (u) => expired.push(u));
    desk.close();
    const screened = desk.screen(call(7, 'SELECT 7'), { transport: 'http', sessionId: 's-1', credential: ana });
    expect(screened).toMatchObject({ kind: 'refuse', id: 7, code: -32000, call: { toolName: 'query_sql', rawArguments: { connection: 'shop', sql: 'SELECT 7' } } });
    expect(screened.kind === 'refuse' ? screened.call.issues : []).toEqual([{ path: 'message', message: 'airlock is stopping and takes no new calls' }]);
    expect(desk.pending()).toBe(0);
    expect(expired).toEqual([]);
    // Other messages still pass: answers to the server's own requests, notifications.
    expect(desk.screen({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7 } }, HERE).kind).toBe('pass');
  });

  it('becomes an audit record under the caller, outside the session, naming why the call did not run', () => {
    const record = unservedCallRecord(
      { call: { toolName: 'query_sql', rawArguments: { sql: 'SELECT 2' }, issues: [] }, requestId: 7, receivedAt: Date.parse('2026-12-07T10:00:00.000Z'), ageMs: 60_250, origin: { transport: 'sse', sessionId: 's-1', credential: ana } },
      'audit-1',
      new Date('2026-12-07T10:01:00.250Z'),
    );
    expect(record).toMatchObject({
      id: 'audit-1',
      sessionId: '',
      claimedSessionId: 's-1',
      transport: 'sse',
      principal: { sub: 'ana@example.com', groups: ['analysts'], dev: true },
      tool: 'query_sql',
      input: { sql: 'SELECT 2' },
      decision: null,
      downstream: [],
      outcome: 'error',
      error: {
        code: 'UNSERVED',
        message: 'airlock received this call but it never reached a handler, so it did not run.',
        detail: 'request id 7 was not taken by a handler within 60250 ms of its arrival at 2026-12-07T10:00:00.000Z (its request or connection ended before dispatch)',
      },
      result: null,
    });
  });

  it('keeps the transport it came from: a stdio call is recorded as stdio, under the dev identity', () => {
    const record = unservedCallRecord({ call: { toolName: 'whoami', rawArguments: {}, issues: [] }, requestId: 'r-1', receivedAt: 0, ageMs: 60_000, origin: { transport: 'stdio', sessionId: 'c-1', credential: ana } }, 'audit-2', new Date(60_000));
    expect(record).toMatchObject({ transport: 'stdio', claimedSessionId: 'c-1', principal: { sub: 'ana@example.com' }, devIdentity: true, error: { code: 'UNSERVED' } });
  });
});
