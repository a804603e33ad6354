import { existsSync } from 'node:fs';
import type { AuditOptions, OptionValues } from '../cli/commands.js';
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

/** The values of one audit subcommand's options, parsed by the CLI from that subcommand's own table. */
export type AuditFlags<K extends keyof AuditOptions> = OptionValues<AuditOptions[K]>;

/**
 * One `airlock audit` subcommand and what the CLI parsed for it. The option tables live with the usage texts in
 * the command table (src/cli/commands.ts), so an option is declared once and `--help` names what is accepted.
 */
export type AuditCommand =
  | { readonly name: 'verify'; readonly flags: AuditFlags<'verify'> }
  | { readonly name: 'tail'; readonly flags: AuditFlags<'tail'> }
  | { readonly name: 'search'; readonly flags: AuditFlags<'search'> }
  | { readonly name: 'export'; readonly flags: AuditFlags<'export'> }
  | { readonly name: 'replay'; readonly flags: AuditFlags<'replay'> }
  | { readonly name: 'reveal'; readonly flags: AuditFlags<'reveal'>; readonly id: string }
  | { readonly name: 'view'; readonly flags: AuditFlags<'view'> };

type FilterFlags = Pick<AuditFlags<'search'>, 'principal' | 'tool' | 'session' | 'outcome' | 'since' | 'until'>;

/** The records a reader reads: the audit directory's, or the `audit.postgres` table's of a runtime config. */
interface Source {
  readonly all: () => AsyncIterable<ChainedRecord> | Iterable<ChainedRecord>;
  readonly after: (seq: number, last?: number) => Promise<ChainedRecord[]>;
  /** The directory or table, for messages. */
  readonly where: () => string;
}

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

function filterOf(flags: FilterFlags, now: Date): AuditFilter {
  return {
    ...(flags.principal === undefined ? {} : { principal: flags.principal }),
    ...(flags.tool === undefined ? {} : { tool: flags.tool }),
    ...(flags.session === undefined ? {} : { session: flags.session }),
    ...(flags.outcome === undefined ? {} : { outcomes: flags.outcome.split(',').map((o) => o.trim()) }),
    ...(flags.since === undefined ? {} : { since: parseTime(flags.since, now, '--since') }),
    ...(flags.until === undefined ? {} : { until: parseTime(flags.until, now, '--until') }),
  };
}

/** Redraws of the verify progress bar are at least this far apart (about 10 a second). */
const PROGRESS_INTERVAL_MS = 100;

function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * The verify progress bar on stderr: share of files, records/s and the time left (from the share of files done
 * so far), redrawn in place at most ~10 times a second and once more, with the time taken, at the end.
 */
function progressBar(io: CommandIo): (files: number, total: number, records: number) => void {
  if (!io.progress) return () => undefined;
  const started = io.now().getTime();
  let drawnAt = Number.NEGATIVE_INFINITY;
  let drawnWidth = 0;
  return (files, total, records) => {
    const now = io.now().getTime();
    const done = files >= total;
    if (!done && now - drawnAt < PROGRESS_INTERVAL_MS) return;
    drawnAt = now;
    const width = 30;
    const share = files / Math.max(1, total);
    const filled = Math.round(share * width);
    const elapsed = now - started;
    const rate = elapsed > 0 ? Math.round((records * 1000) / elapsed) : 0;
    const time = done ? `in ${seconds(elapsed)}` : files > 0 ? `ETA ${seconds((elapsed * (total - files)) / files)}` : 'ETA …';
    const text = `verifying [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.round(share * 100)}%  ${files}/${total} files, ${records.toLocaleString('en-US')} records, ${rate.toLocaleString('en-US')} records/s, ${time}`;
    // Spaces wipe what a longer previous line left on the terminal.
    io.err(`\r${text}${' '.repeat(Math.max(0, drawnWidth - text.length))}${done ? '\n' : ''}`);
    drawnWidth = text.length;
  };
}

/** With --config naming `audit.postgres`, that table; otherwise the directory (resolved only when read). */
async function sourceOf(config: string | undefined, dir: () => string, io: CommandIo): Promise<Source> {
  const pg = config === undefined ? undefined : await io.pgAudit(config);
  if (pg === undefined) return { all: () => iterateRecords(dir()), after: (seq, last) => Promise.resolve(recordsAfter(dir(), seq, last)), where: dir };
  return { all: () => pgRecords(pg.url, pg.table), after: (seq, last) => pgRecordsAfter(pg.url, pg.table, seq, last), where: () => pg.table };
}

/**
 * `airlock audit …`, with the options the CLI parsed. Returns the exit code: 0, or 1 when `verify` finds the
 * store was tampered with, `replay` finds no calls or `reveal` cannot reveal. Usage errors throw `UsageError`.
 */
export async function auditCommand(command: AuditCommand, dirDefault: () => string, io: CommandIo): Promise<number> {
  const usage = `audit ${command.name}`;
  // Resolved only when read: with --config naming audit.postgres no directory is needed. A directory that
  // does not exist is a mistyped path, never an empty store that verifies "ok".
  const dir = (): string => {
    const path = command.flags['audit-dir'] ?? dirDefault();
    if (!existsSync(path)) throw new UsageError(`no audit store at ${path}: the directory does not exist (give the store's directory with --audit-dir DIR)`, usage);
    return path;
  };
  switch (command.name) {
    case 'verify': {
      const { flags } = command;
      if (flags.head !== undefined && headPrefix(flags.head) === undefined) {
        throw new UsageError(`--head: "${flags.head}" is not a head: give the whole hash or at least its first 16 hex digits (with or without "sha256:")`, usage);
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
      const { flags } = command;
      const source = await sourceOf(flags.config, dir, io);
      const n = count('n', flags.n, 20, usage);
      const fmt = format(flags.format, ['table', 'json'] as const, 'table', usage);
      const print = (records: readonly ChainedRecord[], header: boolean): void => {
        if (records.length === 0) return;
        if (fmt === 'json') for (const r of records) io.out(JSON.stringify(r));
        else io.out(header ? formatTable(records) : formatTable(records).split('\n').slice(1).join('\n'));
      };
      let records = await source.after(0, n);
      print(records, true);
      if (flags.follow !== true) return 0;
      let last = records.at(-1)?.chain.seq ?? 0;
      for (;;) {
        await new Promise((r) => setTimeout(r, 500));
        records = await source.after(last);
        print(records, last === 0);
        last = records.at(-1)?.chain.seq ?? last;
      }
    }
    case 'search': {
      const { flags } = command;
      const source = await sourceOf(flags.config, dir, io);
      const fmt = format(flags.format, ['table', 'json'] as const, 'table', usage);
      const limit = count('limit', flags.limit, Number.MAX_SAFE_INTEGER, usage);
      const filter = filterOf(flags, io.now());
      const found: ChainedRecord[] = [];
      for await (const r of source.all()) {
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
      const { flags } = command;
      const source = await sourceOf(flags.config, dir, io);
      const fmt = format(flags.format, ['jsonl', 'csv'] as const, undefined, usage);
      const filter = filterOf(flags, io.now());
      if (fmt === 'csv') io.out(CSV_HEADER.join(','));
      for await (const r of source.all()) if (matches(r, filter)) io.out(fmt === 'csv' ? csvRow(r) : JSON.stringify(r));
      return 0;
    }
    case 'view': {
      const port = command.flags.port ?? '7301';
      if (!/^\d+$/.test(port) || Number(port) > 65_535) throw new UsageError(`--port: "${port}" is not a port (0 picks a free one)`, usage);
      const viewer = await io.view(dir(), command.flags.host ?? '127.0.0.1', Number(port));
      io.out(`audit viewer (read-only; Ctrl-C to stop): ${viewer.url}`);
      return 0;
    }
    case 'replay': {
      const { flags } = command;
      const source = await sourceOf(flags.config, dir, io);
      if ((flags.session === undefined) === (flags.principal === undefined)) {
        throw new UsageError('give --session ID (a 2025-era session) or --principal P (any era; 2026-07-28 calls have no session), not both', usage);
      }
      for (const f of ['client', 'since', 'until'] as const) if (flags[f] !== undefined && flags.principal === undefined) throw new UsageError(`--${f} goes with --principal`, usage);
      const fmt = format(flags.format, ['text', 'json'] as const, 'text', usage);
      const filter: AuditFilter =
        flags.session !== undefined
          ? { session: flags.session }
          : {
              principal: flags.principal,
              ...(flags.since === undefined ? {} : { since: parseTime(flags.since, io.now(), '--since') }),
              ...(flags.until === undefined ? {} : { until: parseTime(flags.until, io.now(), '--until') }),
            };
      const calls: ChainedRecord[] = [];
      for await (const r of source.all()) if (matches(r, filter) && (flags.client === undefined || r.client?.name === flags.client)) calls.push(r);
      io.out(fmt === 'json' ? JSON.stringify(calls, null, 2) : formatReplay(calls));
      return calls.length === 0 ? 1 : 0;
    }
    case 'reveal': {
      const { flags } = command;
      // reveal looks for one record and says "no record ID in DIR" when a directory has none, even a missing one.
      return reveal(flags, command.id, () => flags['audit-dir'] ?? dirDefault(), io);
    }
  }
}

/** `audit reveal ID`: decrypts one record's compliance copy to stdout. Nothing is written anywhere else. */
async function reveal(flags: AuditFlags<'reveal'>, id: string, dir: () => string, io: CommandIo): Promise<number> {
  if (flags.config === undefined) throw new UsageError('--config FILE is required: the runtime config whose "audit.compliance" keys sealed the record', 'audit reveal');
  const ring = await io.keyring(flags.config);
  const source = await sourceOf(flags.config, dir, io);
  for await (const record of source.all()) {
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
  io.err(`no record ${id} in ${source.where()}\n`);
  return 1;
}
