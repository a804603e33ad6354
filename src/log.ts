/**
 * Operator log: one JSON object a line (pino), or a line of text for people (`--log-format pretty`).
 * Always stderr: on stdio, stdout belongs to the MCP protocol. Never pass tokens, arguments, SQL text or
 * results here; a line's fields are the identifiers and names of `LogFields`, nothing else.
 */
import { destination, pino, stdTimeFunctions } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'pretty';

/**
 * What a line may carry besides its message: ids, names from a closed set, codes and a duration. The type
 * is closed so that a call site cannot hand an argument or a result to the log by accident.
 */
export interface LogFields {
  /** The audit record of the call (its `id`). */
  readonly auditId?: string;
  /** The JSON-RPC id of the request, as the client sent it (cut to 64 characters). */
  readonly requestId?: string;
  readonly sessionId?: string;
  readonly transport?: string;
  /** A tool airlock serves (`unknown` for any other name a client sent). */
  readonly tool?: string;
  readonly effect?: string;
  readonly outcome?: string;
  /** A stable AirlockError code. */
  readonly code?: string;
  readonly durationMs?: number;
}

export interface Logger {
  (level: LogLevel, message: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  /** The lowest level written (default info). */
  readonly level?: LogLevel;
  /** `json` (default): one JSON object a line; `pretty`: time, level, message and fields as text. */
  readonly format?: LogFormat;
  /** Where finished lines go (default: stderr, written synchronously so nothing is lost at exit). */
  readonly write?: (line: string) => void;
}

/** Cloud Logging reads `severity` from a JSON line on stderr (Cloud Run, GKE): the same level, its names. */
const SEVERITY: Record<string, string> = { debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR' };

/** The operator log. Options are checked here: a bad level or format is a wiring mistake, found at start. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const format = options.format ?? 'json';
  if (!(level in SEVERITY)) throw new TypeError(`createLogger: unknown level "${String(level)}"`);
  if (format !== 'json' && format !== 'pretty') throw new TypeError(`createLogger: unknown format "${String(format)}"`);
  const out: (line: string) => void = options.write ?? stderrWriter();
  const sink = { write: format === 'pretty' ? (line: string) => out(prettyLine(line)) : out };
  const logger = pino(
    {
      name: 'airlock',
      level,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label, severity: SEVERITY[label] ?? 'DEFAULT' }) },
    },
    sink,
  );
  return (lvl, message, fields) => {
    if (fields === undefined) logger[lvl](message);
    else logger[lvl](fields, message);
  };
}

/** stderr through pino's own synchronous writer (it retries a full pipe instead of dropping the line). */
function stderrWriter(): (line: string) => void {
  const stream = destination({ dest: 2, sync: true });
  return (line) => void stream.write(line);
}

/** Keys of a JSON line that the text form shows in its own place, or not at all. */
const SHOWN = new Set(['level', 'severity', 'time', 'msg', 'name', 'pid', 'hostname']);

/** A JSON line as text: `<time> airlock <LEVEL> <message>` then the fields as `key=value`. */
export function prettyLine(json: string): string {
  let line: Record<string, unknown>;
  try {
    line = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const fields = Object.entries(line)
    .filter(([key]) => !SHOWN.has(key))
    .map(([key, value]) => ` ${key}=${typeof value === 'string' && !/[\s"=]/.test(value) ? value : JSON.stringify(value)}`)
    .join('');
  return `${String(line.time)} airlock ${String(line.level).toUpperCase()} ${oneLine(String(line.msg))}${fields}\n`;
}

/**
 * Text with its control characters escaped as JSON escapes them: a line break in a message (an error's
 * text, a value a client chose, such as a request id) must not start what reads as another log line.
 */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f\u2028\u2029]/.test(text) ? JSON.stringify(text).slice(1, -1) : text;
}
