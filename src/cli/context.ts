/** What a command implementation gets from the entry point: the environment and the output streams. */
export interface CliContext {
  /** The process environment (read once by the entry point). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The working directory airlock was started in. */
  readonly cwd: string;
  /** The script that is running (dist/src/cli.js of this installation). */
  readonly script: string;
  /** A line to stdout. */
  readonly out: (text: string) => void;
  /** A line to stderr. */
  readonly err: (text: string) => void;
}
