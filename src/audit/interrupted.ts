import { createHash } from 'node:crypto';
import type { AuditRecord, StartedEntry } from './record.js';

/** What a started call becomes when airlock stopped before its outcome was recorded. */
export function interruptedRecord(entry: StartedEntry, detectedAt: Date): AuditRecord {
  return {
    ...entry,
    // How long it ran before airlock stopped is not known.
    durationMs: 0,
    downstream: [],
    outcome: 'interrupted',
    error: {
      code: 'INTERRUPTED',
      message: 'airlock stopped while this call was running; its outcome is unknown.',
      detail: `started ${entry.time}; found without an outcome in the audit journal at ${detectedAt.toISOString()}`,
    },
    result: null,
    response: { sha256: createHash('sha256').update('').digest('hex'), bytes: 0, truncated: false },
  };
}

