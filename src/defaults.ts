/** Defaults of `airlock serve` / `airlock start` that do not depend on the user's environment (see paths.ts for those). */
export const DEFAULTS = {
  auditSegmentBytes: 256 * 1024,
  host: '127.0.0.1',
  port: 7300,
  maxBodyBytes: 4 * 1024 * 1024,
  sessionIdleMs: 30 * 60 * 1000,
  keepAliveMs: 5000,
  logLevel: 'info',
} as const;
