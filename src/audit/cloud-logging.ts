import type { Entry, Log } from '@google-cloud/logging';
import type { ChainedRecord } from './chain.js';

export interface CloudLoggingCopyOptions {
  readonly projectId: string;
  /** Log name in the project (default `airlock-audit`). */
  readonly logName?: string;
  /**
   * A local Logging server (`127.0.0.1:PORT`): plaintext gRPC, no credentials. Loopback only — for
   * tests and emulators; production uses airlock's own Application Default Credentials over TLS.
   */
  readonly emulator?: string;
  /** How long records wait to be written together (default 1 s). */
  readonly batchMs?: number;
  /** Records kept while Cloud Logging is unreachable; beyond it the oldest copies are dropped and counted. */
  readonly maxQueue?: number;
  readonly onError?: (error: unknown) => void;
}

const SEVERITY: Readonly<Record<string, string>> = {
  ok: 'INFO',
  cancelled: 'INFO',
  denied: 'NOTICE',
  approval_required: 'NOTICE',
  invalid: 'WARNING',
  unknown_tool: 'WARNING',
  unauthenticated: 'WARNING',
  error: 'ERROR',
  timed_out: 'ERROR',
  interrupted: 'ERROR',
};

/**
 * Copies every audit record to Cloud Logging, so it reaches the organisation's log sinks and BigQuery.
 * It is a copy: the audit store stays the record of truth and the call never waits for it. Records are
 * batched, retried while Cloud Logging is down, and written with the record id as `insertId` (Cloud
 * Logging drops duplicates of a retried write).
 */
export class CloudLoggingCopy {
  private readonly log: Promise<Log>;
  private readonly batchMs: number;
  private readonly maxQueue: number;
  private readonly onError: (error: unknown) => void;
  private queue: ChainedRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private dropped = 0;

  constructor(options: CloudLoggingCopyOptions) {
    this.batchMs = options.batchMs ?? 1000;
    this.maxQueue = options.maxQueue ?? 10_000;
    this.onError = options.onError ?? (() => undefined);
    let emulator: { host: string; port: number } | undefined;
    if (options.emulator !== undefined) {
      const [host = '', port = ''] = options.emulator.split(':');
      if (!['127.0.0.1', 'localhost', '[::1]'].includes(host) || !/^\d+$/.test(port)) {
        throw new TypeError(`audit.cloudLogging.emulator: "${options.emulator}" must be a loopback host:port`);
      }
      emulator = { host, port: Number(port) };
    }
    // The client libraries cost a noticeable part of a second to import: they load in the background here,
    // and the first batch waits for them (records queue meanwhile, as they do while Cloud Logging is down).
    this.log = openLog(options, emulator);
    this.log.catch(() => undefined);
  }

  /** Queues a durable record for the copy. Never throws, never waits. */
  copy(record: ChainedRecord): void {
    this.queue.push(record);
    if (this.queue.length > this.maxQueue) {
      const over = this.queue.length - this.maxQueue;
      this.queue.splice(0, over);
      this.dropped += over;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.batchMs);
    this.timer.unref();
  }

  /** Writes what is queued; on failure the records stay queued for the next attempt. */
  flush(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const batch = this.queue;
      if (batch.length === 0) return;
      this.queue = [];
      // Nothing awaits a timer's flush: a record the client cannot turn into an entry must not reject it.
      let log: Log;
      let entries: Entry[];
      try {
        log = await this.log;
        entries = batch.map((r) =>
        log.entry(
          {
            severity: SEVERITY[r.outcome] ?? 'DEFAULT',
            timestamp: new Date(r.time),
            insertId: r.id,
            labels: { tool: r.tool, outcome: r.outcome, session: r.sessionId, principal: r.principal?.email ?? r.principal?.sub ?? '', seq: String(r.chain.seq) },
          },
          r,
        ),
        );
      } catch (error) {
        this.onError(error);
        return;
      }
      try {
        // One attempt per flush with a deadline: this copy retries on its own schedule, never for long.
        await log.write(entries, { gaxOptions: { retry: null, timeout: 10_000 } });
        if (this.dropped > 0) {
          this.onError(new Error(`Cloud Logging copy: ${this.dropped} record(s) were dropped while it was unreachable (they are in the audit store)`));
          this.dropped = 0;
        }
      } catch (error) {
        this.queue = [...batch, ...this.queue].slice(-this.maxQueue);
        this.onError(error);
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          void this.flush();
        }, Math.max(this.batchMs, 1000) * 5);
        this.timer.unref();
      }
    });
    return this.writing;
  }

  /** Writes what is left (one attempt). */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

/** The Cloud Logging client for the copy: the local server without credentials, or Cloud Logging with ADC. */
async function openLog(options: CloudLoggingCopyOptions, emulator: { host: string; port: number } | undefined): Promise<Log> {
  const { Logging } = await import('@google-cloud/logging');
  let logging: InstanceType<typeof Logging>;
  if (emulator !== undefined) {
    const [{ PassThroughClient }, { grpc }] = await Promise.all([import('google-auth-library'), import('google-gax')]);
    // gRPC options (sslCreds) pass through to the gax client; LoggingOptions does not list them.
    const local = { projectId: options.projectId, apiEndpoint: emulator.host, port: emulator.port, sslCreds: grpc.credentials.createInsecure(), authClient: new PassThroughClient() };
    logging = new Logging(local);
  } else {
    logging = new Logging({ projectId: options.projectId });
  }
  // The monitored resource is airlock's own, stated rather than detected (no metadata-server probe).
  logging.detectedResource = { type: 'global', labels: { project_id: options.projectId } };
  return logging.log(options.logName ?? 'airlock-audit', { removeCircular: true });
}
