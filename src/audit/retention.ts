import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from './canonical.js';
import { GENESIS } from './chain.js';
import { AuditFormatError, listSegmentsSync, parseSegment, SEGMENT_NAME } from './segments.js';

export const TOMBSTONES_NAME = 'audit-tombstones.json';

/** What is left of segments removed by retention: enough to keep the chain verifiable, signed. */
export interface Tombstone {
  /** The removed segments, oldest first, as they were sealed. */
  readonly segments: readonly { readonly segment: string; readonly sha256: string; readonly records: number; readonly firstSeq: number }[];
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** `chain.prev` of the first removed record and `chain.hash` of the last. */
  readonly prevHash: string;
  readonly lastHash: string;
  readonly removedAt: string;
  readonly reason: string;
  readonly signature: { readonly alg: 'Ed25519'; readonly publicKey: string; readonly value: string };
}

export interface TombstoneFile {
  readonly format: 'airlock-audit-tombstones';
  readonly version: 1;
  tombstones: Tombstone[];
}

/** Ed25519 signing key from PEM (PKCS#8); the public half is what verifiers compare. */
export function signingKey(pem: string, label: string): KeyObject {
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new TypeError(`is a ${String(key.asymmetricKeyType)} key`);
    return key;
  } catch (error) {
    throw new TypeError(`${label}: an audit signing key must be an Ed25519 private key in PEM (openssl genpkey -algorithm ed25519): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** base64 of the raw 32-byte Ed25519 public key. */
export function publicKeyOf(key: KeyObject): string {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return Buffer.from(String(jwk.x), 'base64url').toString('base64');
}

function signedPart(t: Omit<Tombstone, 'signature'> | Tombstone): string {
  const rest: Record<string, unknown> = { ...t };
  delete rest.signature;
  return canonicalJson(rest);
}

/** Checks a tombstone's signature with the public key it names (compare that key with your own). */
export function tombstoneSignatureValid(t: Tombstone): boolean {
  try {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(t.signature.publicKey, 'base64').toString('base64url') }, format: 'jwk' });
    return verify(null, Buffer.from(signedPart(t)), publicKey, Buffer.from(t.signature.value, 'base64'));
  } catch {
    return false;
  }
}

export function readTombstones(dir: string): TombstoneFile {
  let text: string;
  try {
    text = readFileSync(join(dir, TOMBSTONES_NAME), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { format: 'airlock-audit-tombstones', version: 1, tombstones: [] };
    throw error;
  }
  let file: TombstoneFile;
  try {
    file = JSON.parse(text) as TombstoneFile;
  } catch (error) {
    throw new AuditFormatError(`${TOMBSTONES_NAME}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof file !== 'object' || file === null || file.format !== 'airlock-audit-tombstones' || !Array.isArray(file.tombstones)) throw new AuditFormatError(`${TOMBSTONES_NAME}: not an airlock tombstone file`);
  return file;
}

/**
 * Removes sealed segments whose day is older than `days` (the segment being written is never removed),
 * after writing a signed tombstone that describes them: `airlock audit verify` then checks that the
 * retained chain starts exactly where the tombstones end. Returns the removed segment names.
 */
export function applyRetention(dir: string, options: { readonly days: number; readonly key: KeyObject; readonly now: Date; readonly current?: string }): string[] {
  const cutoff = new Date(options.now.getTime() - options.days * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '');
  const names = listSegmentsSync(dir);
  const last = names.at(-1);
  const expired = names.filter((n) => n !== last && n !== options.current && (SEGMENT_NAME.exec(n)?.[1] ?? '99999999') < cutoff);
  if (expired.length === 0) return [];
  const file = readTombstones(dir);
  const previous = file.tombstones.at(-1);
  const removed: Tombstone['segments'][number][] = [];
  let prevHash = previous?.lastHash ?? GENESIS;
  let firstPrev: string | undefined;
  let lastSeq = previous?.lastSeq ?? 0;
  for (const name of expired) {
    const bytes = readFileSync(join(dir, name));
    const segment = parseSegment(name, bytes.toString('utf8'));
    const first = segment.records[0];
    if (first !== undefined && (first.chain.seq !== lastSeq + 1 || first.chain.prev !== prevHash)) {
      throw new TypeError(`retention stopped: ${name} does not continue the chain (run airlock audit verify); nothing was removed`);
    }
    firstPrev ??= first?.chain.prev ?? prevHash;
    removed.push({ segment: name, sha256: createHash('sha256').update(bytes).digest('hex'), records: segment.records.length, firstSeq: segment.head.firstSeq });
    const tail = segment.records.at(-1);
    if (tail !== undefined) {
      lastSeq = tail.chain.seq;
      prevHash = tail.chain.hash;
    }
  }
  const body: Omit<Tombstone, 'signature'> = {
    segments: removed,
    firstSeq: (previous?.lastSeq ?? 0) + 1,
    lastSeq,
    prevHash: firstPrev ?? GENESIS,
    lastHash: prevHash,
    removedAt: options.now.toISOString(),
    reason: `retention: segments older than ${options.days} day(s)`,
  };
  const signature = sign(null, Buffer.from(signedPart(body)), options.key).toString('base64');
  file.tombstones.push({ ...body, signature: { alg: 'Ed25519', publicKey: publicKeyOf(options.key), value: signature } });
  // The tombstone is on disk (atomically) before any segment goes.
  const tmp = join(dir, `.${TOMBSTONES_NAME}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(file, null, 1)}\n`, { mode: 0o600 });
  renameSync(tmp, join(dir, TOMBSTONES_NAME));
  for (const name of expired) unlinkSync(join(dir, name));
  return expired;
}
