import { open } from "node:fs/promises";
import type { AuditRecord } from "./record.js";
import { listSegments, segmentOf } from "./segments.js";

const CHUNK = 1 << 20;

/** Where a record's line is: segment number, byte offset, length with the newline. */
export interface Place {
  segment: number;
  offset: number;
  length: number;
}

/** A record as read from the log, with its place. */
export interface PlacedRecord extends Place {
  record: AuditRecord;
}

/**
 * Reads durable records after a sequence number, in order, across segments, like `tail -f`:
 * the position is kept between calls so a follower reads each byte once. Only complete lines
 * up to the log's durable head are consumed (bytes of a batch still being synced, or of one
 * that failed and will be cut off, are never handed out); an unreadable line means the file
 * changed under the reader, which then finds its place again.
 */
export class AuditTail {
  private readonly dir: string;
  private afterSeq: number;
  /** The newest durable record (the audit log's head). */
  private readonly durableSeq: () => number;
  private segment: number | undefined;
  private offset = 0;
  private readonly buf = Buffer.allocUnsafe(CHUNK);

  /** `from`: where the record after `afterSeq` starts, when the caller knows (else it is located). */
  constructor(
    dir: string,
    afterSeq: number,
    durableSeq: () => number = () => Number.MAX_SAFE_INTEGER,
    from?: { segment: number; offset: number },
  ) {
    this.dir = dir;
    this.afterSeq = afterSeq;
    this.durableSeq = durableSeq;
    if (from) {
      this.segment = from.segment;
      this.offset = from.offset;
    }
  }

  /** Up to `max` records after the last one returned (or after the starting seq). */
  async read(max = 256): Promise<AuditRecord[]> {
    return (await this.readPlaced(max)).map((p) => p.record);
  }

  /** As read(), with where each record's line is (segment, byte offset, length). */
  async readPlaced(max = 256): Promise<PlacedRecord[]> {
    const segments = await listSegments(this.dir);
    if (segments.length === 0) return [];
    if (this.segment === undefined)
      this.segment = ((await segmentOf(segments, this.afterSeq + 1)) ?? segments[0]!).index;
    const out: PlacedRecord[] = [];
    const limit = this.durableSeq();
    let reachedHead = false;
    while (out.length < max && !reachedHead) {
      const current = segments.find((s) => s.index === this.segment);
      if (!current) break;
      const fh = await open(current.path, "r");
      let consumed = 0;
      try {
        const { bytesRead } = await fh.read(this.buf, 0, CHUNK, this.offset);
        const data = this.buf.subarray(0, bytesRead);
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
          const place: Place = { segment: current.index, offset: this.offset + start, length: nl + 1 - start };
          start = nl + 1;
          if (rec.seq > this.afterSeq) {
            out.push({ record: rec, ...place });
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
}
