import { describe, expect, it } from 'vitest';
import { IntakeDesk, TICKET } from '../../../src/mcp/screen.js';

const envelope = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
};

function ticketOf(message: unknown): string {
  return ((message as { params: { _meta: Record<string, string> } }).params._meta[TICKET]) ?? '';
}

describe('IntakeDesk shared by a serving entry (issue 16)', () => {
  it("keeps the 2026-07-28 _meta envelope and the tool's name, and hands the call back once", () => {
    const desk = new IntakeDesk();
    const screened = desk.screen({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: { a: 1 }, _meta: { ...envelope, progressToken: 'p' } } });
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
    const first = desk.screen({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'q', arguments: { n: 1 } } });
    const copy = JSON.parse(JSON.stringify((first as { message: unknown }).message)) as unknown;
    const again = desk.screen(copy);
    expect(again).toEqual({ kind: 'pass', message: copy });
    expect(desk.pending()).toBe(1);
    expect(desk.take((copy as { params: { _meta: unknown } }).params._meta)).toMatchObject({ toolName: 'q', rawArguments: { n: 1 } });
  });

  it('does not honour a ticket a client made up: the call is read as sent, the made-up key dropped', () => {
    const desk = new IntakeDesk();
    const screened = desk.screen({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'q', arguments: { n: 2 }, _meta: { [TICKET]: 'guessed' } } });
    const ticket = ticketOf((screened as { message: unknown }).message);
    expect(ticket).not.toBe('guessed');
    expect(desk.take({ [TICKET]: 'guessed' }).toolName).toBe('(unknown)');
    expect(desk.take({ [TICKET]: ticket })).toMatchObject({ toolName: 'q', rawArguments: { n: 2 } });
  });

  it('drops tickets nobody took after their time, so a desk that outlives server instances does not grow', () => {
    let now = 0;
    const desk = new IntakeDesk(60_000, () => now);
    for (let i = 0; i < 5; i++) desk.screen({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'q', arguments: {} } });
    expect(desk.pending()).toBe(5);
    now = 59_999;
    expect(desk.pending()).toBe(5);
    now = 60_000;
    expect(desk.pending()).toBe(0);
  });
});
