/**
 * True for the error a write gets when the reader of a pipe has gone (`airlock … | head -1`): EPIPE, or
 * the stream errors that follow once the output was destroyed by it.
 */
export function isClosedPipe(error: unknown, output: { readonly destroyed: boolean } = process.stdout): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'EPIPE' || ((code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED') && output.destroyed);
}
