import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { auditCommand, type CommandIo } from '../../src/audit/command.js';
import type { AuditRecord } from '../../src/audit/record.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { CLI, tempDir } from '../support/airlock.js';
import { sampleRecord } from '../support/audit-records.js';

/** Records of ~0.6 KB, so that a store of a few hundred spans many segments. */
const record = (i: number): AuditRecord => sampleRecord(`c${i}`, { input: { connection: 'shop', sql: `SELECT ${i} -- ${'x'.repeat(500)}` } });

async function store(count: number): Promise<string> {
  const dir = tempDir();
  const s = await JsonAuditStore.open(dir, { segmentBytes: 4096 });
  try {
    for (let i = 1; i <= count; i++) await s.append(record(i));
  } finally {
    await s.close();
  }
  return dir;
}

const env = (): NodeJS.ProcessEnv => ({ ...process.env, XDG_STATE_HOME: tempDir('airlock-state-') });

function verify(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'audit', 'verify', ...args], { cwd: inject('tmpRoot'), encoding: 'utf8', env: env() });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
const hasScript = existsSync('/usr/bin/script');
const BAR = /verifying \[#{30}\] 100% {2}(\d+)\/\1 files, 30 records, [\d,]+ records\/s, in \d+s/;

describe('airlock audit verify progress (issue 19)', () => {
  it('prints only the verdict when stderr is not a terminal, with and without --json', async () => {
    const dir = await store(30);
    const segments = readdirSync(dir).filter((n) => n.startsWith('audit-')).length;
    const plain = verify('--audit-dir', dir);
    expect(plain.stderr).toBe('');
    expect(plain.status).toBe(0);
    expect(plain.stdout).toMatch(new RegExp(`^ok: 30 record\\(s\\) in ${segments} segment\\(s\\) form an unbroken chain; head [0-9a-f]{64}\\n$`));
    const json = verify('--audit-dir', dir, '--json');
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, segments, records: 30, problems: [] });
  });

  it('draws the bar on stderr with --progress when stderr is not a terminal, and leaves stdout as it was', async () => {
    const dir = await store(30);
    const plain = verify('--audit-dir', dir);
    const withBar = verify('--audit-dir', dir, '--progress');
    expect(withBar.stdout).toBe(plain.stdout);
    expect(withBar.stderr.startsWith('\rverifying [')).toBe(true);
    expect(withBar.stderr.endsWith('\n')).toBe(true);
    expect(withBar.stderr.split('\r').at(-1)).toMatch(BAR);
  });

  it.skipIf(!hasScript)('draws the bar on a terminal and ends with the same verdict (run under a pseudo-terminal)', async () => {
    const dir = await store(30);
    const plain = verify('--audit-dir', dir);
    const out = join(tempDir(), 'verdict.txt');
    // stderr is the pseudo-terminal; stdout goes to a file, as when a terminal user redirects it.
    const r = spawnSync('script', ['-q', '-e', '-c', `${quote(process.execPath)} ${quote(CLI)} audit verify --audit-dir ${quote(dir)} > ${quote(out)}`, '/dev/null'], { encoding: 'utf8', env: env(), cwd: inject('tmpRoot') });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\rverifying \[/);
    expect(r.stdout.split('\r').filter((s) => s !== '').at(-2)).toMatch(BAR);
    expect(readFileSync(out, 'utf8')).toBe(plain.stdout);
    const json = join(tempDir(), 'report.json');
    const rj = spawnSync('script', ['-q', '-e', '-c', `${quote(process.execPath)} ${quote(CLI)} audit verify --json --audit-dir ${quote(dir)} > ${quote(json)}`, '/dev/null'], { encoding: 'utf8', env: env(), cwd: inject('tmpRoot') });
    expect(rj.status).toBe(0);
    expect(readFileSync(json, 'utf8')).toBe(verify('--audit-dir', dir, '--json').stdout);
  });

  it('redraws at most once per 100 ms of its clock, and always at the end', async () => {
    const dir = await store(60);
    const total = readdirSync(dir).filter((n) => n.startsWith('audit-')).length + 1;
    expect(total).toBeGreaterThan(12);
    let t = 0;
    const err: string[] = [];
    const out: string[] = [];
    const io: CommandIo = {
      out: (s) => out.push(s),
      err: (s) => err.push(s),
      progress: true,
      // Every reading of the clock is 10 ms later: a redraw is due every tenth file.
      now: () => new Date((t += 10)),
      keyring: () => Promise.reject(new Error('not used')),
      tombstoneKey: () => Promise.reject(new Error('not used')),
      view: () => Promise.reject(new Error('not used')),
      pgAudit: () => Promise.resolve(undefined),
    };
    const code = await auditCommand({ name: 'verify', flags: { 'audit-dir': dir } }, () => dir, io);
    expect(code).toBe(0);
    const drawn = err.map((s) => Number(/ {2}(\d+)\/\d+ files/.exec(s)?.[1]));
    const expected: number[] = [];
    for (let files = 1; files < total; files += 10) expected.push(files);
    expect(drawn).toEqual([...expected, total]);
    expect(err.at(-1)).toMatch(new RegExp(` {2}${total}/${total} files, 60 records, [\\d,]+ records/s, in 0s\\n$`));
    expect(err[1]).toMatch(/ETA \d+s$/);
    expect(out[0]).toMatch(/^ok: 60 record\(s\)/);
  });
});
