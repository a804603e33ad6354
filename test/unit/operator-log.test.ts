import { describe, expect, it } from 'vitest';
import { createLogger, prettyLine } from '../../src/log.js';

function capture(options: Parameters<typeof createLogger>[0] = {}): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ ...options, write: (l) => lines.push(l) }), lines };
}

describe('createLogger (issue 21)', () => {
  it('writes one JSON object a line with level, severity, time, message and the given fields', () => {
    const { log, lines } = capture();
    log('warn', 'audit copy failed "quoted"\nsecond line', { auditId: 'a-1', requestId: '7', durationMs: 12 });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith('\n')).toBe(true);
    expect(lines[0]?.slice(0, -1)).not.toContain('\n');
    const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'warn', severity: 'WARNING', name: 'airlock', msg: 'audit copy failed "quoted"\nsecond line', auditId: 'a-1', requestId: '7', durationMs: 12 });
    expect(new Date(String(line.time)).toISOString()).toBe(line.time);
  });

  it('drops lines below the level when a level is set', () => {
    const { log, lines } = capture({ level: 'warn' });
    log('debug', 'd');
    log('info', 'i');
    log('error', 'e');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['e']);
  });

  it('writes text for people when the format is pretty', () => {
    const { log, lines } = capture({ format: 'pretty', level: 'debug' });
    log('debug', 'catalog for "shop" unavailable');
    log('info', 'call query_sql: ok', { auditId: 'a-2', tool: 'query_sql' });
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z airlock DEBUG catalog for "shop" unavailable\n$/);
    expect(lines[1]).toMatch(/^\S+Z airlock INFO call query_sql: ok auditId=a-2 tool=query_sql\n$/);
    expect(() => JSON.parse(lines[1] ?? '') as unknown).toThrow();
  });

  it('throws TypeError when the level or format is not one it knows', () => {
    expect(() => createLogger({ level: 'loud' as 'info' })).toThrow(TypeError);
    expect(() => createLogger({ format: 'xml' as 'json' })).toThrow(TypeError);
  });
});

describe('prettyLine', () => {
  it('returns a line that is not JSON as it is', () => {
    expect(prettyLine('not json\n')).toBe('not json\n');
  });

  it('keeps every entry on one line: a line break a client chose (a request id) or an error carried is escaped', () => {
    const lines: string[] = [];
    const log = createLogger({ format: 'pretty', write: (line) => void lines.push(line) });
    const forged = '1\n2026-01-01T00:00:00.000Z airlock ERROR audit chain broken: forged';
    log('info', 'call recorded', { requestId: forged, auditId: 'a1' });
    log('warn', `upstream said: ${forged}`);
    const text = lines.join('');
    expect(text.split('\n').filter((l) => l !== '')).toHaveLength(2);
    expect(text).toContain('requestId="1\\n2026-01-01T00:00:00.000Z airlock ERROR audit chain broken: forged"');
    expect(text).toContain('upstream said: 1\\n2026-01-01T00:00:00.000Z');
    expect(text).toContain(' auditId=a1');
  });
});
