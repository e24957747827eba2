import { type FileHandle, open, stat } from "node:fs/promises";
import type { LogEntry, LogSource } from "./source.js";

/** Bytes read per call; a line longer than this is skipped (sshd's lines are far shorter). */
const CHUNK = 256 * 1024;

/**
 * Follows a log file sshd writes (sshd -E FILE, or a syslog file), by byte offset and inode, so
 * it survives restarts of the companion and rotation of the file: when the file is renamed
 * away, the old one is read to its end before the new one is opened; when it is truncated
 * (copytruncate), reading starts again at its beginning. Only whole lines are consumed.
 */
export class FileSource implements LogSource {
  private fh: FileHandle | undefined;
  private ino = 0;
  private offset = 0;
  /** The file was missing when first looked for: everything in it is new. */
  private appeared = false;

  constructor(
    private readonly path: string,
    /** Where the companion was; absent on its first run, which starts at the end (only new logins). */
    private readonly from: { ino: number; offset: number } | undefined,
  ) {}

  async read(): Promise<LogEntry[]> {
    if (!this.fh && !(await this.openFile())) return [];
    const entries = await this.readLines();
    if (entries.length > 0) return entries;
    // Nothing new: has the file been rotated away or truncated under us?
    const now = await stat(this.path).catch(() => undefined);
    if (now && now.ino !== this.ino) {
      await this.fh!.close();
      this.fh = undefined;
      this.ino = Number(now.ino);
      this.offset = 0;
      await this.openFile(true);
      return this.readLines();
    }
    if (now && now.size < this.offset) this.offset = 0;
    return [];
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }

  private async openFile(rotated = false): Promise<boolean> {
    let fh: FileHandle;
    try {
      fh = await open(this.path, "r");
    } catch {
      // Not there yet: sshd creates it with its first line, which is then read from the start.
      this.appeared = true;
      return false;
    }
    const s = await fh.stat();
    this.fh = fh;
    const ino = Number(s.ino);
    if (rotated || (this.appeared && this.ino === 0 && this.from === undefined)) this.offset = 0;
    else if (this.from === undefined && this.ino === 0) this.offset = s.size;
    else if (this.ino === 0 && this.from && this.from.ino === ino && s.size >= this.from.offset)
      this.offset = this.from.offset;
    else if (this.ino !== ino || s.size < this.offset) this.offset = 0;
    this.ino = ino;
    return true;
  }

  private async readLines(): Promise<LogEntry[]> {
    const buf = Buffer.alloc(CHUNK);
    const { bytesRead } = await this.fh!.read(buf, 0, CHUNK, this.offset);
    if (bytesRead === 0) return [];
    const data = buf.subarray(0, bytesRead);
    const end = data.lastIndexOf(0x0a);
    if (end < 0) {
      // A whole chunk without a newline is no line of sshd's: skip it rather than stall.
      if (bytesRead === CHUNK) this.offset += bytesRead;
      return [];
    }
    const entries: LogEntry[] = [];
    let start = 0;
    while (start <= end) {
      const nl = data.indexOf(0x0a, start);
      const line = data.subarray(start, nl).toString("utf8");
      this.offset += nl + 1 - start;
      start = nl + 1;
      entries.push({ line, position: { kind: "file", ino: this.ino, offset: this.offset } });
    }
    return entries;
  }
}
