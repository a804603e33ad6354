import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { parsePolicy, PolicyLoadError, type Policy } from './load.js';

export type ReloadResult =
  | { readonly ok: true; readonly changed: boolean; readonly version: string }
  | { readonly ok: false; readonly problems: readonly string[]; readonly version: string };

export interface PolicyWatcherOptions {
  readonly knownTools: readonly string[];
  readonly log: (level: 'info' | 'warn', message: string) => void;
  /** Watch the file and reload on change (default true). */
  readonly watch?: boolean;
  readonly debounceMs?: number;
}

/**
 * The live policy. A valid new file swaps in atomically (calls already running keep the policy they
 * started with; the next call sees the new one); an invalid file keeps the last good policy and logs why.
 * The policy's version is the SHA-256 of the file, recorded in every decision.
 */
export class PolicyWatcher {
  private policy: Policy;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<ReloadResult> | undefined;
  private rereading: Promise<ReloadResult> | undefined;
  private readonly listeners = new Set<(result: ReloadResult) => void>();

  private constructor(
    readonly path: string,
    initial: Policy,
    private readonly options: PolicyWatcherOptions,
  ) {
    this.policy = initial;
  }

  /** Loads the file (failing start-up if it is invalid) and starts watching it. */
  static async start(path: string, options: PolicyWatcherOptions): Promise<PolicyWatcher> {
    const text = await readText(path);
    const watcher = new PolicyWatcher(path, parsePolicy(text, path, options.knownTools), options);
    if (options.watch !== false) watcher.watchFile();
    return watcher;
  }

  current(): Policy {
    return this.policy;
  }

  /** Called after every reload attempt (tests and operators' hooks). */
  onReload(listener: (result: ReloadResult) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Re-reads the file now (also on SIGHUP). A request that arrives while a read is in flight gets a fresh read
   * once that one is done: the read in flight may have started before the caller's edit (the watcher's own, for
   * one), and its answer would be about the file before it. Requests arriving meanwhile share that next read.
   */
  reload(): Promise<ReloadResult> {
    if (this.reloading === undefined) {
      this.reloading = this.doReload().finally(() => {
        this.reloading = undefined;
      });
      return this.reloading;
    }
    this.rereading ??= this.reloading.then(() => {
      this.rereading = undefined;
      return this.reload();
    });
    return this.rereading;
  }

  private async doReload(): Promise<ReloadResult> {
    let result: ReloadResult;
    try {
      const next = parsePolicy(await readText(this.path), this.path, this.options.knownTools);
      const changed = next.version !== this.policy.version;
      if (changed) {
        this.policy = next;
        this.options.log('info', `policy reloaded from ${this.path}: version ${next.version.slice(0, 19)}… (${next.file.rules.length} rules)`);
      }
      result = { ok: true, changed, version: next.version };
    } catch (error) {
      const problems = error instanceof PolicyLoadError ? error.problems : [String(error)];
      this.options.log('warn', `policy ${this.path} not reloaded, keeping version ${this.policy.version.slice(0, 19)}…:\n  ${problems.join('\n  ')}`);
      result = { ok: false, problems, version: this.policy.version };
    }
    for (const listener of this.listeners) listener(result);
    return result;
  }

  private watchFile(): void {
    const name = basename(this.path);
    // Watch the folder: editors and config management replace the file (write + rename).
    this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
      if (file !== null && file !== name) return;
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload(), this.options.debounceMs ?? 100);
      this.timer.unref();
    });
    this.watcher.on('error', (error) => this.options.log('warn', `policy watch on ${this.path} stopped: ${String(error)}`));
  }

  close(): void {
    this.watcher?.close();
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new PolicyLoadError(path, [`${basename(path)}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`]);
  }
}
