import { open } from "node:fs/promises";
import type { AuditRecord } from "./record.js";
import { firstLine, listSegments } from "./segments.js";

const CHUNK = 1 << 20;

/**
 * Reads durable records after a sequence number, in order, across segments, like `tail -f`:
 * the position is kept between calls so a follower reads each byte once. Only complete lines
 * up to the log's durable head are consumed (bytes of a batch still being synced, or of one
 * that failed and will be cut off, are never handed out); an unreadable line means the file
 * changed under the reader, which then finds its place again.
 */
export class AuditTail {
  private segment: number | undefined;
  private offset = 0;

  constructor(
    private readonly dir: string,
    private afterSeq: number,
    /** The newest durable record (the audit log's head). */
    private readonly durableSeq: () => number = () => Number.MAX_SAFE_INTEGER,
  ) {}

  /** Up to `max` records after the last one returned (or after the starting seq). */
  async read(max = 256): Promise<AuditRecord[]> {
    const segments = await listSegments(this.dir);
    if (segments.length === 0) return [];
    if (this.segment === undefined) this.segment = await this.locate(segments);
    const out: AuditRecord[] = [];
    const limit = this.durableSeq();
    let reachedHead = false;
    while (out.length < max && !reachedHead) {
      const current = segments.find((s) => s.index === this.segment);
      if (!current) break;
      const fh = await open(current.path, "r");
      let consumed = 0;
      try {
        const buf = Buffer.alloc(CHUNK);
        const { bytesRead } = await fh.read(buf, 0, CHUNK, this.offset);
        const data = buf.subarray(0, bytesRead);
        let start = 0;
        for (let nl = data.indexOf(0x0a); nl >= 0 && out.length < max; nl = data.indexOf(0x0a, start)) {
          let rec: AuditRecord;
          try {
            rec = JSON.parse(data.subarray(start, nl).toString("utf8")) as AuditRecord;
          } catch {
            this.segment = undefined; // the file changed under us: locate afterSeq again next time
            this.offset = 0;
            return out;
          }
          if (rec.seq > limit) {
            reachedHead = true;
            break;
          }
          start = nl + 1;
          if (rec.seq > this.afterSeq) {
            out.push(rec);
            this.afterSeq = rec.seq;
          }
        }
        consumed = start;
      } finally {
        await fh.close();
      }
      this.offset += consumed;
      if (consumed === 0 && !reachedHead) {
        // Nothing complete here: move on only if a newer segment exists (this one is finished).
        const next = segments.find((s) => s.index > this.segment!);
        if (!next) break;
        this.segment = next.index;
        this.offset = 0;
      }
    }
    return out;
  }

  /** The last segment whose first record is not after afterSeq + 1. */
  private async locate(segments: { index: number; path: string }[]): Promise<number> {
    let chosen = segments[0]!.index;
    for (const s of segments) {
      const line = await firstLine(s.path);
      if (line === undefined) break;
      if ((JSON.parse(line) as AuditRecord).seq > this.afterSeq + 1) break;
      chosen = s.index;
    }
    return chosen;
  }
}
