import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';

/** The file operations the journal uses, injectable so tests can fail them (disk full, I/O errors). */
export interface JournalIo {
  openSync(path: string, flags: string, mode?: number): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  fsyncSync(fd: number): void;
  ftruncateSync(fd: number, length: number): void;
  fstatSync(fd: number): { size: number };
  closeSync(fd: number): void;
}

export const nodeJournalIo: JournalIo = {
  openSync: (path, flags, mode) => openSync(path, flags, mode),
  writeSync: (fd, buffer, offset, length) => writeSync(fd, buffer, offset, length),
  fsyncSync: (fd) => fsyncSync(fd),
  ftruncateSync: (fd, length) => ftruncateSync(fd, length),
  fstatSync: (fd) => fstatSync(fd),
  closeSync: (fd) => closeSync(fd),
};

/**
 * An append-only file of JSON lines. `write` appends whole lines in one system call and returns once the
 * operating system holds them (and the disk, with `fsync`). A failed or short write is cut back to the
 * last whole line, so the file never keeps half an entry; until that cut succeeds, every write fails.
 */
export class Journal {
  private fd: number;
  private size: number;
  /** Set when a failed write could not be cut back: the length the file must return to. */
  private dirtyFrom: number | undefined;

  constructor(
    readonly path: string,
    private readonly io: JournalIo,
    private readonly fsync: boolean,
  ) {
    this.fd = io.openSync(path, 'a', 0o600);
    this.size = io.fstatSync(this.fd).size;
  }

  get bytes(): number {
    return this.size;
  }

  /** Appends `text` (whole lines, each ending in a newline). */
  write(text: string): void {
    if (this.dirtyFrom !== undefined) {
      this.io.ftruncateSync(this.fd, this.dirtyFrom);
      this.size = this.dirtyFrom;
      this.dirtyFrom = undefined;
    }
    const buffer = Buffer.from(text, 'utf8');
    const before = this.size;
    try {
      let offset = 0;
      while (offset < buffer.length) {
        const written = this.io.writeSync(this.fd, buffer, offset, buffer.length - offset);
        if (written <= 0) throw new Error(`audit journal ${this.path}: write made no progress`);
        offset += written;
      }
      if (this.fsync) this.io.fsyncSync(this.fd);
      this.size = before + buffer.length;
    } catch (error) {
      try {
        this.io.ftruncateSync(this.fd, before);
      } catch {
        this.dirtyFrom = before;
      }
      throw error;
    }
  }

  /** Cuts the file back to `length` bytes (a line left half-written by a crash). */
  truncate(length: number): void {
    this.io.ftruncateSync(this.fd, length);
    this.size = length;
  }

  /** Reopens the file after it was replaced (compaction). */
  reopen(): void {
    this.io.closeSync(this.fd);
    this.fd = this.io.openSync(this.path, 'a', 0o600);
    this.size = this.io.fstatSync(this.fd).size;
    this.dirtyFrom = undefined;
  }

  close(): void {
    this.io.closeSync(this.fd);
  }
}
