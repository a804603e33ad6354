import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type pg from 'pg';

/** pg's own conversion of JS values to wire parameters (Dates, Buffers, arrays, objects as JSON). */
const prepareValue = (createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (v: unknown) => unknown }).prepareValue;

export interface PortalField {
  readonly name: string;
  readonly dataTypeID: number;
  readonly format: string;
}

export interface TypeParsers {
  getTypeParser(oid: number, format?: string): (value: string) => unknown;
}

/** What one batch brought back. */
export interface PortalBatchResult {
  readonly rows: unknown[][];
  /** The portal has more rows (PortalSuspended). */
  readonly suspended: boolean;
  /** Rows affected, from CommandComplete (`UPDATE 3` → 3); null when the server gave none. */
  readonly rowCount: number | null;
  /** Values the row guard cut short (kept as the server's text, unparsed). */
  readonly cutValues: number;
  /** The request's `end` statement ran to completion: the transaction is over and the connection idle. */
  readonly ended: boolean;
}

/** Row metadata shared by the batches of one portal (only the first batch describes it). */
export class PortalShape {
  fields: PortalField[] = [];
  parsers: ((value: string) => unknown)[] = [];
  constructor(readonly types: TypeParsers) {}

  describe(fields: readonly PortalField[]): void {
    this.fields = [...fields];
    this.parsers = fields.map((f) => this.types.getTypeParser(f.dataTypeID, f.format));
  }
}

interface Connection {
  stream: { cork?: () => void; uncork?: () => void };
  parse(config: { text: string }): void;
  bind(config: { portal: string; statement: string; values: unknown[] }): void;
  describe(config: { type: 'P'; name: string }): void;
  execute(config: { portal: string; rows: number }): void;
  sync(): void;
  sendCopyFail(message: string): void;
}

/**
 * One round trip of the extended query protocol on a named portal, as a pg `Submittable`. The first batch
 * sends airlock's preamble (each statement Parse + Bind + Execute), then Parse + Bind + Describe +
 * Execute(rows) + Sync for the statement, in one write; later batches send Execute(rows) + Sync
 * on the same portal, which lives until the transaction ends (airlock always runs inside BEGIN … ROLLBACK
 * or COMMIT, so no Close is needed). pg-cursor needs two or three round trips for the same first batch.
 * A batch that is sure to be the last may carry the transaction's end (`end`, e.g. ROLLBACK) before its Sync:
 * the server runs it only if everything before it succeeded, so the answer and the idle connection come back
 * in the same round trip.
 */
export class PortalBatch extends EventEmitter implements pg.Submittable {
  private readonly rows: unknown[][] = [];
  private suspended = false;
  private rowCount: number | null = null;
  private cutValues = 0;
  private parseError: unknown;
  private done = false;
  /** CommandComplete messages still expected from the preamble before the statement's own. */
  private preambleLeft: number;
  /** The statement's own completion (or suspension) was seen: a later CommandComplete is the end's. */
  private statementDone = false;
  private ended = false;

  constructor(
    private readonly request: {
      readonly portal: string;
      readonly rows: number;
      readonly shape: PortalShape;
      /** First batch only: the statement, its parameters, and airlock's own statements to run before it. */
      readonly first?: { readonly text: string; readonly values: readonly unknown[]; readonly preamble?: readonly string[] };
      /** A statement that ends the transaction after this batch's rows, in the same write (last batch only). */
      readonly end?: string;
    },
    private readonly callback: (error: Error | undefined, result?: PortalBatchResult) => void,
  ) {
    super();
    this.preambleLeft = request.first?.preamble?.length ?? 0;
  }

  submit(connection: pg.Connection): void {
    const con = connection as unknown as Connection;
    con.stream.cork?.();
    try {
      const first = this.request.first;
      if (first !== undefined) {
        // airlock's statements (BEGIN, SET LOCAL …) ride in the same write: one round trip, one Sync.
        for (const text of first.preamble ?? []) {
          con.parse({ text });
          con.bind({ portal: '', statement: '', values: [] });
          con.execute({ portal: '', rows: 0 });
        }
        con.parse({ text: first.text });
        con.bind({ portal: this.request.portal, statement: '', values: first.values.map(prepareValue) });
        con.describe({ type: 'P', name: this.request.portal });
      }
      con.execute({ portal: this.request.portal, rows: this.request.rows });
      if (this.request.end !== undefined) {
        con.parse({ text: this.request.end });
        con.bind({ portal: '', statement: '', values: [] });
        con.execute({ portal: '', rows: 0 });
      }
      con.sync();
    } finally {
      con.stream.uncork?.();
    }
  }

  handleRowDescription(msg: { fields: PortalField[] }): void {
    this.request.shape.describe(msg.fields);
  }

  handleDataRow(msg: { fields: (string | null)[] }): void {
    if (this.parseError !== undefined) return;
    const parsers = this.request.shape.parsers;
    const width = this.request.shape.fields.length;
    let values = msg.fields;
    let cut: Set<number> | undefined;
    try {
      if (values.length > width) {
        // One field more than described: the row guard's list of the values it cut ([column, bytes]).
        const cuts = JSON.parse(values[width] ?? '[]') as [number, number][];
        cut = new Set(cuts.map((c) => c[0]));
        this.cutValues += cuts.length;
        values = values.slice(0, width);
      }
      // The driver makes a fresh array per DataRow and hands it to this query alone: converted in place (no
      // second array and no closure per row). A cut value would not parse as its type (half a JSON
      // document): it stays the server's text.
      const row = values as unknown[];
      for (let i = 0; i < row.length; i++) {
        const value = values[i];
        if (value !== null && value !== undefined && cut?.has(i) !== true) row[i] = (parsers[i] as (v: string) => unknown)(value);
      }
      this.rows.push(row);
    } catch (error) {
      this.parseError = error;
    }
  }

  handlePortalSuspended(): void {
    this.suspended = true;
    this.statementDone = true;
  }

  handleCommandComplete(msg: { text?: string; command?: string }): void {
    if (this.preambleLeft > 0) {
      this.preambleLeft--;
      return;
    }
    if (this.statementDone) {
      this.ended = true;
      return;
    }
    this.statementDone = true;
    const count = /\s(\d+)$/.exec(msg.text ?? msg.command ?? '');
    this.rowCount = count === null ? null : Number(count[1]);
  }

  handleEmptyQuery(): void {
    this.rowCount = null;
    this.statementDone = true;
  }

  handleCopyInResponse(connection: pg.Connection): void {
    // The classifier never lets COPY … FROM STDIN through; refuse it at the protocol too.
    (connection as unknown as Connection).sendCopyFail('airlock does not accept COPY FROM STDIN');
  }

  handleCopyData(): void {
    // COPY TO STDOUT data is not returned by query_sql.
  }

  handleError(error: unknown): void {
    this.finish(error instanceof Error ? error : new Error(`PostgreSQL protocol error: ${JSON.stringify(error)}`));
  }

  handleReadyForQuery(): void {
    if (this.parseError !== undefined) this.finish(this.parseError instanceof Error ? this.parseError : new Error('a value could not be read'));
    else this.finish(undefined, { rows: this.rows, suspended: this.suspended, rowCount: this.rowCount, cutValues: this.cutValues, ended: this.ended });
  }

  private finish(error: Error | undefined, result?: PortalBatchResult): void {
    if (this.done) return;
    this.done = true;
    this.callback(error, result);
  }
}
