import { mkdir, open } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { SshcaError } from "../errors.js";
import { fsyncDir } from "../files/fsync-dir.js";
import { anchorHead } from "./head-check.js";
import type { HeadFile } from "./head-file.js";
import { type AuditRecord, type AuditType, chainRecord, GENESIS_HASH, hashRecord } from "./record.js";
import { listSegments, segmentName } from "./segments.js";

export interface AuditLogOptions {
  dir: string;
  /** Start a new segment once the current one reaches this size. */
  maxSegmentBytes: number;
  now: () => Date;
  log: Logger;
  /** Told about every durable batch from the start, the recovery record included (the journald sink). */
  onCommit?: CommitListener;
}

interface Pending {
  event: { time: string; actor: string; type: AuditType; fields: Record<string, unknown> };
  resolve: (r: AuditRecord) => void;
  reject: (e: unknown) => void;
}

/** Called with every batch once it is durable, in sequence order. */
export type CommitListener = (records: readonly AuditRecord[]) => void;

const TAIL_WINDOW = 1 << 20;

/**
 * The append-only, hash-chained audit log. `append` resolves only after the record is on
 * disk (fdatasync), which is what lets issuance promise "no certificate without its
 * record". Appends that arrive while a sync runs are written and synced together in the
 * next batch (group commit), so N concurrent issuances cost about two fsyncs, not N.
 *
 * After each batch is on disk, and before its appends resolve, the chain head is durably
 * written to the head file (audit.head), so every acknowledged record is covered by it: a log
 * cut at a record boundary is caught at the next start, and by `sshcad audit verify`, even if
 * the records cut off changed no live state.
 *
 * The segment is opened for each batch rather than held open, so a directory or file that
 * stopped being writable (permissions, read-only remount) fails the very next append. If a
 * write or sync fails, the batch is rejected with `unavailable`, the file is cut back to its
 * last good length before the next attempt, and the chain head does not move.
 */
export class AuditLog {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private needsRepair = false;
  private readonly listeners: CommitListener[] = [];
  private readonly syncListeners: ((seconds: number) => void)[] = [];
  /** Why the last batch failed, until a batch succeeds again (for /readyz). */
  lastError: string | undefined;
  /** Batches written (one segment and one head fdatasync each) and records in them, and the time spent syncing. */
  readonly stats = { batches: 0, records: 0, syncSeconds: 0 };

  private constructor(
    private readonly opts: AuditLogOptions,
    private segmentIndex: number,
    private size: number,
    private headRecord: { seq: number; hash: string },
    private readonly headFile: HeadFile,
  ) {}

  /** Opens (or creates) the log, dropping a torn final line that was never acknowledged. */
  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    const segments = await listSegments(opts.dir);
    let head = { seq: 0, hash: GENESIS_HASH };
    const index = segments.at(-1)?.index ?? 1;
    let torn = 0;
    // The head is the last complete record of the newest non-empty segment.
    for (let i = segments.length - 1; i >= 0; i--) {
      const tail = await readTail(segments[i]!.path);
      if (i === segments.length - 1) torn = tail.torn;
      if (tail.last !== undefined) {
        head = checkedHead(tail.last, segments[i]!.path);
        break;
      }
    }
    const path = join(opts.dir, segmentName(index));
    // The head file is checked before anything is written (the torn tail is never acknowledged).
    const anchored = await anchorHead(opts.dir, head, opts.log);
    const fh = await open(path, segments.length === 0 ? "wx" : "r+", 0o600);
    let size: number;
    try {
      size = (await fh.stat()).size - torn;
      if (torn > 0) {
        await fh.truncate(size);
        await fh.datasync();
      }
    } finally {
      await fh.close();
    }
    if (segments.length === 0) await fsyncDir(opts.dir);
    const log = new AuditLog(opts, index, size, head, anchored.file);
    if (opts.onCommit) log.onCommit(opts.onCommit);
    if (anchored.created) {
      await log.append("audit.head_created", "sshcad", {
        ...head,
        reason: "no head file next to the log (first start after an upgrade, or the file was deleted)",
      });
    }
    if (torn > 0) {
      opts.log.warn(
        { segment: path, bytes: torn },
        "audit log ended in a torn record that was never acknowledged; removed it",
      );
      await log.append("audit.recovered", "sshcad", { segment: segmentName(index), droppedBytes: torn });
    }
    return log;
  }

  /** The newest durable record's sequence number and hash (the chain head). */
  get head(): { seq: number; hash: string } {
    return { ...this.headRecord };
  }

  get dir(): string {
    return this.opts.dir;
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /** Told how long each batch took to become durable: the segment's fdatasync and the head file's (metrics). */
  onSync(listener: (seconds: number) => void): void {
    this.syncListeners.push(listener);
  }

  /** Appends one event; resolves once it is durable, rejects with `unavailable` if it cannot be. */
  append(type: AuditType, actor: string, fields: Record<string, unknown>): Promise<AuditRecord> {
    return new Promise((resolve, reject) => {
      this.queue.push({ event: { time: this.opts.now().toISOString(), actor, type, fields }, resolve, reject });
      this.kick();
    });
  }

  /** Waits until every queued record is written (or failed); a later append reopens what it needs. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    await this.headFile.close();
  }

  private kick(): void {
    if (this.flushing) return;
    // Start after the current synchronous work, so records appended together (one commit's
    // steps) form one batch: all of them durable, or none.
    this.flushing = Promise.resolve()
      .then(() => this.flushLoop())
      .finally(() => {
        this.flushing = undefined;
        // Records queued by continuations that ran after the loop's last check.
        if (this.queue.length > 0) this.kick();
      });
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      let head = this.headRecord;
      const records = batch.map((p) => {
        head = chainRecord(head, p.event);
        return head as AuditRecord;
      });
      const bytes = Buffer.from(records.map((r) => `${JSON.stringify(r)}\n`).join(""), "utf8");
      try {
        await this.writeBatch(bytes, { seq: head.seq, hash: head.hash });
      } catch (err) {
        this.needsRepair = true;
        const code = (err as NodeJS.ErrnoException).code ?? "error";
        this.opts.log.error(
          { err: { code, message: (err as Error).message }, records: batch.length },
          "audit log write failed",
        );
        const failure = new SshcaError("unavailable", `the audit log cannot be written (${code}); nothing was changed`);
        this.lastError = `write failed (${code})`;
        for (const p of batch) p.reject(failure);
        continue;
      }
      this.size += bytes.length;
      this.headRecord = { seq: head.seq, hash: head.hash };
      this.stats.batches++;
      this.lastError = undefined;
      this.stats.records += records.length;
      batch.forEach((p, i) => p.resolve(records[i]!));
      for (const listener of this.listeners) {
        try {
          listener(records);
        } catch (err) {
          this.opts.log.error({ err: { message: (err as Error).message } }, "audit commit listener failed");
        }
      }
      if (this.size >= this.opts.maxSegmentBytes) await this.rotate();
    }
  }

  /** Writes and syncs the batch, then durably records its last record as the head. */
  private async writeBatch(bytes: Buffer, head: { seq: number; hash: string }): Promise<void> {
    const fh = await open(join(this.opts.dir, segmentName(this.segmentIndex)), "r+");
    let started: bigint;
    try {
      if (this.needsRepair) {
        await fh.truncate(this.size);
        this.needsRepair = false;
      }
      await fh.write(bytes, 0, bytes.length, this.size);
      started = process.hrtime.bigint();
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await this.headFile.write(head);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.stats.syncSeconds += seconds;
    for (const l of this.syncListeners) l(seconds);
  }

  /** Starts the next segment; the chain simply continues in it. */
  private async rotate(): Promise<void> {
    const next = this.segmentIndex + 1;
    try {
      const fh = await open(join(this.opts.dir, segmentName(next)), "wx", 0o600);
      await fh.close();
      await fsyncDir(this.opts.dir);
      this.segmentIndex = next;
      this.size = 0;
    } catch (err) {
      this.opts.log.error({ err: { message: (err as Error).message } }, "audit segment rotation failed; will retry");
    }
  }
}

/** Reads the end of a segment: the last complete line, and how many bytes follow it unterminated. */
async function readTail(path: string): Promise<{ last: string | undefined; torn: number }> {
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    if (size === 0) return { last: undefined, torn: 0 };
    const start = Math.max(0, size - TAIL_WINDOW);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    const end = buf.lastIndexOf(0x0a);
    const torn = buf.length - (end + 1);
    if (end < 0) {
      if (start > 0) throw new SshcaError("state_invalid", `audit segment ${path} has a line longer than 1 MiB`);
      return { last: undefined, torn };
    }
    const before = buf.lastIndexOf(0x0a, end - 1);
    if (before < 0 && start > 0)
      throw new SshcaError("state_invalid", `audit segment ${path} has a line longer than 1 MiB`);
    return { last: buf.subarray(before + 1, end).toString("utf8"), torn };
  } finally {
    await fh.close();
  }
}

function checkedHead(line: string, path: string): { seq: number; hash: string } {
  try {
    const r = JSON.parse(line) as AuditRecord;
    if (Number.isSafeInteger(r.seq) && hashRecord(r) === r.hash) return { seq: r.seq, hash: r.hash };
  } catch {
    // fall through
  }
  throw new SshcaError(
    "state_invalid",
    `the last audit record in ${path} does not verify; refusing to start (run: sshcad audit verify)`,
  );
}
