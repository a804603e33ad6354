/**
 * Operator log. Always stderr: on stdio, stdout belongs to the MCP protocol. Never pass tokens or
 * query results here.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  (level: LogLevel, message: string): void;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function createLogger(minimum: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  return (level, message) => {
    if (ORDER[level] < ORDER[minimum]) return;
    write(`${new Date().toISOString()} airlock ${level.toUpperCase()} ${message}\n`);
  };
}
