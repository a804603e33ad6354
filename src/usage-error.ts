/** A mistake in how the command was called: printed with a pointer to the command's `--help`, exit code 2. */
export class UsageError extends Error {
  /** The command whose usage applies, as typed after `airlock` (`''` for airlock itself). */
  readonly command: string;
  constructor(message: string, command = '') {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}
