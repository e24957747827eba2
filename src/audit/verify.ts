import { basename } from "node:path";
import { type AuditRecord, GENESIS_HASH, hashRecord } from "./record.js";
import { listSegments, readSegment } from "./segments.js";

export type ProblemKind = "modified" | "deleted" | "reordered" | "truncated" | "malformed";

export interface VerifyProblem {
  kind: ProblemKind;
  /** The sequence number of the first bad record, when it can be named. */
  seq?: number;
  segment: string;
  /** 1-based line in the segment. */
  line: number;
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  records: number;
  segments: number;
  head: { seq: number; hash: string };
  problem?: VerifyProblem;
}

export interface VerifyOptions {
  /** The log must reach at least this record (the state's auditSeq, or an externally kept head). */
  expectSeq?: number;
  /** ...and the record at expectSeq must have this hash. */
  expectHash?: string;
  /** Records after this are not examined (a running daemon may be writing them). */
  stopAfterSeq?: number;
}

const isRecord = (r: unknown): r is AuditRecord => {
  const x = r as AuditRecord;
  return (
    typeof x === "object" &&
    x !== null &&
    Number.isSafeInteger(x.seq) &&
    typeof x.time === "string" &&
    typeof x.actor === "string" &&
    typeof x.type === "string" &&
    typeof x.fields === "object" &&
    x.fields !== null &&
    typeof x.prev === "string" &&
    typeof x.hash === "string"
  );
};

/**
 * Walks every segment and checks the chain: each record parses, hashes to its own `hash`,
 * links to the previous record's hash, and carries the next sequence number. Stops at the
 * first bad record and names it: modified (content or hash changed), deleted (sequence gap,
 * missing segment), reordered (a later record earlier), truncated (torn last line, or the log
 * ends before a record known to exist).
 */
export async function verifyAudit(dir: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const segments = await listSegments(dir);
  let prev = GENESIS_HASH;
  let expected = 1;
  let records = 0;
  let hashAtExpect: string | undefined;
  const result = (problem?: VerifyProblem): VerifyResult => ({
    ok: problem === undefined,
    records,
    segments: segments.length,
    head: { seq: expected - 1, hash: prev },
    ...(problem ? { problem } : {}),
  });

  for (let s = 0; s < segments.length; s++) {
    const seg = segments[s]!;
    const name = basename(seg.path);
    if (seg.index !== s + 1) {
      const missing = s === 0 ? 1 : segments[s - 1]!.index + 1;
      return result({
        kind: "deleted",
        seq: expected,
        segment: name,
        line: 1,
        message: `segment ${missing} is missing (deleted): records from seq ${expected} are not where the chain expects them`,
      });
    }
    const { lines, torn } = await readSegment(seg.path);
    for (let i = 0; i < lines.length; i++) {
      if (opts.stopAfterSeq !== undefined && expected > opts.stopAfterSeq) return finish();
      const at = { segment: name, line: i + 1 };
      let rec: unknown;
      try {
        rec = JSON.parse(lines[i]!);
      } catch {
        return result({
          kind: "malformed",
          seq: expected,
          ...at,
          message: `record seq ${expected} is not valid JSON (modified or cut)`,
        });
      }
      if (!isRecord(rec)) {
        return result({
          kind: "malformed",
          seq: expected,
          ...at,
          message: `record seq ${expected} lacks required fields (modified)`,
        });
      }
      if (rec.seq !== expected) {
        const later = lines.slice(i + 1).some((l) => l.includes(`"seq":${expected},`));
        if (rec.seq < expected || later) {
          return result({
            kind: "reordered",
            seq: rec.seq,
            ...at,
            message: `record seq ${rec.seq} is out of order: seq ${expected} was expected here`,
          });
        }
        return result({
          kind: "deleted",
          seq: expected,
          ...at,
          message: `record${rec.seq - expected > 1 ? "s" : ""} seq ${expected}${rec.seq - expected > 1 ? `..${rec.seq - 1}` : ""} missing (deleted): found seq ${rec.seq}`,
        });
      }
      if (hashRecord(rec) !== rec.hash) {
        return result({
          kind: "modified",
          seq: rec.seq,
          ...at,
          message: `record seq ${rec.seq} was modified: its content does not match its hash`,
        });
      }
      if (rec.prev !== prev) {
        return result({
          kind: "modified",
          seq: rec.seq - 1,
          ...at,
          message: `record seq ${rec.seq - 1} was modified or replaced: record seq ${rec.seq} links to a different hash`,
        });
      }
      if (rec.seq === opts.expectSeq) hashAtExpect = rec.hash;
      prev = rec.hash;
      expected++;
      records++;
    }
    if (torn !== undefined && (opts.stopAfterSeq === undefined || expected <= opts.stopAfterSeq)) {
      return result({
        kind: "truncated",
        seq: expected,
        segment: name,
        line: lines.length + 1,
        message: `record seq ${expected} is cut off (truncated)`,
      });
    }
  }
  return finish();

  function finish(): VerifyResult {
    const last = expected - 1;
    const where = { segment: segments.length ? basename(segments.at(-1)!.path) : "(none)", line: 0 };
    if (opts.expectSeq !== undefined && last < opts.expectSeq) {
      return result({
        kind: "truncated",
        seq: last + 1,
        ...where,
        message: `the log ends at seq ${last} but seq ${opts.expectSeq} is known to exist: records ${last + 1}..${opts.expectSeq} were truncated`,
      });
    }
    if (opts.expectHash !== undefined && opts.expectSeq !== undefined && hashAtExpect !== opts.expectHash) {
      return result({
        kind: "modified",
        seq: opts.expectSeq,
        ...where,
        message: `record seq ${opts.expectSeq} does not have the expected head hash (the log was rewritten)`,
      });
    }
    return result();
  }
}
