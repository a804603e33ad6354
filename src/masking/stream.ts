/**
 * Masking for text that arrives in chunks (a log tail, an object read in pieces). A token split across
 * chunks must still be found, so the stream never emits text whose findings more text could still change:
 * it holds back the last line (no token but a PEM block, a CSV record or a YAML block value runs past a
 * line break) and at least the last LINE_MARGIN characters, or, when that line is longer than `window`,
 * only the last `window` characters (longer than any token but a PEM block). While a `-----BEGIN` block is
 * open, everything from its BEGIN is held, up to `pemHold` characters (a private key or a service-account
 * key file can be kilobytes). Emitted text never ends inside a finding. Each scan also sees the 256
 * characters before it, so a key name already emitted still gives its value context. Text is scanned
 * once a window's worth of it has arrived, so what is held back and scanned again is small beside what
 * is scanned for the first time: each character is scanned about once. A stream that starts with a CSV
 * header keeps the header's column context for every later record (cuts then fall between records); one
 * that does not is never taken for CSV later. Any error ends the stream: nothing more is emitted.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { MaskingFailedError } from '../errors.js';
import { lastRecordStart, type CsvHeader } from './csv.js';
import { MaskContext, type Finding, type Masker } from './masker.js';

export interface MaskingStreamOptions {
  /** Characters held back for tokens split across chunks (default 16 KiB; JWTs reach ~12 KB). */
  readonly window?: number;
  /** How far an open `-----BEGIN` block is held back before it is masked as truncated (default 64 KiB). */
  readonly pemHold?: number;
  /** Shared placeholders and counts (default: one context for the whole stream). */
  readonly context?: MaskContext;
}

export interface MaskedChunk {
  /** Masked text to emit now (may be empty while text is held back). */
  readonly masked: string;
  /** Findings in this text, with offsets into the whole original stream (JS string indices). */
  readonly findings: readonly Finding[];
}

/** Key names and similar left context a detector looks back at. */
const LEFT_CONTEXT = 256;
/**
 * Characters kept after the last line break before a cut: a finding that ends a line may still take the
 * line breaks after it (a key file's `private_key` value ends with its newlines).
 */
const LINE_MARGIN = 64;
const BEGIN = '-----BEGIN ';
const END = '-----END ';

export class MaskingStream {
  readonly context: MaskContext;
  private readonly masker: Masker;
  private readonly window: number;
  private readonly pemHold: number;
  /** Original text not yet emitted; it starts at `base` in the stream. */
  private pending = '';
  private base = 0;
  /** Up to LEFT_CONTEXT original characters just before `pending` (already emitted). */
  private left = '';
  /** Do not scan before `pending` is this long: a window's worth of text more than was held back. */
  private retryAt: number;
  /** Why the stream stopped (an error or the end), once it has. */
  private failed: string | undefined;
  /** The stream's CSV header, null when it is not CSV (or a record outgrew pemHold); undecided at first. */
  private csv: CsvHeader | null | undefined;

  constructor(masker: Masker, options: MaskingStreamOptions = {}) {
    const window = options.window ?? 16 * 1024;
    const pemHold = options.pemHold ?? 64 * 1024;
    if (!Number.isInteger(window) || window < 64) throw new TypeError('MaskingStream: window must be an integer of at least 64 characters');
    if (!Number.isInteger(pemHold) || pemHold < window) throw new TypeError('MaskingStream: pemHold must be an integer of at least window');
    this.masker = masker;
    this.window = window;
    this.pemHold = pemHold;
    this.context = options.context ?? new MaskContext();
    this.retryAt = window;
  }

  /** Adds a chunk; returns what can be emitted now. */
  push(chunk: string): MaskedChunk {
    this.check();
    this.pending += chunk;
    if (this.pending.length < this.retryAt) return { masked: '', findings: [] };
    return this.guard(false);
  }

  /** Ends the stream: masks and returns everything held back. */
  end(): MaskedChunk {
    this.check();
    const out = this.guard(true);
    this.failed = 'the stream has ended';
    return out;
  }

  private check(): void {
    if (this.failed !== undefined) throw new MaskingFailedError({ detail: `masking stream already stopped: ${this.failed}` });
  }

  private guard(final: boolean): MaskedChunk {
    try {
      return this.flush(final);
    } catch (error) {
      // Fail closed: drop what is held back and refuse further chunks.
      this.failed = error instanceof Error ? error.message : String(error);
      this.pending = '';
      this.left = '';
      throw error instanceof MaskingFailedError ? error : new MaskingFailedError({ detail: error instanceof Error ? error.message : String(error), cause: error });
    }
  }

  private flush(final: boolean): MaskedChunk {
    const text = this.left + this.pending;
    const off = this.left.length;
    // CSV with a header is decided on the stream's first text, which starts with the header line.
    if (this.csv === undefined) this.csv = this.base === 0 ? (this.masker.csvHeader(text, !final) ?? null) : null;
    const header = this.csv;
    // Past the first chunk the header is no longer in the text: its context is carried over, and every
    // cut falls between records so the next text starts with one. Text that did not start as CSV is
    // never read as CSV (a log line that looks like a header must not change what the lines after it are).
    const findings = this.masker.find(text, header === null ? null : { header, from: this.base > 0 ? off : header.next });
    const cut = final ? text.length : this.cutOf(text, off, findings, header);
    if (cut <= off) {
      this.retryAt = this.pending.length + this.window;
      return { masked: '', findings: [] };
    }
    const segment: Finding[] = [];
    const reported: Finding[] = [];
    for (const f of findings) {
      if (f.end <= off || f.start >= cut) continue;
      // A finding that starts in text already emitted (seen differently now): mask the rest of it.
      const start = Math.max(f.start, off);
      segment.push({ start: start - off, end: Math.min(f.end, cut) - off, type: f.type });
      reported.push({ start: this.base + start - off, end: this.base + Math.min(f.end, cut) - off, type: f.type });
    }
    const masked = this.masker.apply(text.slice(off, cut), segment, this.context);
    this.base += cut - off;
    this.left = text.slice(Math.max(0, cut - LEFT_CONTEXT), cut);
    this.pending = text.slice(cut);
    this.retryAt = this.pending.length + this.window;
    return { masked, findings: reported };
  }

  /**
   * Where `text` (emitted up to `off`) can be cut: the start of its last line that leaves LINE_MARGIN
   * characters after it, or `window` characters before its end when that is later (a longer line); never
   * after an open BEGIN, inside a finding or (CSV) inside a record. At or before `off` when nothing can go.
   */
  private cutOf(text: string, off: number, findings: readonly Finding[], header: CsvHeader | null): number {
    const margin = text.length - LINE_MARGIN;
    let cut = Math.max(text.length - this.window, margin > off ? text.lastIndexOf('\n', margin - 1) + 1 : 0);
    const open = lastBegin(text, off);
    if (open >= off && text.indexOf(END, open) < 0 && text.length - open <= this.pemHold) cut = Math.min(cut, open);
    // Never cut inside a finding. They are in order and do not overlap, so only the last one that starts
    // before the cut can hold it, and as the cut only moves back, the findings are walked once from the end.
    let last = findings.length - 1;
    for (let previous = -1; previous !== cut; ) {
      previous = cut;
      while (last >= 0 && (findings[last] as Finding).start >= cut) last--;
      const f = findings[last];
      if (f !== undefined && f.end > cut) cut = f.start;
      if (header !== null) cut = lastRecordStart(text, header, off, cut);
    }
    if (header !== null && cut <= off && text.length - off > this.pemHold) {
      // No record ends within pemHold: holding more would grow without bound, and going on without the
      // header's context would let a sensitive column through (fail closed).
      throw new MaskingFailedError({ detail: `a CSV record longer than ${this.pemHold} characters: its columns' context cannot be kept` });
    }
    return cut;
  }
}

/** The last `-----BEGIN ` at or after `from`, or -1 (searched forwards: indexOf skips ahead, lastIndexOf reads every character). */
function lastBegin(text: string, from: number): number {
  let last = -1;
  for (let at = text.indexOf(BEGIN, from); at >= 0; at = text.indexOf(BEGIN, at + BEGIN.length)) last = at;
  return last;
}

/**
 * A Transform from text (or UTF-8 bytes, split anywhere) to masked text. On a masking error the stream
 * is destroyed with a MaskingFailedError and emits nothing more (fail closed).
 */
export function maskingTransform(masker: Masker, options: MaskingStreamOptions & { readonly onFindings?: (findings: readonly Finding[]) => void } = {}): Transform {
  const stream = new MaskingStream(masker, options);
  const decoder = new StringDecoder('utf8');
  const emit = (t: Transform, out: MaskedChunk): void => {
    if (out.findings.length > 0) options.onFindings?.(out.findings);
    if (out.masked !== '') t.push(out.masked);
  };
  return new Transform({
    decodeStrings: false,
    transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback) {
      try {
        emit(this, stream.push(typeof chunk === 'string' ? chunk : decoder.write(chunk)));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        const tail = decoder.end();
        if (tail !== '') emit(this, stream.push(tail));
        emit(this, stream.end());
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}
