import type { AuditRecord } from "../../audit/record.js";
import type { AuditEvent, Change } from "../port.js";
import { chainEvents, INSERT_RECORDS, lockHead, recordColumns } from "./chain.js";
import type { Queryable } from "./pool.js";

/**
 * One transaction for a batch of commits that arrived together (group commit: concurrent
 * requests share the round trips and the wait for the chain head). In order:
 *
 * 1. lock the audit chain head (every writer on every replica queues here, so the chain stays
 *    linear and state versions are handed out in commit order);
 * 2. check each commit's expected entries against the rows as they are now, and against what
 *    earlier commits of this batch write: a commit whose entries moved on is left out (stale),
 *    the others go ahead;
 * 3. in one statement: append the records of the commits that go ahead, move the head, write
 *    their changes, each with the next version of state_seq, and NOTIFY the other replicas
 *    (delivered when the transaction commits).
 *
 * Runs again from the start when PostgreSQL reports a serialization failure or deadlock (the
 * pool's tx does that), so it has no effect outside the database.
 */

/** The notification channel replicas listen on for changes to the state and the chain. */
export const CHANNEL = "sshca_changes";

export interface PendingCommit {
  events: readonly AuditEvent[];
  changes: readonly Change[];
  /** Per expected entry: the version decided on, 0 for "absent". */
  expects: readonly { collection: string; key: string; version: number }[];
}

export interface BatchOutcome {
  /** Per commit of the batch: its records, or the keys that moved on under it. */
  results: ({ records: AuditRecord[] } | { stale: string[] })[];
  /** The rows written, with their versions (last change per entry wins). */
  written: { collection: string; key: string; value: unknown; version: number }[];
  head: { seq: number; hash: string };
}

const id = (collection: string, key: string) => `${collection}/${key}`;

export async function commitBatch(
  client: Queryable,
  batch: readonly PendingCommit[],
  time: string,
  replica: string,
): Promise<BatchOutcome> {
  const head = await lockHead(client);

  const expected = batch.flatMap((b) => b.expects);
  const now = new Map<string, number>(); // present entries' versions; absent or tombstone: missing
  if (expected.length > 0) {
    const rows = await client.query<{ collection: string; key: string; version: string }>(
      `SELECT e.collection, e.key, e.version FROM state_entries e
       JOIN unnest($1::text[], $2::text[]) AS x(collection, key) USING (collection, key)
       WHERE e.value IS NOT NULL`,
      [expected.map((x) => x.collection), expected.map((x) => x.key)],
    );
    for (const r of rows.rows) now.set(id(r.collection, r.key), Number(r.version));
  }

  const writtenByBatch = new Set<string>();
  const results: BatchOutcome["results"] = [];
  const goAhead: PendingCommit[] = [];
  for (const b of batch) {
    const stale = b.expects
      .filter(
        (x) => writtenByBatch.has(id(x.collection, x.key)) || (now.get(id(x.collection, x.key)) ?? 0) !== x.version,
      )
      .map((x) => id(x.collection, x.key));
    if (stale.length > 0) {
      results.push({ stale });
      continue;
    }
    goAhead.push(b);
    results.push({ records: [] });
    for (const c of b.changes) writtenByBatch.add(id(c.collection, c.key));
  }

  const events = goAhead.flatMap((b) => b.events.map((e) => ({ ...e, time })));
  const records = chainEvents(head, events);
  let next = 0;
  for (const [i, b] of batch.entries()) {
    if (!goAhead.includes(b)) continue;
    results[i] = { records: records.slice(next, next + b.events.length) };
    next += b.events.length;
  }

  // The last change to each entry wins (one INSERT cannot update a row twice).
  const last = new Map<string, Change>();
  for (const b of goAhead) for (const c of b.changes) last.set(id(c.collection, c.key), c);
  const changes = [...last.values()];
  const newHead = records.at(-1) ?? head;
  if (records.length === 0 && changes.length === 0) return { results, written: [], head };

  // One statement for the rest (the lock is held from lockHead to COMMIT, so every round trip
  // saved is time other writers do not wait): the records, the head, the entries with their
  // versions, and the notification.
  const r = await client.query<{ written: [string, string, string][] }>(
    `WITH a AS (${INSERT_RECORDS(1)}),
     h AS (UPDATE audit_head SET seq = $9, hash = $10 WHERE id = 1 AND $11::boolean),
     s AS (INSERT INTO state_entries (collection, key, value, version)
           SELECT collection, key, value, nextval('state_seq')
           FROM unnest($12::text[], $13::text[], $14::jsonb[]) AS x(collection, key, value)
           ON CONFLICT (collection, key) DO UPDATE
             SET value = EXCLUDED.value, version = EXCLUDED.version, changed_at = now()
           RETURNING collection, key, version)
     SELECT coalesce((SELECT json_agg(json_build_array(collection, key, version::text)) FROM s), '[]') AS written,
            pg_notify($15, json_build_object('o', $16::text, 'v', coalesce((SELECT max(version) FROM s), 0),
                                             's', $9::bigint, 'h', $10::text)::text)`,
    [
      ...recordColumns(records),
      newHead.seq,
      newHead.hash,
      records.length > 0,
      changes.map((c) => c.collection),
      changes.map((c) => c.key),
      changes.map((c) => (c.value === undefined ? null : JSON.stringify(c.value))),
      CHANNEL,
      replica,
    ],
  );
  const versions = new Map(r.rows[0]!.written.map(([c, k, v]) => [id(c, k), Number(v)]));
  const written = changes.map((c) => ({
    collection: c.collection,
    key: c.key,
    value: c.value ?? null,
    version: versions.get(id(c.collection, c.key))!,
  }));
  return { results, written, head: { seq: newHead.seq, hash: newHead.hash } };
}
