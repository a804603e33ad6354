/**
 * Log entries in the Logging REST JSON shape ({@link LogEntryJson}) and their gRPC message form
 * (`google.logging.v2.LogEntry` as `@grpc/proto-loader` objects with camelCase keys), both ways.
 */
import { AUDIT_LOG_TYPE_URL, decodeProtoPayload, encodeAuditLog } from './audit-log-proto.js';

/** Cloud Logging severities, in rank order. */
export const LOG_SEVERITIES = ['DEFAULT', 'DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'] as const;
/** One of {@link LOG_SEVERITIES}. */
export type LogSeverity = (typeof LOG_SEVERITIES)[number];

/** A JSON value (`jsonPayload`, audit request bodies). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** `httpRequest` of an entry, as the Logging REST API writes it (`latency` as `"0.123s"`). */
export interface HttpRequestJson {
  readonly requestMethod?: string;
  readonly requestUrl?: string;
  readonly requestSize?: string;
  readonly status?: number;
  readonly responseSize?: string;
  readonly userAgent?: string;
  readonly remoteIp?: string;
  readonly serverIp?: string;
  readonly referer?: string;
  readonly latency?: string;
  readonly protocol?: string;
}

/** A log entry in the Logging REST JSON shape (`entries.list`); exactly one payload, or none. */
export interface LogEntryJson {
  /** `projects/<project>/logs/<url-encoded log id>`. */
  readonly logName: string;
  readonly resource?: { readonly type: string; readonly labels?: Readonly<Record<string, string>> };
  /** RFC 3339, e.g. `2026-01-02T03:04:05.123456Z`. */
  readonly timestamp: string;
  readonly receiveTimestamp?: string;
  readonly severity?: LogSeverity;
  readonly insertId?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** `projects/<project>/traces/<32 hex>`. */
  readonly trace?: string;
  readonly spanId?: string;
  readonly traceSampled?: boolean;
  readonly httpRequest?: HttpRequestJson;
  readonly textPayload?: string;
  readonly jsonPayload?: { readonly [key: string]: JsonValue };
  /** An audit log: `{ '@type': 'type.googleapis.com/google.cloud.audit.AuditLog', … }`. */
  readonly protoPayload?: { readonly '@type': string; readonly [key: string]: unknown };
}

/** Seconds since the epoch and nanoseconds, from an RFC 3339 time; TypeError when it is not one. */
export function parseRfc3339(value: string): { seconds: number; nanos: number } {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i.exec(value);
  const ms = m === null ? NaN : Date.parse(`${m[1]}${m[3]}`);
  if (m === null || Number.isNaN(ms)) throw new TypeError(`not an RFC 3339 timestamp: "${value}"`);
  return { seconds: ms / 1000, nanos: Number((m[2] ?? '').padEnd(9, '0')) };
}

function formatTimestamp(seconds: number, nanos: number): string {
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  return nanos === 0 ? `${base}Z` : `${base}.${String(nanos).padStart(9, '0').replace(/0+$/, '')}Z`;
}

type ProtoValue = { nullValue: 'NULL_VALUE' } | { numberValue: number } | { stringValue: string } | { boolValue: boolean } | { listValue: { values: ProtoValue[] } } | { structValue: ProtoStruct };
/** `google.protobuf.Struct` as a proto-loader object. */
export interface ProtoStruct {
  fields: Record<string, ProtoValue>;
}

function toValue(v: unknown): ProtoValue {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  if (typeof v === 'object') return { structValue: jsonToStruct(v as Record<string, unknown>) };
  // bigint, symbol, function: not JSON; kept as text rather than dropped.
  return { stringValue: typeof v === 'bigint' ? v.toString() : typeof v };
}

/** A JSON object as a `google.protobuf.Struct`. */
export function jsonToStruct(obj: Readonly<Record<string, unknown>>): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = toValue(v);
  return { fields };
}

interface ReadValue {
  kind?: string;
  nullValue?: unknown;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: ReadStruct;
  listValue?: { values?: ReadValue[] };
}
interface ReadStruct {
  fields?: Record<string, ReadValue>;
}

function fromValue(v: ReadValue): JsonValue {
  switch (v.kind) {
    case 'numberValue':
      return v.numberValue ?? 0;
    case 'stringValue':
      return v.stringValue ?? '';
    case 'boolValue':
      return v.boolValue ?? false;
    case 'structValue':
      return structToJson(v.structValue);
    case 'listValue':
      return (v.listValue?.values ?? []).map(fromValue);
    default:
      return null;
  }
}

/** A `google.protobuf.Struct` (proto-loader object, `oneofs: true`) as JSON. */
export function structToJson(struct: ReadStruct | undefined): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const [k, v] of Object.entries(struct?.fields ?? {})) out[k] = fromValue(v);
  return out;
}

function durationToProto(latency: string): { seconds: string; nanos: number } {
  const m = /^(\d+)(?:\.(\d{1,9}))?s$/.exec(latency);
  if (m === null) throw new TypeError(`httpRequest.latency must look like "0.123s", got "${latency}"`);
  return { seconds: m[1] ?? '0', nanos: Number((m[2] ?? '').padEnd(9, '0')) };
}

/**
 * An entry as a `google.logging.v2.LogEntry` message object. Throws TypeError on a bad timestamp, latency
 * or audit payload, or when more than one payload is given.
 */
export function logEntryToProto(entry: LogEntryJson): Record<string, unknown> {
  const payloads = [entry.textPayload, entry.jsonPayload, entry.protoPayload].filter((p) => p !== undefined);
  if (payloads.length > 1) throw new TypeError(`log entry ${entry.insertId ?? ''}: more than one payload`);
  const ts = parseRfc3339(entry.timestamp);
  const out: Record<string, unknown> = {
    logName: entry.logName,
    timestamp: { seconds: String(Math.floor(ts.seconds)), nanos: ts.nanos },
    severity: entry.severity ?? 'DEFAULT',
    insertId: entry.insertId ?? '',
    labels: { ...entry.labels },
    trace: entry.trace ?? '',
    spanId: entry.spanId ?? '',
    traceSampled: entry.traceSampled ?? false,
  };
  if (entry.resource !== undefined) out.resource = { type: entry.resource.type, labels: { ...entry.resource.labels } };
  if (entry.receiveTimestamp !== undefined) {
    const r = parseRfc3339(entry.receiveTimestamp);
    out.receiveTimestamp = { seconds: String(Math.floor(r.seconds)), nanos: r.nanos };
  }
  if (entry.httpRequest !== undefined) {
    const { latency, ...rest } = entry.httpRequest;
    out.httpRequest = { ...rest, ...(latency === undefined ? {} : { latency: durationToProto(latency) }) };
  }
  if (entry.textPayload !== undefined) out.textPayload = entry.textPayload;
  if (entry.jsonPayload !== undefined) out.jsonPayload = jsonToStruct(entry.jsonPayload);
  if (entry.protoPayload !== undefined) {
    if (entry.protoPayload['@type'] !== AUDIT_LOG_TYPE_URL) throw new TypeError(`log entry ${entry.insertId ?? ''}: protoPayload of type ${entry.protoPayload['@type']} is not supported (only ${AUDIT_LOG_TYPE_URL})`);
    // The client's protos name the field type_url (not camelCased), on the server's side too.
    out.protoPayload = { type_url: AUDIT_LOG_TYPE_URL, value: encodeAuditLog(entry.protoPayload) };
  }
  return out;
}

interface ReadTimestamp {
  seconds?: string | number;
  nanos?: number;
}

/** What {@link logEntryFromProto} reads of a written `LogEntry` (proto-loader object). */
export interface ReadLogEntry {
  logName?: string;
  resource?: { type?: string; labels?: Record<string, string> } | null;
  timestamp?: ReadTimestamp | null;
  severity?: string;
  insertId?: string;
  labels?: Record<string, string>;
  trace?: string;
  spanId?: string;
  traceSampled?: boolean;
  httpRequest?: (Omit<HttpRequestJson, 'latency'> & { latency?: ReadTimestamp | null }) | null;
  payload?: string;
  textPayload?: string;
  jsonPayload?: ReadStruct | null;
  protoPayload?: { typeUrl?: string; value?: Uint8Array } | null;
}

/** A written entry back in the JSON shape; `fallbackTime` when it carries no timestamp. */
export function logEntryFromProto(e: ReadLogEntry, fallbackTime: Date): LogEntryJson {
  const seconds = e.timestamp ? Number(e.timestamp.seconds ?? 0) : NaN;
  const timestamp = Number.isFinite(seconds) && (seconds !== 0 || (e.timestamp?.nanos ?? 0) !== 0) ? formatTimestamp(seconds, e.timestamp?.nanos ?? 0) : fallbackTime.toISOString();
  const severity = LOG_SEVERITIES.find((s) => s === e.severity);
  const out: Record<string, unknown> = { logName: e.logName ?? '', timestamp };
  if (severity !== undefined) out.severity = severity;
  if (e.resource?.type) out.resource = { type: e.resource.type, labels: { ...e.resource.labels } };
  if (e.insertId) out.insertId = e.insertId;
  if (e.labels !== undefined && Object.keys(e.labels).length > 0) out.labels = { ...e.labels };
  if (e.trace) out.trace = e.trace;
  if (e.spanId) out.spanId = e.spanId;
  if (e.traceSampled) out.traceSampled = true;
  if (e.httpRequest) {
    const { latency, ...rest } = e.httpRequest;
    const http: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rest)) if (v !== '' && v !== 0 && v !== '0' && (v as unknown) !== false && v !== undefined) http[k] = v;
    if (latency) http.latency = `${Number(latency.seconds ?? 0) + (latency.nanos ?? 0) / 1e9}s`;
    out.httpRequest = http;
  }
  if (e.payload === 'textPayload' || (e.payload === undefined && e.textPayload)) out.textPayload = e.textPayload ?? '';
  else if (e.payload === 'jsonPayload' || (e.payload === undefined && e.jsonPayload)) out.jsonPayload = structToJson(e.jsonPayload ?? undefined);
  else if (e.payload === 'protoPayload' || (e.payload === undefined && e.protoPayload)) {
    const decoded = decodeProtoPayload(e.protoPayload);
    if (decoded !== undefined) out.protoPayload = decoded;
  }
  return out as unknown as LogEntryJson;
}
