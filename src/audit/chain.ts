import { createHash } from 'node:crypto';
import { canonicalJsonWith } from './canonical.js';
import type { AuditRecord } from './record.js';

/** The `prev` of the first record of a store. */
export const GENESIS = '0'.repeat(64);

/** Where a record sits in the store's hash chain. */
export interface ChainLink {
  /** 1 for the first record of the store, then +1 per record, across segments. */
  readonly seq: number;
  /** `hash` of the record before (GENESIS for the first). */
  readonly prev: string;
  /** SHA-256 over the canonical JSON of the record with `chain` = `{ seq, prev }`. */
  readonly hash: string;
}

export type ChainedRecord = AuditRecord & { readonly chain: ChainLink };

/** The hash a record must carry at position `seq` after `prev`. */
export function recordHash(record: AuditRecord, seq: number, prev: string): string {
  return createHash('sha256')
    .update(canonicalJsonWith(record, 'chain', { seq, prev }))
    .digest('hex');
}

/** Links a record after `prev`. */
export function link(record: AuditRecord, seq: number, prev: string): ChainedRecord {
  return { ...record, chain: { seq, prev, hash: recordHash(record, seq, prev) } };
}
