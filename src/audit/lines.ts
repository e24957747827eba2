import { type FileHandle, open } from "node:fs/promises";

/** Read size, and so also the longest line the reader hands out (a record is far smaller). */
export const CHUNK = 1 << 20;

/** One complete line: its text without the newline, where it starts, and its length in bytes with the newline. */
export interface Line {
  text: string;
  offset: number;
  length: number;
}

/**
 * Reads the complete lines of a file from a byte offset on, one chunk at a time, so memory stays
 * at one chunk whatever the file size (a 64 MB segment is never held in memory). Once `next()`
 * returns undefined, `rest` says what followed the last complete line: an unterminated (torn)
 * line, or a line longer than a chunk, which a reader cannot get past.
 */
export class LineReader {
  private readonly fh: FileHandle;
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private position: number;
  private ended = false;
  /** Bytes after the last complete line, once the end is reached. */
  rest: { offset: number; oversized: boolean } | undefined;

  private constructor(fh: FileHandle, from: number) {
    this.fh = fh;
    this.position = from;
  }

  static async open(path: string, from = 0): Promise<LineReader> {
    return new LineReader(await open(path, "r"), from);
  }

  /** The next complete lines (at least one), or undefined at the end. */
  async next(): Promise<Line[] | undefined> {
    if (this.ended) return undefined;
    const { bytesRead } = await this.fh.read(this.buf, 0, CHUNK, this.position);
    const buf = this.buf.subarray(0, bytesRead);
    const lines: Line[] = [];
    let start = 0;
    for (let nl = buf.indexOf(0x0a, 0); nl >= 0; nl = buf.indexOf(0x0a, start)) {
      lines.push({ text: buf.toString("utf8", start, nl), offset: this.position + start, length: nl + 1 - start });
      start = nl + 1;
    }
    this.position += start;
    if (lines.length > 0) return lines;
    this.ended = true;
    if (bytesRead > 0) this.rest = { offset: this.position, oversized: bytesRead === CHUNK };
    return undefined;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}
