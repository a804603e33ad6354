import * as z from 'zod';

/** Runtime settings for `airlock serve` / `airlock start`, from flags (checked here, once, at start-up). */
export const ServeConfigSchema = z.strictObject({
  transport: z.enum(['stdio', 'http']),
  policyPath: z.string().min(1),
  auditDir: z.string().min(1),
  /** `EMAIL[,GROUP,...]`: an unverified identity for the demo and tests only. */
  devIdentity: z.string().min(3).optional(),
  /** Start an embedded PostgreSQL with demo data when DATABASE_URL is not set. */
  demo: z.boolean(),
  host: z.string().min(1),
  port: z.int().min(0).max(65_535),
  maxBodyBytes: z.int().min(1024).max(256 * 1024 * 1024),
  sessionIdleMs: z.int().min(1000),
  allowedHosts: z.array(z.string().min(1)),
  allowedOrigins: z.array(z.string().url()),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']),
});

export type ServeConfig = z.output<typeof ServeConfigSchema>;

export const DEFAULTS = {
  policyPath: './policies.json',
  auditDir: './.airlock/audit',
  host: '127.0.0.1',
  port: 7300,
  maxBodyBytes: 4 * 1024 * 1024,
  sessionIdleMs: 30 * 60 * 1000,
  logLevel: 'info',
} as const;

/** Validates settings; every problem is reported with the flag it came from. */
export function parseServeConfig(input: unknown): ServeConfig {
  const parsed = ServeConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => `  --${flagName(String(issue.path[0] ?? ''))}: ${issue.message}`);
  throw new ConfigError(`invalid settings:\n${lines.join('\n')}`);
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function flagName(key: string): string {
  const map: Record<string, string> = {
    policyPath: 'policy',
    auditDir: 'audit-dir',
    devIdentity: 'dev-identity',
    maxBodyBytes: 'max-body-bytes',
    sessionIdleMs: 'session-idle-seconds',
    allowedHosts: 'allowed-host',
    allowedOrigins: 'allowed-origin',
    logLevel: 'log-level',
  };
  return map[key] ?? key;
}
