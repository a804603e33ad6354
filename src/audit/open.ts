import { basename } from 'node:path';
import { ConfigError, type RuntimeFile } from '../config.js';
import type { Logger } from '../log.js';
import type { ChainedRecord } from './chain.js';
import type { CloudLoggingCopy } from './cloud-logging.js';
import { resolveKeyring, resolveRetentionKey } from './keys.js';
import type { AuditSink } from './record.js';
import { applyRetention } from './retention.js';
import type { Keyring } from './sealed.js';
import { JsonAuditStore } from './store.js';

export interface AuditSettings {
  /** The runtime file's `audit` section. */
  readonly config: RuntimeFile['audit'];
  readonly dir: string;
  readonly segmentBytes: number;
  readonly fsync: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
}

/** The audit as a running airlock holds it: where records go, the compliance keys, and how to stop. */
export interface OpenAudit {
  readonly sink: AuditSink;
  /** Encrypted compliance copies of unmasked results (when configured). */
  readonly compliance?: { readonly keyring: Keyring; readonly maxBytes: number };
  /** Bytes the store holds: the journal and segments of the JSON store, the table of the PostgreSQL one. */
  sizeBytes(): Promise<number>;
  /** Stops retention, closes the store, then the Cloud Logging copy (so the last records are copied too). */
  close(): Promise<void>;
}

/**
 * Opens the configured audit: the PostgreSQL store (several replicas) or the JSON store in `dir`, with its
 * optional copy to Cloud Logging, retention of old segments and compliance keys. Every problem is a
 * ConfigError naming the setting.
 */
export async function openAudit(settings: AuditSettings): Promise<OpenAudit> {
  const { config, env, log } = settings;
  const complianceConfig = config?.compliance;
  const compliance = complianceConfig === undefined ? undefined : { keyring: resolveKeyring(complianceConfig, env), maxBytes: complianceConfig.maxBytes };
  const cloudLogging = config?.cloudLogging;
  // The Cloud Logging copy and the PostgreSQL store load only when configured.
  const copy: CloudLoggingCopy | undefined =
    cloudLogging === undefined
      ? undefined
      : new (await import('./cloud-logging.js')).CloudLoggingCopy({
          projectId: cloudLogging.projectId,
          logName: cloudLogging.logName,
          ...(cloudLogging.emulator === undefined ? {} : { emulator: cloudLogging.emulator }),
          onError: (error) => log('warn', `audit copy to Cloud Logging: ${error instanceof Error ? error.message : String(error)} (records are safe in the audit store; retrying)`),
        });
  const onRecord = copy === undefined ? undefined : (record: ChainedRecord): void => copy.copy(record);
  let store: (AuditSink & { close(): Promise<void>; sizeBytes(): Promise<number> }) | undefined;
  let stopRetention = (): void => undefined;
  try {
    const pg = config?.postgres;
    if (pg !== undefined) {
      const url = env[pg.url.slice('env:'.length)];
      if (url === undefined || url === '') throw new ConfigError(`audit.postgres.url: ${pg.url} is not set`);
      if (config?.retention !== undefined) throw new ConfigError("audit.retention applies to the JSON store; with audit.postgres, expire rows with the database's own tools");
      const { PgAuditStore } = await import('./pg-store.js');
      const pgStore = await PgAuditStore.open({ url, table: pg.table, ...(pg.replica === undefined ? {} : { replica: pg.replica }), ...(onRecord === undefined ? {} : { onRecord }), onSweepError: (error) => log('warn', `audit: looking for calls left open by stopped replicas failed (retrying at the next sweep): ${String(error)}`) });
      log('info', `audit log: ${pgStore.description}`);
      store = pgStore;
    } else {
      const json = await JsonAuditStore.open(settings.dir, {
        segmentBytes: settings.segmentBytes,
        fsync: settings.fsync,
        onError: (error) => log('warn', `audit: moving journalled records to a segment failed (they stay in the journal; retrying): ${String(error)}`),
        ...(onRecord === undefined ? {} : { onRecord }),
      });
      log('info', `audit log: ${json.dir} (journal.jsonl, then hash-chained segments audit-YYYYMMDD-NNN.json${settings.fsync ? '; fsync on every write' : ''})`);
      store = json;
      if (config?.retention !== undefined) stopRetention = startRetention(json, config.retention, env, log);
    }
  } catch (error) {
    await store?.close().catch(() => undefined);
    await copy?.close();
    throw error;
  }
  const opened = store;
  if (copy !== undefined) log('info', `audit: every record is also copied to Cloud Logging (project ${cloudLogging?.projectId ?? ''}, log ${cloudLogging?.logName ?? ''}${cloudLogging?.emulator === undefined ? '' : `, local server ${cloudLogging.emulator}`})`);
  if (compliance !== undefined) log('info', `audit: unmasked results sealed with AES-256-GCM under key "${compliance.keyring.current.id}" (airlock audit reveal ID --config …)`);
  return {
    sink: opened,
    ...(compliance === undefined ? {} : { compliance }),
    sizeBytes: () => opened.sizeBytes(),
    async close() {
      stopRetention();
      try {
        await opened.close();
      } finally {
        await copy?.close();
      }
    },
  };
}

type Retention = NonNullable<NonNullable<RuntimeFile['audit']>['retention']>;

/** Removes sealed segments older than the retention now and every hour; returns the stop function. */
function startRetention(store: JsonAuditStore, retention: Retention, env: Readonly<Record<string, string | undefined>>, log: Logger): () => void {
  const { key, publicKey } = resolveRetentionKey(retention, env);
  const retain = (): void => {
    try {
      const removed = applyRetention(store.dir, { days: retention.days, key, now: new Date(), current: basename(store.path) });
      if (removed.length > 0) log('info', `audit retention: removed ${removed.length} segment(s) older than ${retention.days} day(s), tombstone signed by ${publicKey}`);
    } catch (error) {
      log('warn', `audit retention: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  retain();
  const timer = setInterval(retain, 60 * 60 * 1000);
  timer.unref();
  log('info', `audit retention: ${retention.days} day(s); tombstones signed by Ed25519 key ${publicKey}`);
  return () => clearInterval(timer);
}
