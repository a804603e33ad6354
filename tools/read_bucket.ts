import * as z from 'zod';
import { InvalidInputError, UnknownResourceError } from '../src/errors.js';
import { defineTool, once, type ContentFormat, type ExecuteContext, type JsonResult } from '../src/tool.js';
import { justification } from './json.js';
import { objectNameProblem } from './object_name.js';

const TOOL = 'read_bucket';
const DEFAULT_LIST = 100;
const MAX_LIST = 1000;
/**
 * Content returned by one read at most, whatever policy allows: the answer carries it twice (structured and
 * as text for the model), and MCP clients over stdio drop a message line past 10 MiB (the SDKs' default).
 */
export const MAX_READ_BYTES = 4 * 1024 * 1024;

const input = once(() =>
  z.strictObject({
    bucket: z.string().min(1).max(64).describe('Name of a bucket from list_resources (airlock\'s name for it, not necessarily the Cloud Storage name).'),
    action: z.enum(['list', 'read']).describe('"list": object names under a prefix; "read": one object\'s metadata and (masked) content.'),
    prefix: z.string().max(4096).optional().describe('list: only names starting with this, e.g. "app/logs/".'),
    delimiter: z.string().min(1).max(16).optional().describe('list: usually "/": names below the next "/" are grouped into `prefixes` (folders).'),
    pageToken: z.string().min(1).max(4096).optional().describe('list: `nextPageToken` of the previous page (same bucket, prefix and delimiter).'),
    maxResults: z.int().min(1).max(MAX_LIST).optional().describe(`list: entries per page (default ${DEFAULT_LIST}).`),
    object: z.string().max(4096).optional().describe('read: the full object name, e.g. "app/logs/api-2026-12-01.ndjson".'),
    range: z
      .strictObject({
        start: z.int().min(0).describe('First byte to read (0-based).'),
        end: z.int().min(0).optional().describe('Last byte to read, inclusive; absent: up to the byte cap.'),
      })
      .optional()
      .describe('read: a byte range, e.g. the `next.range` of a truncated read. For gzip objects, offsets count decompressed bytes.'),
    generation: z.string().regex(/^[0-9]{1,20}$/, 'must be a generation number (digits)').optional().describe('read: a specific generation of the object.'),
    justification: justification(),
  }),
);

type Input = z.output<ReturnType<typeof input>>;

const entry = once(() =>
  z.object({
    name: z.string(),
    size: z.number(),
    contentType: z.string().optional(),
    updated: z.string().optional(),
    generation: z.string().optional(),
  }),
);

const metadata = once(() =>
  z.object({
    size: z.number(),
    contentType: z.string().optional(),
    contentEncoding: z.string().optional(),
    generation: z.string().optional(),
    updated: z.string().optional(),
    md5Hash: z.string().optional(),
    crc32c: z.string().optional(),
  }),
);

const output = once(() =>
  z.object({
    bucket: z.string(),
    action: z.enum(['list', 'read']),
    // list
    prefix: z.string().optional().describe('list: the prefix listed.'),
    items: z.array(entry()).optional().describe('list: objects you may read (or request approval for).'),
    prefixes: z.array(z.string()).optional().describe('list: folders (with delimiter) that hold objects you may see.'),
    nextPageToken: z.string().optional().describe('list: pass as pageToken for the next page.'),
    hidden: z.int().optional().describe('list: entries of this page that policy does not let you see (not shown).'),
    // read
    object: z.string().optional(),
    metadata: metadata().optional(),
    format: z.enum(['text', 'csv', 'json', 'ndjson', 'binary']).optional().describe('read: how the content was masked; binary: no content.'),
    content: z.string().optional().describe('read: the masked text content (absent for binary objects).'),
    truncated: z.boolean().optional().describe('read: the content goes on past what was returned.'),
    next: z.object({ range: z.object({ start: z.int() }) }).optional().describe('read: the range to pass to read on.'),
    note: z.string().optional(),
    auditId: z.string(),
  }),
);

function invalid(path: string, message: string): InvalidInputError {
  return new InvalidInputError(TOOL, [{ path, message }]);
}

/** Every check on the arguments that needs no upstream call: name safety and which fields go with which action. */
function checkArgs(args: Input): void {
  if (args.action === 'read') {
    if (args.object === undefined) throw invalid('object', 'required for action "read"');
    const problem = objectNameProblem(args.object, 'object');
    if (problem !== undefined) throw invalid('object', problem);
    for (const key of ['prefix', 'delimiter', 'pageToken', 'maxResults'] as const) {
      if (args[key] !== undefined) throw invalid(key, 'only for action "list"');
    }
    if (args.range?.end !== undefined && args.range.end < args.range.start) throw invalid('range.end', 'must not be less than range.start');
    return;
  }
  if (args.object !== undefined) throw invalid('object', 'not allowed for action "list" (use prefix)');
  for (const key of ['range', 'generation'] as const) {
    if (args[key] !== undefined) throw invalid(key, 'only for action "read"');
  }
  const problem = args.prefix === undefined ? undefined : objectNameProblem(args.prefix, 'prefix');
  if (problem !== undefined) throw invalid('prefix', problem);
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** read_bucket: list and read objects of a governed Cloud Storage bucket. */
export const readBucket = defineTool({
  name: TOOL,
  description: [
    'List or read objects in a governed Cloud Storage bucket (list_resources names the buckets and which object paths you may use).',
    'action "list" returns names, sizes, content types and update times under `prefix` (use delimiter "/" to see folders) and a `nextPageToken`;',
    'only objects policy lets you read (or ask approval for) are shown: `hidden` counts what was left out, so a page may be short or empty while more pages follow.',
    'action "read" returns one object\'s metadata and its text content with sensitive values (cards, emails, keys, tokens) masked:',
    'CSV is masked by column header, JSON and NDJSON by key names; gzip objects are decompressed; images and other binary objects return metadata only.',
    'Content is capped (policy limits.maxBytes, default 1 MiB, at most 4 MiB per call): when `truncated` is true, call again with `range` = the returned `next.range` to read on.',
    'Reads of some paths need a human approval: the call waits ~45 s, then returns {"status": "pending_approval", "requestId": …}: tell the user and collect it with approval_status.',
    'Object names are exact paths: "..", ".", "//", a leading "/", backslashes, percent escapes and control characters are rejected (INVALID_INPUT).',
    'Errors: NOT_FOUND (no such object), POLICY_DENIED (outside what you may read), UPSTREAM_UNAVAILABLE / UPSTREAM_TIMEOUT (try again). Every call is audited.',
  ].join(' '),
  get input() {
    return input();
  },
  get output() {
    return output();
  },
  annotations: { title: 'Read bucket (governed)', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  facts(args, deps) {
    checkArgs(args);
    if (deps.storage?.hasBucket(args.bucket) !== true) throw new UnknownResourceError('bucket', args.bucket);
    const resource = { kind: 'bucket' as const, name: args.bucket };
    return args.action === 'read' ? { resource, object: args.object as string } : { resource, listPrefix: args.prefix ?? '' };
  },
  execute(args, ctx) {
    return args.action === 'list' ? list(args, ctx) : read(args, ctx);
  },
});

function storageOf(ctx: ExecuteContext): NonNullable<ExecuteContext['deps']['storage']> {
  const storage = ctx.deps.storage;
  // The bucket exists in policy (facts checked it), so a connector is configured whenever policy has buckets.
  if (storage === undefined) throw new TypeError('read_bucket: no storage connector is configured');
  return storage;
}

function upstreamCall(ctx: ExecuteContext): { signal: AbortSignal; deadline: number; timeoutMs: number; googleToken: ExecuteContext['googleToken'] } {
  return { signal: ctx.signal, deadline: Date.now() + ctx.limits.timeoutMs, timeoutMs: ctx.limits.timeoutMs, googleToken: () => ctx.googleToken() };
}

async function list(args: Input, ctx: ExecuteContext): Promise<JsonResult> {
  const prefix = args.prefix ?? '';
  const upstreamPrefix = ctx.scope.listPrefix(prefix, args.delimiter);
  const page = await storageOf(ctx).list(
    args.bucket,
    {
      prefix: upstreamPrefix,
      ...(args.delimiter === undefined ? {} : { delimiter: args.delimiter }),
      ...(args.pageToken === undefined ? {} : { pageToken: args.pageToken }),
      maxResults: args.maxResults ?? DEFAULT_LIST,
    },
    upstreamCall(ctx),
  );
  // Only names under the asked prefix that a read by this caller could reach; folders only where one could be.
  const items = page.items.filter((i) => i.name.startsWith(prefix) && ctx.scope.objectVisible(i.name));
  const prefixes = page.prefixes.filter((p) => p.startsWith(prefix) && ctx.scope.prefixVisible(p));
  const hidden = page.items.length - items.length + (page.prefixes.length - prefixes.length);
  const notes: string[] = [];
  if (hidden > 0) notes.push(`${plural(hidden, 'entry was', 'entries were')} hidden by policy.`);
  if (page.nextPageToken !== undefined) notes.push('More entries follow: call again with pageToken = nextPageToken.');
  const value = {
    bucket: args.bucket,
    action: 'list' as const,
    prefix,
    items: items.map((i) => ({ name: i.name, size: i.size, ...defined({ contentType: i.contentType, updated: i.updated, generation: i.generation }) })),
    prefixes: [...prefixes],
    ...defined({ nextPageToken: page.nextPageToken }),
    hidden,
    ...(notes.length === 0 ? {} : { note: notes.join(' ') }),
  };
  return { kind: 'json', value, text: '', render: (masked) => renderList(masked as typeof value) };
}

async function read(args: Input, ctx: ExecuteContext): Promise<JsonResult> {
  const object = args.object as string;
  const result = await storageOf(ctx).read(
    args.bucket,
    {
      object,
      ...defined({ generation: args.generation }),
      ...(args.range === undefined ? {} : { range: { start: args.range.start, ...defined({ end: args.range.end }) } }),
      maxBytes: Math.min(ctx.limits.maxBytes, MAX_READ_BYTES),
    },
    upstreamCall(ctx),
  );
  const m = result.metadata;
  const meta = { size: m.size, ...defined({ contentType: m.contentType, contentEncoding: m.contentEncoding, generation: m.generation, updated: m.updated, md5Hash: m.md5Hash, crc32c: m.crc32c }) };
  const base = { bucket: args.bucket, action: 'read' as const, object, metadata: meta, format: result.format };
  if (result.format === 'binary') {
    const value = { ...base, truncated: false, note: `Binary content (${m.contentType ?? 'unknown type'}) is not returned: only its metadata.` };
    return { kind: 'json', value, text: '', render: (masked) => renderRead(masked as typeof value) };
  }
  const format: ContentFormat = result.format;
  const next = result.truncated && result.nextStart !== undefined ? { range: { start: result.nextStart } } : undefined;
  const value = {
    ...base,
    content: result.text ?? '',
    truncated: result.truncated,
    ...(next === undefined ? {} : { next, note: `Content cut at the ${Math.min(ctx.limits.maxBytes, MAX_READ_BYTES)}-byte cap. Read on with range {"start": ${next.range.start}}.` }),
  };
  // The text is rendered from the masked value only (render): no unmasked copy of the content is built.
  return { kind: 'json', value, text: '', contentFormats: { content: format }, render: (masked) => renderRead(masked as typeof value) };
}

/** The entries of `values` that are not undefined (for optional fields under exactOptionalPropertyTypes). */
function defined<T extends Record<string, unknown>>(values: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

interface ListView {
  readonly bucket: string;
  readonly prefix: string;
  readonly items: readonly { name: string; size: number; contentType?: string; updated?: string }[];
  readonly prefixes: readonly string[];
  readonly nextPageToken?: string;
  readonly note?: string;
}

function renderList(v: ListView): string {
  const where = v.prefix === '' ? `bucket "${v.bucket}"` : `bucket "${v.bucket}" under "${v.prefix}"`;
  const lines = [`${plural(v.items.length, 'object', 'objects')} and ${plural(v.prefixes.length, 'folder', 'folders')} in ${where}:`];
  for (const p of v.prefixes) lines.push(`  ${p}  (folder)`);
  for (const i of v.items) lines.push(`  ${i.name}  ${i.size} bytes  ${i.contentType ?? '-'}  ${i.updated ?? ''}`.trimEnd());
  if (v.nextPageToken !== undefined) lines.push(`nextPageToken: ${v.nextPageToken}`);
  if (v.note !== undefined) lines.push(v.note);
  return lines.join('\n');
}

interface ReadView {
  readonly bucket: string;
  readonly object: string;
  readonly metadata: { size: number; contentType?: string; contentEncoding?: string; generation?: string };
  readonly format: string;
  readonly content?: string;
  readonly truncated: boolean;
  readonly note?: string;
}

function renderRead(v: ReadView): string {
  const m = v.metadata;
  const header = [`${v.bucket}/${v.object}`, `${m.size} bytes`, m.contentType ?? 'unknown type', ...(m.contentEncoding === undefined ? [] : [`encoding ${m.contentEncoding}`]), ...(m.generation === undefined ? [] : [`generation ${m.generation}`])].join(' · ');
  const lines = [header];
  if (v.content !== undefined) lines.push('', v.content);
  if (v.note !== undefined) lines.push('', v.note);
  return lines.join('\n');
}
