/**
 * Where airlock keeps its files when no flag says otherwise. Nothing here depends on the working
 * directory of whoever spawns airlock (an MCP client starts it from anywhere), except the project
 * policy file `./policies.json`, which is looked for first on purpose.
 */
import { isAbsolute, join } from 'node:path';
import { UsageError } from './usage-error.js';

/** The environment variables these defaults read (the entry point passes `process.env`). */
export interface PathEnv {
  readonly HOME?: string | undefined;
  readonly XDG_STATE_HOME?: string | undefined;
  readonly XDG_CONFIG_HOME?: string | undefined;
}

function home(env: PathEnv): string {
  const dir = env.HOME;
  if (dir === undefined || dir === '') throw new UsageError('HOME is not set, so there is no per-user state or config directory: give --audit-dir DIR and --policy FILE');
  return dir;
}

/** An XDG base directory: the variable when it holds an absolute path (the spec ignores relative ones), else the fallback. */
function xdg(value: string | undefined, fallback: () => string): string {
  return value !== undefined && isAbsolute(value) ? value : fallback();
}

/** `$XDG_STATE_HOME/airlock`, or `~/.local/state/airlock`: the per-user state directory. */
export function stateDir(env: PathEnv): string {
  return join(xdg(env.XDG_STATE_HOME, () => join(home(env), '.local', 'state')), 'airlock');
}

/** The default audit directory: `<state dir>/audit`. */
export function defaultAuditDir(env: PathEnv): string {
  return join(stateDir(env), 'audit');
}

/** `$XDG_CONFIG_HOME/airlock/policies.json`, or `~/.config/airlock/policies.json`. */
export function userPolicyPath(env: PathEnv): string {
  return join(xdg(env.XDG_CONFIG_HOME, () => join(home(env), '.config')), 'airlock', 'policies.json');
}

/** The policy files `serve` looks for without `--policy`, in order: the working directory's, then the user's. */
export function policyCandidates(env: PathEnv): readonly string[] {
  return ['./policies.json', userPolicyPath(env)];
}
