import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** A compliance key: 32 bytes for AES-256-GCM, named so that old copies stay readable after rotation. */
export interface AuditKey {
  readonly id: string;
  readonly key: Buffer;
}

export interface Keyring {
  /** New copies are sealed under this key. */
  readonly current: AuditKey;
  readonly byId: ReadonlyMap<string, AuditKey>;
}

/** An encrypted value inside an audit record. */
export interface SealedBlob {
  readonly alg: 'A256GCM';
  readonly kid: string;
  readonly iv: string;
  readonly tag: string;
  /** base64 ciphertext of the value's JSON. */
  readonly data: string;
  /** The JSON was longer than the configured cap and only its first part was sealed. */
  readonly truncated: boolean;
}

/** A compliance copy that cannot be opened: wrong or missing key, or altered ciphertext or record. */
export class RevealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RevealError';
  }
}

/** Reads key material: 32 bytes as 64 hex characters or base64 (padded or not). */
export function parseKeyMaterial(text: string, label: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) throw new TypeError(`${label}: an audit key must be 32 bytes (64 hex characters or base64); got ${key.length} bytes`);
  return key;
}

export function keyring(keys: readonly AuditKey[], currentId?: string): Keyring {
  if (keys.length === 0) throw new TypeError('keyring: at least one key is required');
  const byId = new Map(keys.map((k) => [k.id, k]));
  if (byId.size !== keys.length) throw new TypeError('keyring: key ids must be unique');
  const current = byId.get(currentId ?? (keys[0] as AuditKey).id);
  if (current === undefined) throw new TypeError(`keyring: current key "${String(currentId)}" is not among the keys`);
  return { current, byId };
}

/**
 * Encrypts `value` (as JSON) under the current key. The record id is bound as additional authenticated
 * data: a copy moved to another record does not open.
 */
export function seal(value: unknown, recordId: string, ring: Keyring, maxBytes: number): SealedBlob {
  let plain = Buffer.from(JSON.stringify(value) ?? 'null', 'utf8');
  const truncated = plain.length > maxBytes;
  if (truncated) plain = plain.subarray(0, maxBytes);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', ring.current.key, iv);
  cipher.setAAD(Buffer.from(recordId, 'utf8'));
  const data = Buffer.concat([cipher.update(plain), cipher.final()]);
  return { alg: 'A256GCM', kid: ring.current.id, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64'), truncated };
}

/** Decrypts a sealed copy; returns its JSON text (cut short when `truncated`). */
export function unseal(blob: SealedBlob, recordId: string, ring: Keyring): string {
  if (blob.alg !== 'A256GCM') throw new RevealError(`unsupported algorithm "${String(blob.alg)}"`);
  const key = ring.byId.get(blob.kid);
  if (key === undefined) throw new RevealError(`sealed under key "${blob.kid}", which is not among the configured keys (${[...ring.byId.keys()].join(', ')})`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(blob.iv, 'base64'));
    decipher.setAAD(Buffer.from(recordId, 'utf8'));
    decipher.setAuthTag(Buffer.from(blob.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(blob.data, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new RevealError(`the compliance copy of record ${recordId} does not authenticate: it, or the record id, was altered (or the key "${blob.kid}" is not the one it was sealed with)`);
  }
}
