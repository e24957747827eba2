import { createHash } from "node:crypto";
import { type FileHandle, open, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { fsyncDir } from "../files/fsync-dir.js";

/** The chain head: the newest durable record's sequence number and hash. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** The head file's name in the audit directory (never matches the segment pattern). */
export const HEAD_FILE = "audit.head";

/**
 * Two fixed-size slots, written alternately. A write that is torn by a crash can only damage
 * the slot being written; the other still holds the previous head, which the log covers (the
 * head is written only after its batch is on disk). Each slot is one text line, so `cat` shows it.
 */
const SLOT = 128;
const MAGIC = "sshca-audit-head/1";

const check = (seq: number, hash: string) =>
  createHash("sha256").update(`${MAGIC} ${seq} ${hash}`).digest("hex").slice(0, 16);

/** One slot: magic, seq, hash and a check value, padded with spaces to SLOT bytes. */
export function encodeSlot(head: ChainHead): Buffer {
  const line = `${MAGIC} ${head.seq} ${head.hash} ${check(head.seq, head.hash)}`;
  return Buffer.from(`${line.padEnd(SLOT - 1, " ")}\n`, "latin1");
}

/** The head in a slot, or undefined if the slot is empty, torn or damaged. */
export function decodeSlot(buf: Buffer): ChainHead | undefined {
  const m = /^sshca-audit-head\/1 (\d{1,16}) ([0-9a-f]{64}) ([0-9a-f]{16}) *\n$/.exec(buf.toString("latin1"));
  if (!m) return undefined;
  const seq = Number(m[1]);
  return Number.isSafeInteger(seq) && check(seq, m[2]!) === m[3] ? { seq, hash: m[2]! } : undefined;
}

/** What a head file holds: nothing, nothing valid, or its newest valid slot and which slot that is. */
export type HeadFileContent =
  { state: "missing" } | { state: "damaged" } | { state: "ok"; head: ChainHead; slot: number };

/** Reads the head file of an audit directory (without opening it for writing). */
export async function readHeadFile(auditDir: string): Promise<HeadFileContent> {
  let buf: Buffer;
  try {
    buf = await readFile(join(auditDir, HEAD_FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { state: "missing" };
    throw err;
  }
  let best: { head: ChainHead; slot: number } | undefined;
  for (let slot = 0; slot < 2; slot++) {
    const head = decodeSlot(buf.subarray(slot * SLOT, (slot + 1) * SLOT));
    if (head && (!best || head.seq > best.head.seq)) best = { head, slot };
  }
  return best ? { state: "ok", ...best } : { state: "damaged" };
}

/**
 * The durable chain head, kept next to the segments so a log cut at a record boundary is caught
 * even when the cut records changed no live state. Updated with one positioned write of a
 * fixed-size slot and one fdatasync on a file kept open (its size never changes, so no metadata
 * needs syncing); write-temp-then-rename would cost a file sync, a rename and a directory sync
 * per batch instead.
 */
export class HeadFile {
  private fh: FileHandle | undefined;
  private nextSlot: number;
  private readonly path: string;

  /** A head file read by readHeadFile; the next write goes to the slot not holding the newest head. */
  constructor(dir: string, newestSlot: number) {
    this.path = join(dir, HEAD_FILE);
    this.nextSlot = 1 - newestSlot;
  }

  /** Creates the head file (both slots = head) atomically: temp file, fsync, rename, directory fsync. */
  static async create(dir: string, head: ChainHead): Promise<HeadFile> {
    const tmp = join(dir, `${HEAD_FILE}.tmp`);
    await unlink(tmp).catch(() => undefined);
    const fh = await open(tmp, "wx", 0o600);
    try {
      const slot = encodeSlot(head);
      await fh.write(Buffer.concat([slot, slot]), 0, 2 * SLOT, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(dir, HEAD_FILE));
    await fsyncDir(dir);
    return new HeadFile(dir, 0);
  }

  /**
   * Durably records `head` (pwrite of one slot + fdatasync). After a failure the file is
   * reopened by the next write, and the same slot is written again (the other one still holds
   * the last head that was durably recorded).
   */
  async write(head: ChainHead): Promise<void> {
    try {
      this.fh ??= await open(this.path, "r+");
      await this.fh.write(encodeSlot(head), 0, SLOT, this.nextSlot * SLOT);
      await this.fh.datasync();
    } catch (err) {
      await this.close().catch(() => undefined);
      throw err;
    }
    this.nextSlot = 1 - this.nextSlot;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}
