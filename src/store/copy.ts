import { GENESIS_HASH, hashRecord } from "../audit/record.js";
import { AuditTail } from "../audit/tail.js";
import { verifyOffline } from "../audit/verify-offline.js";
import { SshcaError } from "../errors.js";
import { PostgresAuditQuery } from "./postgres/audit-query.js";
import { appendRecords } from "./postgres/chain.js";
import type { Postgres } from "./postgres/pool.js";
import { bindKey, type ReplicaKey } from "./postgres/replica-keys.js";
import { STATE_COLLECTIONS, type StateStore } from "./state.js";

/**
 * `sshcad storage copy --to postgres`: an embedded data directory (state and the whole audit
 * chain) into an empty, migrated PostgreSQL database, verified on both sides. The embedded
 * chain is verified first against every head kept on disk, and every record again as it is
 * copied (a record changed between the two reads is refused too); the records go in
 * unchanged, with their own times and hashes, so the chain in the database is the same chain.
 * Everything is one transaction: a refused or failed copy leaves the database empty.
 */

export interface CopyResult {
  records: number;
  entries: number;
  head: { seq: number; hash: string };
}

export async function copyToPostgres(opts: {
  auditDir: string;
  state: StateStore;
  db: Postgres;
  /** The CA and sealing key fingerprints the database will belong to. */
  keys: { name: ReplicaKey; fingerprint: string; path: string }[];
  onProgress?: (copied: number) => void;
}): Promise<CopyResult> {
  const source = await verifyOffline(opts.auditDir, { stateSeq: opts.state.data.auditSeq });
  if (!source.ok) {
    const p = source.problem!;
    throw new SshcaError(
      "state_invalid",
      `the embedded audit log fails verification (${p.segment} line ${p.line}: ${p.message}); nothing was copied`,
    );
  }
  await opts.db.tx(async (c) => {
    const empty = await c.query<{ seq: string; entries: string }>(
      "SELECT (SELECT seq FROM audit_head WHERE id = 1) AS seq, (SELECT count(*) FROM state_entries) AS entries",
    );
    if (Number(empty.rows[0]?.seq ?? 0) !== 0 || Number(empty.rows[0]?.entries ?? 0) !== 0) {
      throw new SshcaError(
        "conflict",
        "the database already holds sshca data; storage copy only fills an empty database (create a new one)",
      );
    }
    for (const k of opts.keys) await bindKey(c, k.name, k.fingerprint, k.path);

    const tail = new AuditTail(opts.auditDir, 0, () => source.head.seq);
    let prev = { seq: 0, hash: GENESIS_HASH };
    for (let page = await tail.read(2000); page.length > 0; page = await tail.read(2000)) {
      for (const r of page) {
        if (r.seq !== prev.seq + 1 || r.prev !== prev.hash || hashRecord(r) !== r.hash) {
          throw new SshcaError("state_invalid", `audit record ${r.seq} changed while being copied; nothing was copied`);
        }
        prev = { seq: r.seq, hash: r.hash };
      }
      // The same records, chained again onto the copied head: the hashes must come out equal.
      const chained = await appendRecords(
        c,
        page.map(({ time, actor, type, fields }) => ({ time, actor, type, fields })),
      );
      if (chained.at(-1)?.hash !== prev.hash) {
        throw new SshcaError("state_invalid", `audit record ${prev.seq} does not chain the same in the database`);
      }
      opts.onProgress?.(prev.seq);
    }
    if (prev.seq !== source.head.seq || prev.hash !== source.head.hash) {
      throw new SshcaError("state_invalid", "the audit log ended before its verified head; nothing was copied");
    }

    const rows = STATE_COLLECTIONS.flatMap((collection) =>
      Object.entries(opts.state.data[collection]).map(([key, value]) => ({ collection, key, value })),
    );
    for (let i = 0; i < rows.length; i += 2000) {
      const chunk = rows.slice(i, i + 2000);
      await c.query(
        `INSERT INTO state_entries (collection, key, value, version)
         SELECT collection, key, value, nextval('state_seq')
         FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS x(collection, key, value)`,
        [chunk.map((r) => r.collection), chunk.map((r) => r.key), chunk.map((r) => JSON.stringify(r.value))],
      );
    }
  });

  // The other side: the chain as the database now holds it, and the entries.
  const target = await new PostgresAuditQuery(opts.db).verify();
  if (!target.ok || target.head.seq !== source.head.seq || target.head.hash !== source.head.hash) {
    throw new SshcaError(
      "state_invalid",
      `the copied audit chain does not verify in the database (${target.problem?.message ?? `head ${target.head.seq}`})`,
    );
  }
  const entries = Number(
    (await opts.db.query<{ n: string }>("SELECT count(*) AS n FROM state_entries WHERE value IS NOT NULL")).rows[0]?.n,
  );
  return { records: target.records, entries, head: target.head };
}
