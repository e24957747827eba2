import type { AuditRecord } from "./record.js";
import type { VerifyResult } from "./verify.js";

/** Which records a look-up wants; every condition given must hold (they combine with AND). */
export interface AuditFilter {
  /** Records by this user or about them (actor, requester, user added). */
  user?: string | undefined;
  request?: string | undefined;
  /** Certificate serial (decimal). */
  serial?: string | undefined;
  /** Records that name this inventory host (`host`, or one of a request's `hosts`). */
  host?: string | undefined;
  /** Records of one scan (`scan` field). */
  scan?: string | undefined;
  /** Exact type ("request.approved") or a family ("request"). */
  type?: string | undefined;
  /** Any of these exact types. */
  types?: readonly string[] | undefined;
  /** At or after this time. */
  since?: Date | undefined;
  /** Before this time. */
  until?: Date | undefined;
  /**
   * Only records this caller may see: those whose requester is `requester`, or that are about one
   * of `hosts`. Applied by the backend before paging, so a page never holds (or skips past) a
   * record the caller may not see.
   */
  visibleTo?: { requester: string; hosts: readonly string[] } | undefined;
}

/** One page: at most `limit` records, older than the page the cursor came from. */
export interface AuditPage {
  limit: number;
  cursor?: string | undefined;
}

/**
 * Pages run from the newest matching record back in time; each page lists its records oldest
 * first (so a page reads like the log). `cursor` is present when older matches exist.
 */
export interface AuditPageResult {
  records: AuditRecord[];
  cursor?: string;
}

/**
 * Look-ups and verification of the audit log, whatever stores it: the embedded log answers from
 * an index derived from its segments (EmbeddedAuditQuery); a PostgreSQL backend would answer from
 * its own tables and indexes. Neither blocks the caller's event loop.
 */
export interface AuditQuery {
  query(filter: AuditFilter, page: AuditPage): Promise<AuditPageResult>;
  /** The result record (scan.finished or scan.failed) of one scan. */
  findScan(id: string): Promise<AuditRecord | undefined>;
  /** The whole chain, up to the current head, checked against every head the backend knows. */
  verify(): Promise<VerifyResult>;
  close(): Promise<void>;
}

/** A position in the log, carried opaquely by clients: "records before sequence number N". */
const CURSOR = /^c1\.([1-9][0-9]{0,15})$/;

export function encodeCursor(beforeSeq: number): string {
  return Buffer.from(`c1.${beforeSeq}`, "utf8").toString("base64url");
}

/** The sequence number a cursor points before, or undefined if it is not one of ours. */
export function decodeCursor(cursor: string): number | undefined {
  const m = CURSOR.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  const seq = m ? Number(m[1]) : Number.NaN;
  return Number.isSafeInteger(seq) ? seq : undefined;
}
