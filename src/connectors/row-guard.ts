/**
 * A bound on what the PostgreSQL driver reads, applied to the bytes before its protocol parser sees them.
 * The parser buffers a whole message and turns each value into one string: a row of 100 MB costs ~1 GB,
 * and a value over V8's string limit (~512 MB) throws out of the socket's data handler and ends the
 * process. Here a DataRow larger than the call's byte cap is rewritten on the fly with each value cut
 * (on a UTF-8 boundary) so the row fits, and one extra field lists what was cut; the rest of the value is
 * skipped as it streams past, never buffered. Any other message over the hard limit ends the connection
 * (the call fails, not the process).
 */

const DATA_ROW = 0x44; // 'D'
/** Every value keeps at least this much, so the columns after a huge one still show their start. */
const MIN_KEEP = 256;

/** A message from the server larger than airlock reads. */
export class OversizedMessageError extends Error {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`PostgreSQL sent a message of ${bytes} bytes, over the ${limit}-byte limit airlock reads`);
    this.name = 'OversizedMessageError';
  }
}

/** Largest message of any kind read whole (and the row bound outside a governed read), by default. */
export const HARD_LIMIT = 64 * 1024 * 1024;

/** What one cut value was: its column and its size on the wire. */
export type CutValue = readonly [column: number, bytes: number];

type Mode = 'header' | 'pass' | 'count' | 'length' | 'value';

/** Drops the bytes of a trailing character that the cut split. */
function utf8Whole(buf: Buffer): Buffer {
  for (let j = buf.length - 1; j >= 0 && j >= buf.length - 4; j--) {
    const b = buf[j] as number;
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return buf.length - j < need ? buf.subarray(0, j) : buf;
  }
  return buf;
}

/** The streaming rewriter for one connection. `limit` is the row budget of the statement running now. */
export class RowGuard {
  /** The row budget now: the statement's byte cap while a governed read runs, else `hardLimit`. */
  limit: number;

  constructor(readonly hardLimit: number = HARD_LIMIT) {
    if (!(hardLimit >= 1024)) throw new TypeError('RowGuard: hardLimit must be at least 1024 bytes');
    this.limit = hardLimit;
  }

  private mode: Mode = 'header';
  private readonly small = Buffer.alloc(5);
  private fill = 0;
  /** Bytes of the current message still to come. */
  private left = 0;
  // The oversized row being rewritten.
  private fieldCount = 0;
  private field = 0;
  private used = 0;
  private values: (Buffer | null)[] = [];
  private cuts: CutValue[] = [];
  private valueLeft = 0;
  private valueSize = 0;
  private keep = 0;
  private kept: Buffer[] = [];
  private keptBytes = 0;

  /**
   * The bytes to hand to the driver's parser for `chunk`. Messages within bounds go through as runs of
   * the chunk itself (no copy, one piece for a chunk of small rows); an oversized row comes out rewritten.
   */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    let run = 0;
    while (i < chunk.length) {
      if (this.mode === 'pass') {
        const n = Math.min(this.left, chunk.length - i);
        i += n;
        this.left -= n;
        if (this.left === 0) this.mode = 'header';
      } else if (this.mode === 'header' && this.fill === 0 && chunk.length - i >= 5) {
        const body = chunk.readInt32BE(i + 1) - 4;
        if (chunk[i] === DATA_ROW && body > this.limit) {
          if (i > run) out.push(chunk.subarray(run, i));
          i += 5;
          run = i;
          this.startRow(body);
        } else {
          if (body > this.hardLimit) throw new OversizedMessageError(body + 5, this.hardLimit);
          i += 5;
          this.left = body;
          this.mode = body > 0 ? 'pass' : 'header';
        }
      } else {
        // A header, count or length split across chunks, or a row being rewritten: nothing of it passes as is.
        if (i > run) out.push(chunk.subarray(run, i));
        i = this.step(chunk, i, out);
        run = i;
      }
    }
    if (i > run) out.push(chunk.subarray(run, i));
    return out;
  }

  private startRow(body: number): void {
    this.left = body;
    this.used = 0;
    this.values = [];
    this.cuts = [];
    this.mode = 'count';
  }

  /** One step of a split header or of a row being rewritten; returns where it stopped in `chunk`. */
  private step(chunk: Buffer, from: number, out: Buffer[]): number {
    let i = from;
    if (this.mode === 'value') {
      const n = Math.min(this.valueLeft, chunk.length - i);
      const take = Math.min(n, this.keep - this.keptBytes);
      if (take > 0) {
        this.kept.push(Buffer.from(chunk.subarray(i, i + take)));
        this.keptBytes += take;
      }
      i += n;
      this.valueLeft -= n;
      this.left -= n;
      if (this.valueLeft === 0) this.endValue(out);
      return i;
    }
    const want = this.mode === 'header' ? 5 : this.mode === 'count' ? 2 : 4;
    const n = Math.min(want - this.fill, chunk.length - i);
    chunk.copy(this.small, this.fill, i, i + n);
    this.fill += n;
    i += n;
    if (this.fill < want) return i;
    this.fill = 0;
    if (this.mode === 'header') {
      const body = this.small.readInt32BE(1) - 4;
      if (this.small[0] === DATA_ROW && body > this.limit) this.startRow(body);
      else {
        if (body > this.hardLimit) throw new OversizedMessageError(body + 5, this.hardLimit);
        out.push(Buffer.from(this.small));
        this.left = body;
        this.mode = body > 0 ? 'pass' : 'header';
      }
    } else if (this.mode === 'count') {
      this.left -= 2;
      this.fieldCount = this.small.readInt16BE(0);
      this.field = 0;
      if (this.fieldCount <= 0) this.endRow(out);
      else this.mode = 'length';
    } else {
      this.left -= 4;
      const size = this.small.readInt32BE(0);
      if (size < 0) this.nextField(null, out);
      else {
        this.valueSize = size;
        this.valueLeft = size;
        this.keep = Math.min(size, Math.max(this.limit - this.used, MIN_KEEP));
        this.kept = [];
        this.keptBytes = 0;
        this.mode = 'value';
        if (size === 0) this.endValue(out);
      }
    }
    return i;
  }

  private endValue(out: Buffer[]): void {
    let value: Buffer = Buffer.concat(this.kept, this.keptBytes);
    if (value.length < this.valueSize) {
      value = utf8Whole(value);
      this.cuts.push([this.field, this.valueSize]);
    }
    this.kept = [];
    this.used += value.length;
    this.nextField(value, out);
  }

  private nextField(value: Buffer | null, out: Buffer[]): void {
    this.values.push(value);
    this.field++;
    if (this.field >= this.fieldCount) this.endRow(out);
    else this.mode = 'length';
  }

  /** Emits the rewritten row: its values, then (when something was cut) a field naming the cuts. */
  private endRow(out: Buffer[]): void {
    const fields = this.cuts.length > 0 ? [...this.values, Buffer.from(JSON.stringify(this.cuts))] : this.values;
    let size = 4 + 2;
    for (const f of fields) size += 4 + (f?.length ?? 0);
    const head = Buffer.alloc(7);
    head[0] = DATA_ROW;
    head.writeInt32BE(size, 1);
    head.writeInt16BE(fields.length, 5);
    out.push(head);
    for (const f of fields) {
      const len = Buffer.alloc(4);
      len.writeInt32BE(f === null ? -1 : f.length, 0);
      out.push(len);
      if (f !== null && f.length > 0) out.push(f);
    }
    this.values = [];
    this.cuts = [];
    // The row's own length and its fields must agree; anything else would desynchronise the parser.
    if (this.left !== 0) throw new Error('PostgreSQL sent a malformed DataRow');
    this.mode = 'header';
  }
}
