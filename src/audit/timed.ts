import type { Telemetry } from '../telemetry.js';
import type { AuditRecord, AuditSink, StartedEntry } from './record.js';

/**
 * The audit sink with every write timed for the metrics: started entries and records, whether they were
 * written or failed. What is written, and every error, pass through unchanged.
 */
export function timedAuditSink(sink: AuditSink, telemetry: Telemetry): AuditSink {
  if (typeof sink?.append !== 'function' || typeof sink.start !== 'function') throw new TypeError('timedAuditSink: a sink with start() and append() is required');
  const timed = async (entry: 'started' | 'record', write: () => Promise<void>): Promise<void> => {
    const started = performance.now();
    let ok = false;
    try {
      await write();
      ok = true;
    } finally {
      telemetry.auditWrite(entry, (performance.now() - started) / 1000, ok);
    }
  };
  return {
    start: (entry: StartedEntry) => timed('started', () => sink.start(entry)),
    append: (record: AuditRecord) => timed('record', () => sink.append(record)),
  };
}
