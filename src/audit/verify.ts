import { basename } from "node:path";
import { LineReader } from "./lines.js";
import { type AuditRecord, GENESIS_HASH, hashRecord } from "./record.js";
import { listSegments } from "./segments.js";

export type ProblemKind = "modified" | "deleted" | "reordered" | "truncated" | "malformed" | "head_missing";

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

/** A record known to exist (and, with a hash, known content), and who knows it. */
export interface Anchor {
  seq: number;
  hash?: string | undefined;
  /** Named in the problem message: "state file", "audit head file", "--expect-head". */
  source: string;
}

export interface VerifyOptions {
  /** The log must reach each of these records, with these hashes. */
  anchors?: readonly Anchor[];
  /** Records after this are not examined (a running daemon may be writing them). */
  stopAfterSeq?: number;
  /** Awaited after each chunk read (about 1 MiB of records): lets a caller bound the CPU it takes. */
  pace?: () => Promise<void>;
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

/** Does record `seq` appear later in the segment (reordered rather than deleted)? Reads on from `offset`. */
async function appearsLater(path: string, offset: number, seq: number): Promise<boolean> {
  const reader = await LineReader.open(path, offset);
  try {
    for (let lines = await reader.next(); lines; lines = await reader.next()) {
      if (lines.some((l) => l.text.includes(`"seq":${seq},`))) return true;
    }
    return false;
  } finally {
    await reader.close();
  }
}

/**
 * Walks every segment, streaming (memory stays at one read chunk), and checks the chain: each
 * record parses, hashes to its own `hash`, links to the previous record's hash, and carries the
 * next sequence number. Stops at the first bad record and names it: modified (content or hash
 * changed), deleted (sequence gap, missing segment), reordered (a later record earlier),
 * truncated (torn last line, or the log ends before a record an anchor knows of).
 */
export async function verifyAudit(dir: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const segments = await listSegments(dir);
  const anchors = opts.anchors ?? [];
  let prev = GENESIS_HASH;
  let expected = 1;
  let records = 0;
  const result = (problem?: VerifyProblem): VerifyResult => ({
    ok: problem === undefined,
    records,
    segments: segments.length,
    head: { seq: expected - 1, hash: prev },
    ...(problem ? { problem } : {}),
  });
  const stopped = () => opts.stopAfterSeq !== undefined && expected > opts.stopAfterSeq;

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
    const reader = await LineReader.open(seg.path);
    let lineNo = 0;
    try {
      for (let lines = await reader.next(); lines; lines = await reader.next()) {
        await opts.pace?.();
        for (const line of lines) {
          if (stopped()) return finish();
          lineNo++;
          const at = { segment: name, line: lineNo };
          const problem = check(line.text, at);
          if (problem === undefined) continue;
          if (!("found" in problem)) return result(problem);
          const later = problem.found > expected && (await appearsLater(seg.path, line.offset + line.length, expected));
          return result(gap(problem.found, at, later));
        }
      }
      if (reader.rest && !stopped()) {
        return result(
          reader.rest.oversized
            ? {
                kind: "malformed",
                seq: expected,
                segment: name,
                line: lineNo + 1,
                message: `record seq ${expected} is not valid JSON (modified or cut)`,
              }
            : {
                kind: "truncated",
                seq: expected,
                segment: name,
                line: lineNo + 1,
                message: `record seq ${expected} is cut off (truncated)`,
              },
        );
      }
    } finally {
      await reader.close();
    }
  }
  return finish();

  /** A record with the wrong sequence number: reordered (the expected one is earlier or later) or deleted. */
  function gap(found: number, at: { segment: string; line: number }, expectedLater: boolean): VerifyProblem {
    if (found < expected || expectedLater) {
      return {
        kind: "reordered",
        seq: found,
        ...at,
        message: `record seq ${found} is out of order: seq ${expected} was expected here`,
      };
    }
    const many = found - expected > 1;
    return {
      kind: "deleted",
      seq: expected,
      ...at,
      message: `record${many ? "s" : ""} seq ${expected}${many ? `..${found - 1}` : ""} missing (deleted): found seq ${found}`,
    };
  }

  /**
   * Checks one line against the chain so far and advances it; or names the problem, or returns
   * the sequence number found where another was expected (gap() decides what that is).
   */
  function check(text: string, at: { segment: string; line: number }): VerifyProblem | { found: number } | undefined {
    let rec: unknown;
    try {
      rec = JSON.parse(text);
    } catch {
      return {
        kind: "malformed",
        seq: expected,
        ...at,
        message: `record seq ${expected} is not valid JSON (modified or cut)`,
      };
    }
    if (!isRecord(rec)) {
      return {
        kind: "malformed",
        seq: expected,
        ...at,
        message: `record seq ${expected} lacks required fields (modified)`,
      };
    }
    if (rec.seq !== expected) return { found: rec.seq };
    if (hashRecord(rec) !== rec.hash) {
      return {
        kind: "modified",
        seq: rec.seq,
        ...at,
        message: `record seq ${rec.seq} was modified: its content does not match its hash`,
      };
    }
    if (rec.prev !== prev) {
      return {
        kind: "modified",
        seq: rec.seq - 1,
        ...at,
        message: `record seq ${rec.seq - 1} was modified or replaced: record seq ${rec.seq} links to a different hash`,
      };
    }
    const anchor = anchors.find((a) => a.seq === rec.seq && a.hash !== undefined && a.hash !== rec.hash);
    if (anchor) {
      return {
        kind: "modified",
        seq: rec.seq,
        ...at,
        message: `record seq ${rec.seq} does not have the hash the ${anchor.source} names (the log was rewritten)`,
      };
    }
    prev = rec.hash;
    expected++;
    records++;
    return undefined;
  }

  function finish(): VerifyResult {
    const last = expected - 1;
    const where = { segment: segments.length ? basename(segments.at(-1)!.path) : "(none)", line: 0 };
    const beyond = anchors.filter((a) => a.seq > last).sort((a, b) => b.seq - a.seq)[0];
    if (beyond) {
      return result({
        kind: "truncated",
        seq: last + 1,
        ...where,
        message: `the log ends at seq ${last} but seq ${beyond.seq} is known to exist (${beyond.source}): records ${last + 1}..${beyond.seq} were truncated`,
      });
    }
    return result();
  }
}
