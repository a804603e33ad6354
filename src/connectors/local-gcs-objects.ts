/**
 * The file side of the loopback Cloud Storage server: bucket and object names checked against the directory
 * they map to, object metadata in the JSON API's shape, and the listing with prefix, delimiter and pages.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';

/** A name that can never map to a file: answered 400 before the file system is touched. */
export class InvalidNameError extends Error {}

/** What the JSON API calls an object resource (the fields the client and airlock read). */
export interface GcsObject {
  readonly kind: 'storage#object';
  readonly id: string;
  readonly selfLink: string;
  readonly mediaLink: string;
  readonly name: string;
  readonly bucket: string;
  readonly generation: string;
  readonly metageneration: '1';
  readonly contentType: string;
  readonly contentEncoding?: 'gzip';
  readonly storageClass: 'STANDARD';
  readonly size: string;
  readonly md5Hash: string;
  readonly crc32c: string;
  readonly etag: string;
  readonly timeCreated: string;
  readonly updated: string;
}

/** One object on disk: its resource and the real file that holds its stored bytes. */
export interface StoredObject {
  readonly file: string;
  readonly meta: GcsObject;
}

// Bucket naming rules of Cloud Storage (3–63 characters, lowercase, digits, `-`, `_`, `.`; no `..`).
const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

/** Checks a bucket name; it becomes one directory under the root, so it must be one plain segment. */
export function checkBucketName(name: string): string {
  if (!BUCKET_NAME.test(name) || name.includes('..')) throw new InvalidNameError(`Invalid bucket name: '${name}'`);
  return name;
}

/**
 * Checks an object name (already decoded once) and returns its path segments. Cloud Storage accepts `..`
 * and `//` in names; a directory cannot hold them, so they are refused here rather than resolved.
 */
export function objectSegments(name: string): string[] {
  if (name.length === 0 || Buffer.byteLength(name) > 1024) throw new InvalidNameError('Invalid object name');
  if (/[\0\r\n\\]/.test(name)) throw new InvalidNameError('Invalid object name');
  const segments = name.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) throw new InvalidNameError('Invalid object name');
  return segments;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.txt': 'text/plain',
  '.log': 'text/plain',
  '.csv': 'text/csv',
  '.tsv': 'text/tab-separated-values',
  '.json': 'application/json',
  '.ndjson': 'application/x-ndjson',
  '.jsonl': 'application/x-ndjson',
  '.html': 'text/html',
  '.xml': 'application/xml',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.pdf': 'application/pdf',
};

/**
 * Content type and encoding of a stored file. A `.gz` file is an object stored gzip with
 * `contentEncoding: gzip` (as `gcloud storage cp --gzip-local-all` uploads it); its type is that of the
 * name without `.gz`.
 */
export function typeOf(name: string): { contentType: string; contentEncoding?: 'gzip' } {
  const gzip = name.endsWith('.gz');
  const inner = gzip ? name.slice(0, -3) : name;
  const contentType = CONTENT_TYPES[extname(inner).toLowerCase()] ?? 'application/octet-stream';
  return gzip ? { contentType, contentEncoding: 'gzip' } : { contentType };
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32cUpdate(crc: number, chunk: Buffer): number {
  let c = crc ^ 0xffffffff;
  for (const byte of chunk) c = (CRC32C_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** md5 and crc32c of the stored bytes, base64 as the JSON API and `x-goog-hash` carry them. */
async function hashes(file: string): Promise<{ md5Hash: string; crc32c: string }> {
  const md5 = createHash('md5');
  let crc = 0;
  for await (const chunk of createReadStream(file)) {
    const buf = chunk as Buffer;
    md5.update(buf);
    crc = crc32cUpdate(crc, buf);
  }
  const crcBytes = Buffer.alloc(4);
  crcBytes.writeUInt32BE(crc);
  return { md5Hash: md5.digest('base64'), crc32c: crcBytes.toString('base64') };
}

// Hashes are cached per file version so that listing and ranged reads of large objects do not re-read them.
const hashCache = new Map<string, { key: string; value: { md5Hash: string; crc32c: string } }>();

async function cachedHashes(file: string, key: string): Promise<{ md5Hash: string; crc32c: string }> {
  const hit = hashCache.get(file);
  if (hit?.key === key) return hit.value;
  const value = await hashes(file);
  hashCache.set(file, { key, value });
  return value;
}

function isInside(dir: string, path: string): boolean {
  return path.startsWith(dir + sep);
}

/** The real directory of a bucket, or undefined when there is none inside the root. */
export async function bucketDir(root: string, bucket: string): Promise<string | undefined> {
  try {
    const dir = await realpath(join(root, checkBucketName(bucket)));
    if (!isInside(root, dir) || !(await stat(dir)).isDirectory()) return undefined;
    return dir;
  } catch (err) {
    if (err instanceof InvalidNameError) throw err;
    return undefined;
  }
}

/**
 * Resolves one object to its file and metadata; undefined when it does not exist. A symbolic link is
 * followed only while its target stays inside the bucket's directory.
 */
export async function statObject(baseUrl: string, bucket: string, dir: string, name: string): Promise<StoredObject | undefined> {
  const segments = objectSegments(name);
  let file: string;
  try {
    file = await realpath(join(dir, ...segments));
  } catch {
    return undefined;
  }
  if (!isInside(dir, file)) return undefined;
  const st = await stat(file);
  if (!st.isFile()) return undefined;
  const generation = String(Math.floor(st.mtimeMs * 1000));
  const { md5Hash, crc32c } = await cachedHashes(file, `${generation}:${st.size}`);
  const encoded = encodeURIComponent(name);
  return {
    file,
    meta: {
      kind: 'storage#object',
      id: `${bucket}/${name}/${generation}`,
      selfLink: `${baseUrl}/storage/v1/b/${bucket}/o/${encoded}`,
      mediaLink: `${baseUrl}/download/storage/v1/b/${bucket}/o/${encoded}?generation=${generation}&alt=media`,
      name,
      bucket,
      generation,
      metageneration: '1',
      ...typeOf(name),
      storageClass: 'STANDARD',
      size: String(st.size),
      md5Hash,
      crc32c,
      etag: `${md5Hash}`,
      timeCreated: st.birthtime.toISOString(),
      updated: st.mtime.toISOString(),
    },
  };
}

/** Every object name in a bucket, sorted as Cloud Storage lists them. Links that leave the bucket are skipped. */
export async function allNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  async function walk(path: string, prefix: string): Promise<void> {
    for (const entry of await readdir(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      const name = prefix + entry.name;
      if (entry.isDirectory()) {
        await walk(full, `${name}/`);
      } else if (entry.isFile()) {
        names.push(name);
      } else if (entry.isSymbolicLink()) {
        // Linked directories are not walked (no loops); linked files only when they stay in the bucket.
        const target = await realpath(full).catch(() => undefined);
        if (target !== undefined && isInside(dir, target) && (await stat(target)).isFile()) names.push(name);
      }
    }
  }
  await walk(dir, '');
  return names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** One page of a listing: names and common prefixes in order, and where the next page starts. */
export interface ListPage {
  readonly items: string[];
  readonly prefixes: string[];
  readonly nextPageToken?: string;
}

/**
 * Applies `prefix`, `delimiter`, `pageToken` and `maxResults` as the JSON API does: names and collapsed
 * prefixes are one ordered sequence, `maxResults` counts both, and the token is opaque (the last key given).
 */
export function listPage(names: readonly string[], q: { prefix: string; delimiter: string; pageToken?: string; maxResults: number }): ListPage {
  const entries: { key: string; prefix: boolean }[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    if (!name.startsWith(q.prefix)) continue;
    const at = q.delimiter === '' ? -1 : name.indexOf(q.delimiter, q.prefix.length);
    if (at === -1) {
      entries.push({ key: name, prefix: false });
    } else {
      const key = name.slice(0, at + q.delimiter.length);
      if (!seen.has(key)) {
        seen.add(key);
        entries.push({ key, prefix: true });
      }
    }
  }
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  const after = q.pageToken === undefined ? undefined : Buffer.from(q.pageToken, 'base64url');
  const start = after === undefined ? 0 : entries.findIndex((e) => Buffer.compare(Buffer.from(e.key), after) > 0);
  const page = start === -1 ? [] : entries.slice(start, start + q.maxResults);
  const more = start !== -1 && start + q.maxResults < entries.length;
  const last = page.at(-1);
  return {
    items: page.filter((e) => !e.prefix).map((e) => e.key),
    prefixes: page.filter((e) => e.prefix).map((e) => e.key),
    ...(more && last !== undefined ? { nextPageToken: Buffer.from(last.key).toString('base64url') } : {}),
  };
}
