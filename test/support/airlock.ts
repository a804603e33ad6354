import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { readRecords } from '../../src/audit/read.js';
import type { AuditRecord } from '../../src/audit/record.js';
import { prettyLine } from '../../src/log.js';

/**
 * A server's stderr as text: its JSON log lines as `--log-format pretty` writes them (`<time> airlock LEVEL
 * message`), other lines as they are. For assertions on what the operator log says.
 */
export function logText(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (l.startsWith('{') ? prettyLine(l) : `${l}\n`))
    .join('');
}

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The compiled CLI (`npm test` builds before running vitest). */
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');
export const EXAMPLE_POLICY = join(ROOT, 'policies.json');

/** A fresh folder under this run's temp root (removed when the run ends). */
export function tempDir(prefix = 'airlock-test-'): string {
  return mkdtempSync(join(inject('tmpRoot'), prefix));
}

/** Writes a policy file (the repository example unless given) and returns its path. */
export function writePolicy(dir: string, policy?: unknown): string {
  const path = join(dir, 'policies.json');
  writeFileSync(path, policy === undefined ? readFileSync(EXAMPLE_POLICY, 'utf8') : JSON.stringify(policy, null, 2));
  return path;
}

/** Reads every finished call's audit record under an audit dir (segments, then the journal's tail). */
export function readAudit(auditDir: string): AuditRecord[] {
  return readRecords(auditDir);
}

/** The record for one call, found by the audit id the agent was given. */
export function auditRecord(auditDir: string, id: string): AuditRecord {
  const record = readAudit(auditDir).find((r) => r.id === id);
  if (record === undefined) throw new Error(`no audit record ${id}`);
  return record;
}

export function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((c) => c.text ?? '').join('\n');
}

/** The audit id from a result: structuredContent.auditId on success, _meta on errors. */
export function auditIdOf(result: unknown): string {
  const r = result as { structuredContent?: { auditId?: string }; _meta?: { 'airlock/error'?: { auditId?: string } } };
  const id = r.structuredContent?.auditId ?? r._meta?.['airlock/error']?.auditId;
  if (id === undefined) throw new Error(`result has no audit id: ${JSON.stringify(result)}`);
  return id;
}
