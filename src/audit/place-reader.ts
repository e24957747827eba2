import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import type { Located } from "./index-store.js";
import type { AuditRecord } from "./record.js";
import { segmentName } from "./segments.js";

/** The index no longer matches the log under it. */
export class StaleIndex extends Error {}

/** Segment files kept open for reading answers. */
const OPEN_SEGMENTS = 8;

/**
 * Reads records from the log by the place the index has for them, checking that the log still
 * holds that record there (so an answer always comes from the log, never from the index).
 */
export class PlaceReader {
  private readonly dir: string;
  private readonly fds = new Map<number, number>();

  constructor(auditDir: string) {
    this.dir = auditDir;
  }

  /** The record whose line the index places at `l`; StaleIndex if the log holds something else there. */
  read(l: Located): AuditRecord {
    const stale = () => new StaleIndex(`record ${l.seq} is not where the index has it (the log changed)`);
    let fd = this.fds.get(l.segment);
    if (fd === undefined) {
      try {
        fd = openSync(join(this.dir, segmentName(l.segment)), "r");
      } catch {
        throw stale();
      }
      this.fds.set(l.segment, fd);
      if (this.fds.size > OPEN_SEGMENTS) {
        const [oldest, oldFd] = this.fds.entries().next().value!;
        closeSync(oldFd);
        this.fds.delete(oldest);
      }
    }
    const buf = Buffer.allocUnsafe(l.length);
    const n = readSync(fd, buf, 0, l.length, l.offset);
    if (n !== l.length || buf[n - 1] !== 0x0a) throw stale();
    let r: AuditRecord;
    try {
      r = JSON.parse(buf.toString("utf8", 0, n - 1)) as AuditRecord;
    } catch {
      throw stale();
    }
    if (r.seq !== l.seq) throw stale();
    return r;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
