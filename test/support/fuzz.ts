/**
 * What the fuzz tests share: fast-check settings (a fixed seed and a small number of runs, so CI is
 * repeatable and quick; FUZZ_RUNS and FUZZ_SEED ask for more or other runs) and the hostile JSON-RPC
 * frames the transport fuzzers send, each with what the sender may expect back.
 */
import fc from 'fast-check';

/** Seed of every fuzz run unless FUZZ_SEED says otherwise: a failure in CI replays the same inputs. */
export const FUZZ_SEED = process.env.FUZZ_SEED === undefined ? 21 : Number(process.env.FUZZ_SEED);

/**
 * fast-check parameters: `runs` by default, FUZZ_RUNS when set (the same seed, so a longer run extends a
 * short one). `fixed` keeps `runs` whatever FUZZ_RUNS says (a warm-up before a measurement).
 */
export function fuzzParameters<T>(runs: number, { fixed = false }: { fixed?: boolean } = {}): fc.Parameters<T> {
  const asked = process.env.FUZZ_RUNS === undefined || fixed ? runs : Number(process.env.FUZZ_RUNS);
  if (!Number.isInteger(asked) || asked < 1) throw new TypeError(`FUZZ_RUNS must be a positive integer, got ${String(process.env.FUZZ_RUNS)}`);
  if (!Number.isInteger(FUZZ_SEED)) throw new TypeError(`FUZZ_SEED must be an integer, got ${String(process.env.FUZZ_SEED)}`);
  return { seed: FUZZ_SEED, numRuns: asked, endOnFailure: true };
}

/**
 * What a frame should get back:
 * - `call`: a tools/call with an id of its own: exactly one answer under that id, carrying an audit id;
 * - `request`: any other request with an id of its own: exactly one answer under that id;
 * - `refused`: a malformed message: exactly one JSON-RPC error (under its id, if it had a usable one, else null);
 * - `notification`: a well-formed notification: silence.
 */
export type Expect = 'call' | 'request' | 'refused' | 'notification';

/** One message to send: its text (or bytes, for invalid UTF-8) once given the fresh id `id`. */
export interface FrameSpec {
  readonly label: string;
  readonly expect: Expect;
  /** How many JSON-RPC messages the frame holds (batches over HTTP are answered message by message). */
  readonly build: (id: number) => string | Buffer;
}

const json = (value: unknown): string => JSON.stringify(value);

/** Valid tools/call parameters, for tools that run against the demo backends. */
const goodCall = fc.constantFrom(
  { name: 'whoami', arguments: {} },
  { name: 'list_resources', arguments: {} },
  { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 1 AS one' } },
  { name: 'read_bucket', arguments: { bucket: 'data', action: 'list' } },
  { name: 'explain_policy', arguments: { tool: 'query_sql', arguments: { connection: 'shop', sql: 'DELETE FROM orders' } } },
);

/** Requests that are well formed: each is answered under its id. */
const goodRequest: fc.Arbitrary<FrameSpec> = fc.oneof(
  goodCall.map((params) => ({ label: `tools/call ${params.name}`, expect: 'call' as const, build: (id: number) => json({ jsonrpc: '2.0', id, method: 'tools/call', params }) })),
  fc.constantFrom('ping', 'tools/list', 'resources/list', 'prompts/list', 'no/such/method', 'completion/complete').map((method) => ({
    label: method,
    expect: 'request' as const,
    build: (id: number) => json({ jsonrpc: '2.0', id, method }),
  })),
);

/** Any JSON value, including deep ones and the numbers JSON-RPC ids must not be. */
const anyJson: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4 });

/** A tools/call whose params are arbitrary: refused as a tool error or a JSON-RPC error, but answered and audited. */
const wildCall: fc.Arbitrary<FrameSpec> = fc
  .oneof(
    anyJson,
    fc.record({ name: fc.oneof(fc.constantFrom('whoami', 'query_sql', 'read_bucket', 'tail_logs', 'nope'), anyJson), arguments: anyJson }, { requiredKeys: [] }),
    fc.record({ name: fc.constantFrom('query_sql', 'tail_logs', 'read_bucket'), arguments: fc.dictionary(fc.constantFrom('connection', 'sql', 'params', 'bucket', 'action', 'scope', 'filter', 'path', 'x'), anyJson) }),
  )
  .map((params) => ({ label: `tools/call with params ${json(params).slice(0, 80)}`, expect: 'call' as const, build: (id: number) => json({ jsonrpc: '2.0', id, method: 'tools/call', params }) }));

/** Ids JSON-RPC forbids, or that only exist as text (too big or not finite for a double). */
const badIdText = fc.oneof(
  fc.constantFrom('1.5', '-0.25', 'true', 'false', '{}', '[]', '[1]', '{"id":1}', '1e400', '-1e400', '123456789012345678901234567890', '9007199254740993'),
  fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }).map((n) => String(n)),
);

/** Requests with one member wrong: refused, each with one error. */
const brokenRequest: fc.Arbitrary<FrameSpec> = fc.oneof(
  fc.tuple(badIdText, fc.constantFrom('tools/call', 'tools/list', 'ping')).map(([id, method]) => ({
    label: `${method} with id ${id}`,
    expect: 'refused' as const,
    build: () => `{"jsonrpc":"2.0","id":${id},"method":"${method}","params":{"name":"whoami","arguments":{}}}`,
  })),
  fc.tuple(fc.oneof(fc.constantFrom<unknown>('1.0', 2, null, '2.0 ', ''), anyJson), fc.constantFrom('tools/call', 'tools/list', 'ping')).map(([jsonrpc, method]) => ({
    label: `${method} with jsonrpc ${json(jsonrpc)}`,
    expect: 'refused' as const,
    build: (id: number) => json({ jsonrpc, id, method, params: { name: 'whoami', arguments: {} } }),
  })),
  anyJson
    .filter((m) => typeof m !== 'string')
    .map((method) => ({ label: `method ${json(method)}`, expect: 'refused' as const, build: (id: number) => json({ jsonrpc: '2.0', id, method }) })),
  fc.constantFrom('tools/list', 'ping', 'tools/call').chain((method) =>
    anyJson
      .filter((p) => p !== null && typeof p !== 'object')
      .map((params) => ({ label: `${method} with params ${json(params)}`, expect: 'refused' as const, build: (id: number) => json({ jsonrpc: '2.0', id, method, params }) })),
  ),
  // The same member twice: JSON.parse keeps the last one; what matters is one answer.
  fc.constantFrom('id', 'method', 'jsonrpc').map((key) => ({
    label: `duplicate ${key}`,
    expect: 'refused' as const,
    build: (id: number) => `{"jsonrpc":"2.0","id":${id},"method":"tools/list","${key}":${key === 'id' ? '"other"' : key === 'method' ? 7 : '"1.0"'}}`,
  })),
  fc.tuple(fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !['jsonrpc', 'id', 'method', 'params'].includes(k)), anyJson).map(([key, value]) => ({
    label: `extra member ${json(key)}`,
    expect: 'refused' as const,
    build: (id: number) => json({ jsonrpc: '2.0', id, method: 'tools/list', [key]: value }),
  })),
);

/** Text that is not one JSON-RPC message: not JSON, truncated, nested deep, a bare value. */
const garbage: fc.Arbitrary<FrameSpec> = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }).filter((s) => s.trim() !== '').map((s) => ({ label: `text ${json(s).slice(0, 60)}`, expect: 'refused' as const, build: () => s })),
  fc.tuple(goodCall, fc.nat()).map(([params, cut]) => ({
    label: 'a truncated tools/call',
    expect: 'refused' as const,
    build: (id: number) => {
      const text = json({ jsonrpc: '2.0', id, method: 'tools/call', params });
      return text.slice(0, 1 + (cut % (text.length - 1)));
    },
  })),
  fc.tuple(fc.constantFrom('[', '{"a":', '[{"b":'), fc.integer({ min: 1, max: 200_000 }), fc.boolean()).map(([open, depth, closed]) => ({
    label: `${depth} × ${open}${closed ? ' closed' : ''}`,
    expect: 'refused' as const,
    build: () => {
      const close = open === '[' ? ']' : open === '{"a":' ? '}' : '}]';
      return `${open.repeat(depth)}1${closed ? close.repeat(depth) : ''}`;
    },
  })),
  fc.constantFrom('42', 'true', 'null', '"ping"', '[]', '{}', '[1,2,3]', '{"jsonrpc":"2.0"}').map((text) => ({ label: text, expect: 'refused' as const, build: () => text })),
);

/** Requests with bytes that are not UTF-8 inside a string or in place of one. */
const invalidUtf8: fc.Arbitrary<FrameSpec> = fc
  .tuple(fc.constantFrom([0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]), fc.constantFrom('sql', 'name', 'raw'))
  .map(([bytes, where]) => ({
    label: `bytes ${bytes.map((b) => b.toString(16)).join(' ')} in ${where}`,
    // Node reads them as U+FFFD: still a well-formed request, so answered under its id.
    expect: where === 'raw' ? ('refused' as const) : ('call' as const),
    build: (id: number) => {
      const head =
        where === 'sql'
          ? `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"query_sql","arguments":{"connection":"shop","sql":"SELECT '`
          : where === 'name'
            ? `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"`
            : '{"jsonrpc":"2.0","id":';
      const tail = where === 'sql' ? `'"}}}` : where === 'name' ? '","arguments":{}}}' : `${id},"method":"ping"}`;
      return Buffer.concat([Buffer.from(head), Buffer.from(bytes), Buffer.from(tail)]);
    },
  }));

/** Well-formed requests that carry a value nested thousands of levels deep (under 64 KiB): answered under their id. */
const deepParams: fc.Arbitrary<FrameSpec> = fc
  .tuple(fc.constantFrom('ping', 'tools/list', 'tools/call'), fc.integer({ min: 60, max: 10_000 }), fc.constantFrom('[', '{"k":'))
  .map(([method, depth, open]) => ({
    label: `${method} with a value ${depth} levels deep`,
    expect: method === 'tools/call' ? ('call' as const) : ('request' as const),
    build: (id: number) => {
      const deep = `${open.repeat(depth)}1${(open === '[' ? ']' : '}').repeat(depth)}`;
      const params = method === 'tools/call' ? `{"name":"query_sql","arguments":{"connection":"shop","sql":"SELECT 1","params":[${deep}]}}` : `{"x":${deep}}`;
      return `{"jsonrpc":"2.0","id":${id},"method":"${method}","params":${params}}`;
    },
  }));

/** Well-formed notifications: never answered. */
const notification: fc.Arbitrary<FrameSpec> = fc
  .oneof(
    fc.constant({ method: 'notifications/initialized' }),
    fc.integer({ min: 1, max: 1_000_000 }).map((requestId) => ({ method: 'notifications/cancelled', params: { requestId, reason: 'fuzz' } })),
    fc.constant({ method: 'notifications/roots/list_changed' }),
    fc.constantFrom('notifications/no-such-thing', 'notifications/progress').map((method) => ({ method, params: {} })),
  )
  .map((n) => ({ label: n.method, expect: 'notification' as const, build: () => json({ jsonrpc: '2.0', ...n }) }));

/** One hostile or ordinary frame. Oversized bodies and batches are transport-specific and come from their tests. */
export const frameArb: fc.Arbitrary<FrameSpec> = fc.oneof(
  { arbitrary: goodRequest, weight: 2 },
  { arbitrary: wildCall, weight: 3 },
  { arbitrary: brokenRequest, weight: 3 },
  { arbitrary: garbage, weight: 3 },
  { arbitrary: invalidUtf8, weight: 1 },
  { arbitrary: deepParams, weight: 1 },
  { arbitrary: notification, weight: 1 },
);

/** Batches: arrays of requests (and notifications) in one message. */
export const batchArb: fc.Arbitrary<FrameSpec[]> = fc.array(fc.oneof(goodRequest, notification, brokenRequest), { minLength: 0, maxLength: 4 });

/** The audit ids a transport's answer text holds (in tool results and in JSON-RPC error messages). */
export function auditIdsIn(text: string): string[] {
  return [...text.matchAll(/(?:"auditId":"|audit id: )([0-9a-f-]{36})/g)].map((m) => m[1] as string);
}

/** Resident set size of a process in bytes (Linux), read from /proc. */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}
