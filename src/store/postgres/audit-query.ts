import { filterClauses } from "../../audit/index-keys.js";
import {
  type AuditFilter,
  type AuditPage,
  type AuditPageResult,
  type AuditQuery,
  decodeCursor,
  encodeCursor,
} from "../../audit/query.js";
import { type AuditRecord, GENESIS_HASH, hashRecord } from "../../audit/record.js";
import type { VerifyProblem, VerifyResult } from "../../audit/verify.js";
import { SshcaError } from "../../errors.js";
import type { Queryable } from "./pool.js";

/**
 * Audit look-ups on PostgreSQL: the same filters as the embedded index (the same look-up keys,
 * src/audit/index-keys.ts), answered from the GIN index on audit.keys; pages run back from the
 * newest match by sequence number. The database does the work; this event loop only waits.
 */

interface Row {
  seq: string;
  time: Date;
  actor: string;
  type: AuditRecord["type"];
  fields: Record<string, unknown>;
  prev: string;
  hash: string;
}

const COLUMNS = "seq, time, actor, type, fields, prev, hash";
const VERIFY_PAGE = 5000;

const toRecord = (r: Row): AuditRecord => ({
  seq: Number(r.seq),
  time: r.time.toISOString(),
  actor: r.actor,
  type: r.type,
  fields: r.fields,
  prev: r.prev,
  hash: r.hash,
});

export class PostgresAuditQuery implements AuditQuery {
  constructor(private readonly db: Queryable) {}

  async query(filter: AuditFilter, page: AuditPage): Promise<AuditPageResult> {
    const params: unknown[] = [];
    const where: string[] = [];
    for (const clause of filterClauses(filter)) {
      if (clause.length === 0) return { records: [] };
      params.push(clause);
      where.push(`keys && $${params.length}::text[]`);
    }
    if (filter.since) {
      params.push(filter.since.toISOString());
      where.push(`time >= $${params.length}`);
    }
    if (filter.until) {
      params.push(filter.until.toISOString());
      where.push(`time < $${params.length}`);
    }
    if (page.cursor !== undefined) {
      const before = decodeCursor(page.cursor);
      if (before === undefined) throw new SshcaError("bad_request", "cursor is not one this server handed out");
      params.push(before);
      where.push(`seq < $${params.length}`);
    }
    params.push(page.limit + 1);
    const r = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM audit ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    );
    const more = r.rows.length > page.limit;
    const records = r.rows.slice(0, page.limit).map(toRecord);
    const oldest = records.at(-1);
    return { records: records.reverse(), ...(more && oldest ? { cursor: encodeCursor(oldest.seq) } : {}) };
  }

  async findScan(id: string): Promise<AuditRecord | undefined> {
    const r = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM audit WHERE keys && $1::text[] AND type IN ('scan.finished', 'scan.failed')
       ORDER BY seq DESC LIMIT 1`,
      [[`c:${id}`]],
    );
    return r.rows[0] ? toRecord(r.rows[0]) : undefined;
  }

  /** Records after `seq`, oldest first (exporters' cursors). */
  async after(seq: number, max: number): Promise<AuditRecord[]> {
    const r = await this.db.query<Row>(`SELECT ${COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2`, [seq, max]);
    return r.rows.map(toRecord);
  }

  /**
   * Walks the chain from the first record to the head row, a page at a time (memory stays at
   * one page): each record hashes to its hash, links to the one before and carries the next
   * sequence number, and the chain ends at the head the database records.
   */
  async verify(): Promise<VerifyResult> {
    const headRow = await this.db.query<{ seq: string; hash: string }>("SELECT seq, hash FROM audit_head WHERE id = 1");
    const head = { seq: Number(headRow.rows[0]?.seq ?? 0), hash: headRow.rows[0]?.hash ?? GENESIS_HASH };
    let prev = { seq: 0, hash: GENESIS_HASH };
    const fail = (kind: VerifyProblem["kind"], seq: number, message: string): VerifyResult => ({
      ok: false,
      records: prev.seq,
      segments: 0,
      head: prev,
      problem: { kind, seq, segment: "database table audit", line: seq, message },
    });
    while (prev.seq < head.seq) {
      const page = await this.after(prev.seq, Math.min(VERIFY_PAGE, head.seq - prev.seq));
      if (page.length === 0)
        return fail(
          "truncated",
          prev.seq + 1,
          `record ${prev.seq + 1} is missing: the chain ends before the head (${head.seq})`,
        );
      for (const r of page) {
        if (r.seq !== prev.seq + 1)
          return fail("deleted", prev.seq + 1, `record ${prev.seq + 1} is missing (next is ${r.seq})`);
        if (r.prev !== prev.hash) return fail("modified", r.seq, `record ${r.seq} does not link to record ${prev.seq}`);
        if (hashRecord(r) !== r.hash) return fail("modified", r.seq, `record ${r.seq} does not match its hash`);
        prev = { seq: r.seq, hash: r.hash };
      }
    }
    if (prev.hash !== head.hash)
      return fail("modified", head.seq, `the head row's hash does not match record ${head.seq}`);
    return { ok: true, records: prev.seq, segments: 0, head: prev };
  }

  async close(): Promise<void> {}
}
