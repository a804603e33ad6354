import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PolicyWatcher, type ReloadResult } from '../../src/policy/watch.js';
import { EXAMPLE_POLICY, tempDir } from '../support/airlock.js';

const TOOLS = ['query_sql', 'read_bucket', 'tail_logs', 'list_resources', 'explain_policy', 'whoami'];

function nextReload(watcher: PolicyWatcher): Promise<ReloadResult> {
  return new Promise((resolve) => {
    const off = watcher.onReload((result) => {
      off();
      resolve(result);
    });
  });
}

describe('PolicyWatcher (hot reload)', () => {
  it('swaps in a valid edited file and keeps the last good policy when the file turns invalid', async () => {
    const dir = tempDir();
    const path = join(dir, 'policies.json');
    const original = readFileSync(EXAMPLE_POLICY, 'utf8');
    writeFileSync(path, original);
    const logs: string[] = [];
    const watcher = await PolicyWatcher.start(path, { knownTools: TOOLS, log: (_l, m) => logs.push(m), debounceMs: 20 });
    try {
      const v1 = watcher.current().version;

      const edited = JSON.parse(original) as { rules: unknown[] };
      edited.rules = edited.rules.slice(0, 2);
      let reloaded = nextReload(watcher);
      writeFileSync(path, JSON.stringify(edited));
      expect(await reloaded).toMatchObject({ ok: true, changed: true });
      const v2 = watcher.current().version;
      expect(v2).not.toBe(v1);
      expect(watcher.current().file.rules).toHaveLength(2);

      reloaded = nextReload(watcher);
      writeFileSync(path, JSON.stringify({ ...edited, rules: [{ id: 'x', effect: 'allow', tools: ['query_sq1'] }] }));
      const bad = await reloaded;
      expect(bad).toEqual({ ok: false, version: v2, problems: ['policies.json: rules[0].tools[0]: unknown tool "query_sq1" (known: query_sql, read_bucket, tail_logs, list_resources, explain_policy, whoami)'] });
      expect(watcher.current().version).toBe(v2);
      expect(logs.at(-1)).toContain('not reloaded, keeping version');

      // Editors replace files by writing a temp file and renaming it over the original.
      reloaded = nextReload(watcher);
      writeFileSync(join(dir, 'policies.json.tmp'), original);
      renameSync(join(dir, 'policies.json.tmp'), path);
      expect(await reloaded).toMatchObject({ ok: true, changed: true, version: v1 });
      expect(watcher.current().version).toBe(v1);
    } finally {
      watcher.close();
    }
  });

  it('refuses to start on an invalid file', async () => {
    const path = join(tempDir(), 'policies.json');
    writeFileSync(path, '{"version": 1, "rules": [{"id": "r", "effect": "deny", "tools": ["query_sql"]}]}');
    await expect(PolicyWatcher.start(path, { knownTools: TOOLS, log: () => undefined, watch: false })).rejects.toThrow(
      'policies.json: rules[0].reason: a "deny" rule needs a "reason" (it is shown to the agent)',
    );
  });
  it('answers a reload asked for after an edit with the edited file, even while an earlier read is in flight (issue 19)', async () => {
    const dir = tempDir();
    const path = join(dir, 'policies.json');
    const original = readFileSync(EXAMPLE_POLICY, 'utf8');
    const ambiguous = original.replace('"effect": "deny",', '"effect": "deny", "effect": "allow",');
    const appended = original.replace(/\}\s*$/, ', "rules": []}');
    writeFileSync(path, original);
    const watcher = await PolicyWatcher.start(path, { knownTools: TOOLS, log: () => undefined, watch: false });
    try {
      writeFileSync(path, ambiguous);
      // The file is edited and a reload asked for while the first reload has read the old text and is not done
      // yet (its listeners run before it settles): as an operator's SIGHUP right after the watcher's own read.
      let later: Promise<ReloadResult> | undefined;
      const off = watcher.onReload(() => {
        off();
        writeFileSync(path, appended);
        later = watcher.reload();
      });
      const first = await watcher.reload();
      expect(first.ok === false && first.problems.some((p) => p.includes('duplicate key "effect"'))).toBe(true);
      const second = await (later as Promise<ReloadResult>);
      expect(second.ok).toBe(false);
      expect(second.ok === false ? second.problems.join('; ') : '').toContain('duplicate key "rules"');
      writeFileSync(path, original);
      expect(await watcher.reload()).toMatchObject({ ok: true, changed: false });
    } finally {
      watcher.close();
    }
  });
});
