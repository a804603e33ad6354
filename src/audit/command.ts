import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ChainedRecord } from './chain.js';
import { CSV_HEADER, csvRow, formatReplay, formatTable, matches, parseTime, type AuditFilter } from './query.js';
import { printable } from './printable.js';
import { iterateRecords, recordsAfter } from './read.js';
import { RevealError, unseal, type Keyring } from './sealed.js';
import { pgRecords, pgRecordsAfter, verifyPgStore } from './pg-store.js';
import { headPrefix, verifyStore } from './verify.js';
import { UsageError } from '../usage-error.js';

/** Where the audit commands write; the CLI passes the process streams, tests may pass buffers. */
export interface CommandIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly progress: boolean;
  readonly now: () => Date;
  /** Loads the compliance keys of a runtime config file (for `reveal`). */
  readonly keyring: (configPath: string) => Promise<Keyring>;
  /** The retention key's public half from a runtime config file (for `verify --config`). */
  readonly tombstoneKey: (configPath: string) => Promise<string | undefined>;
  /** Starts the read-only web viewer (for `view`); it runs until the process ends. */
  readonly view: (dir: string, host: string, port: number) => Promise<{ url: string }>;
  /** The PostgreSQL audit of a runtime config file, if it has one (`verify --config`). */
  readonly pgAudit: (configPath: string) => Promise<{ url: string; table: string } | undefined>;
}

const OPTIONS = {
  'audit-dir': { type: 'string' },
  json: { type: 'boolean' },
  progress: { type: 'boolean' },
  n: { type: 'string', short: 'n' },
  follow: { type: 'boolean', short: 'f' },
  format: { type: 'string' },
  limit: { type: 'string' },
  principal: { type: 'string' },
  tool: { type: 'string' },
  session: { type: 'string' },
  outcome: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  config: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  head: { type: 'string' },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true; allowPositionals: true }>>['values'];

function count(flag: string, text: string | undefined, fallback: number, command: string): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--${flag}: "${text}" is not a positive whole number`, command);
  return Number(text);
}

function format<T extends string>(text: string | undefined, allowed: readonly T[], fallback: T | undefined, command: string): T {
  const value = text ?? fallback;
  if (value === undefined) throw new UsageError(`--format is required (${allowed.join(' or ')})`, command);
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--format: "${value}" is not one of ${allowed.join(', ')}`, command);
  return value as T;
}

function filterOf(flags: Flags, now: Date): AuditFilter {
  return {
    ...(flags.principal === undefined ? {} : { principal: flags.principal }),
    ...(flags.tool === undefined ? {} : { tool: flags.tool }),
    ...(flags.session === undefined ? {} : { session: flags.session }),
    ...(flags.outcome === undefined ? {} : { outcomes: flags.outcome.split(',').map((o) => o.trim()) }),
    ...(flags.since === undefined ? {} : { since: parseTime(flags.since, now, '--since') }),
    ...(flags.until === undefined ? {} : { until: parseTime(flags.until, now, '--until') }),
  };
}

function progressBar(io: CommandIo): (files: number, total: number, records: number) => void {
  if (!io.progress) return () => undefined;
  return (files, total, records) => {
    const width = 30;
    const filled = Math.round((files / Math.max(1, total)) * width);
    io.err(`\rverifying [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.round((files / Math.max(1, total)) * 100)}%  ${files}/${total} files, ${records.toLocaleString('en-US')} records${files === total ? '\n' : ''}`);
  };
}

/**
 * `airlock audit …`. Returns the exit code: 0, or 1 when `verify` finds the store was tampered with.
 * Usage errors throw `TypeError` with a message that names the flag.
 */
export async function auditCommand(argv: readonly string[], dirDefault: () => string, io: CommandIo): Promise<number> {
  const { values: flags, positionals } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
  const [sub, ...extra] = positionals;
  if (sub === undefined) throw new UsageError('"airlock audit" needs a command: verify, tail, search, export, replay, reveal, view', 'audit');
  if (sub === 'reveal') return reveal(flags, extra, () => flags['audit-dir'] ?? dirDefault(), io);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, `audit ${sub}`);
  // Resolved only when read: with --config naming audit.postgres no directory is needed. A directory that
  // does not exist is a mistyped path, never an empty store that verifies "ok".
  const dir = (): string => {
    const path = flags['audit-dir'] ?? dirDefault();
    if (!existsSync(path)) throw new UsageError(`no audit store at ${path}: the directory does not exist (give the store's directory with --audit-dir DIR)`, `audit ${sub}`);
    return path;
  };
  const now = io.now();
  // With --config naming audit.postgres, the readers read that table instead of a directory.
  const pgSource = sub !== 'verify' && flags.config !== undefined ? await io.pgAudit(flags.config) : undefined;
  const all = (): AsyncIterable<ChainedRecord> | Iterable<ChainedRecord> => (pgSource === undefined ? iterateRecords(dir()) : pgRecords(pgSource.url, pgSource.table));
  const after = (seq: number, last?: number): Promise<ChainedRecord[]> =>
    pgSource === undefined ? Promise.resolve(recordsAfter(dir(), seq, last)) : pgRecordsAfter(pgSource.url, pgSource.table, seq, last);
  switch (sub) {
    case 'verify': {
      if (flags.head !== undefined && headPrefix(flags.head) === undefined) {
        throw new UsageError(`--head: "${flags.head}" is not a head: give the whole hash or at least its first 16 hex digits (with or without "sha256:")`, 'audit verify');
      }
      const pgAudit = flags.config === undefined ? undefined : await io.pgAudit(flags.config);
      const trusted = flags.config === undefined || pgAudit !== undefined ? undefined : await io.tombstoneKey(flags.config);
      const report =
        pgAudit !== undefined
          ? await verifyPgStore(pgAudit.url, pgAudit.table)
          : verifyStore(dir(), { onProgress: progressBar(io), ...(trusted === undefined ? {} : { trustedTombstoneKey: trusted }), ...(flags.head === undefined ? {} : { anchor: flags.head }) });
      if (pgAudit !== undefined && flags.head !== undefined && report.ok && !report.head.startsWith(headPrefix(flags.head) ?? flags.head)) {
        io.err('note: --head is checked against JSON stores only; compare it with the head printed below\n');
      }
      if (flags.json === true) io.out(JSON.stringify(report, null, 2));
      else if (report.ok) {
        io.out(`ok: ${report.records} record(s) in ${report.segments} segment(s) form an unbroken chain; head ${report.head}${report.open > 0 ? `; ${report.open} call(s) started and not finished (running, or interrupted)` : ''}`);
        if (report.removed > 0) {
          io.out(`   ${report.removed} older record(s) removed by retention, vouched for by tombstones signed by ${report.tombstoneKeys.join(', ')}${trusted === undefined ? ' (give --config to check that this is your retention key)' : ' (the configured retention key)'}`);
        }
      } else {
        io.out(`TAMPERED: ${report.problems.length} problem(s) in ${dir()}`);
        // Problem messages quote what the store holds, which a tamperer (or an agent) chose.
        for (const p of report.problems) io.out(`  ${p.kind}: ${printable(p.message, 500)}`);
      }
      return report.ok ? 0 : 1;
    }
    case 'tail': {
      const n = count('n', flags.n, 20, `audit ${sub}`);
      const fmt = format(flags.format, ['table', 'json'] as const, 'table', `audit ${sub}`);
      const print = (records: readonly ChainedRecord[], header: boolean): void => {
        if (records.length === 0) return;
        if (fmt === 'json') for (const r of records) io.out(JSON.stringify(r));
        else io.out(header ? formatTable(records) : formatTable(records).split('\n').slice(1).join('\n'));
      };
      let records = await after(0, n);
      print(records, true);
      if (flags.follow !== true) return 0;
      let last = records.at(-1)?.chain.seq ?? 0;
      for (;;) {
        await new Promise((r) => setTimeout(r, 500));
        records = await after(last);
        print(records, last === 0);
        last = records.at(-1)?.chain.seq ?? last;
      }
    }
    case 'search': {
      const fmt = format(flags.format, ['table', 'json'] as const, 'table', `audit ${sub}`);
      const limit = count('limit', flags.limit, Number.MAX_SAFE_INTEGER, `audit ${sub}`);
      const filter = filterOf(flags, now);
      const found: ChainedRecord[] = [];
      for await (const r of all()) {
        if (!matches(r, filter)) continue;
        found.push(r);
        // Keep the newest `limit`.
        if (found.length > limit) found.shift();
      }
      if (fmt === 'json') io.out(JSON.stringify(found, null, 2));
      else io.out(found.length === 0 ? 'no matching records' : formatTable(found));
      return 0;
    }
    case 'export': {
      const fmt = format(flags.format, ['jsonl', 'csv'] as const, undefined, `audit ${sub}`);
      const filter = filterOf(flags, now);
      if (fmt === 'csv') io.out(CSV_HEADER.join(','));
      for await (const r of all()) if (matches(r, filter)) io.out(fmt === 'csv' ? csvRow(r) : JSON.stringify(r));
      return 0;
    }
    case 'view': {
      const port = flags.port ?? '7301';
      if (!/^\d+$/.test(port) || Number(port) > 65_535) throw new UsageError(`--port: "${port}" is not a port (0 picks a free one)`, 'audit view');
      const viewer = await io.view(dir(), flags.host ?? '127.0.0.1', Number(port));
      io.out(`audit viewer (read-only; Ctrl-C to stop): ${viewer.url}`);
      return 0;
    }
    case 'replay': {
      if (flags.session === undefined) throw new UsageError('--session ID is required (session ids are in every record: `airlock audit tail --format json`)', 'audit replay');
      const fmt = format(flags.format, ['text', 'json'] as const, 'text', `audit ${sub}`);
      const calls: ChainedRecord[] = [];
      for await (const r of all()) if (r.sessionId === flags.session) calls.push(r);
      io.out(fmt === 'json' ? JSON.stringify(calls, null, 2) : formatReplay(calls));
      return calls.length === 0 ? 1 : 0;
    }
    default:
      throw new UsageError(`unknown command "audit ${sub}"`, 'audit');
  }
}

/** `audit reveal ID`: decrypts one record's compliance copy to stdout. Nothing is written anywhere else. */
async function reveal(flags: Flags, ids: readonly string[], dir: () => string, io: CommandIo): Promise<number> {
  const [id, ...more] = ids;
  if (id === undefined || more.length > 0) throw new UsageError('give one record id: airlock audit reveal --config FILE ID', 'audit reveal');
  if (flags.config === undefined) throw new UsageError('--config FILE is required: the runtime config whose "audit.compliance" keys sealed the record', 'audit reveal');
  const ring = await io.keyring(flags.config);
  const pgSource = await io.pgAudit(flags.config);
  for await (const record of pgSource === undefined ? iterateRecords(dir()) : pgRecords(pgSource.url, pgSource.table)) {
    if (record.id !== id) continue;
    if (record.sealedResult === undefined) {
      io.err(`record ${id} has no compliance copy (no result, or compliance copies were off when it was written)\n`);
      return 1;
    }
    try {
      io.out(unseal(record.sealedResult, record.id, ring));
    } catch (error) {
      if (!(error instanceof RevealError)) throw error;
      io.err(`cannot reveal ${id}: ${error.message}\n`);
      return 1;
    }
    if (record.sealedResult.truncated) io.err(`note: the result was longer than the configured maxBytes; only its first part was sealed\n`);
    return 0;
  }
  io.err(`no record ${id} in ${pgSource === undefined ? dir() : pgSource.table}\n`);
  return 1;
}
