import type { Postgres, Queryable } from "./pool.js";
import type { EntryId, EntryRow, StateCache } from "./state-cache.js";

/**
 * Keeps a replica's StateCache current. Every write takes its version from state_seq while
 * holding the chain head (commit-batch.ts), so versions become visible in order and "every row
 * with a version above the last one applied" is exactly what this replica has not seen yet.
 * Removed entries stay as tombstones for an hour; a replica that fell behind further than
 * that (or lost its notification connection, when changes may have gone unannounced) reloads
 * everything instead.
 */

const PAGE = 5000;

export interface Head {
  seq: number;
  hash: string;
}

/**
 * Reads and applies what changed since the cache's last version; returns what changed, and the
 * chain head read before the changes (so the cache now includes every change up to it).
 */
export async function catchUp(
  db: Queryable,
  cache: StateCache,
): Promise<{ changed: EntryId[] | "reload"; head: Head }> {
  const meta = await db.query<{ pruned: string | null; seq: string; hash: string }>(
    `SELECT (SELECT value FROM sshca_meta WHERE key = 'tombstones_pruned_below')::bigint AS pruned, seq, hash
     FROM audit_head WHERE id = 1`,
  );
  const head = { seq: Number(meta.rows[0]?.seq ?? 0), hash: meta.rows[0]?.hash ?? "" };
  const pruned = Number(meta.rows[0]?.pruned ?? 0);
  if (cache.lastVersion < pruned) return { changed: "reload", head };
  const changed: EntryId[] = [];
  for (;;) {
    const rows = await db.query<{ collection: string; key: string; value: unknown; version: string }>(
      "SELECT collection, key, value, version FROM state_entries WHERE version > $1 ORDER BY version LIMIT $2",
      [cache.lastVersion, PAGE],
    );
    for (const r of rows.rows) {
      const row: EntryRow = { ...r, version: Number(r.version) };
      if (cache.apply(row)) changed.push({ collection: r.collection as EntryId["collection"], key: r.key });
      cache.lastVersion = Math.max(cache.lastVersion, row.version);
    }
    if (rows.rows.length < PAGE) return { changed, head };
  }
}

/** Reads every live entry in one snapshot and replaces the cache with it; returns what changed and the head. */
export async function reload(db: Postgres, cache: StateCache): Promise<{ changed: EntryId[]; head: Head }> {
  const { rows, upTo, head } = await db.tx(
    async (c) => {
      const h = await c.query<{ seq: string; hash: string }>("SELECT seq, hash FROM audit_head WHERE id = 1");
      // Up to the newest version written, or the newest pruned tombstone if that is newer (the
      // last change was a removal whose tombstone is gone): otherwise every catch-up after this
      // would find itself behind the pruned mark and reload again.
      const max = await c.query<{ v: string | null }>(
        `SELECT GREATEST((SELECT max(version) FROM state_entries),
                         (SELECT value FROM sshca_meta WHERE key = 'tombstones_pruned_below')::bigint) AS v`,
      );
      const all = await c.query<{ collection: string; key: string; value: unknown; version: string }>(
        "SELECT collection, key, value, version FROM state_entries WHERE value IS NOT NULL",
      );
      return {
        rows: all.rows.map((r): EntryRow => ({ ...r, version: Number(r.version) })),
        upTo: Number(max.rows[0]?.v ?? 0),
        head: { seq: Number(h.rows[0]?.seq ?? 0), hash: h.rows[0]?.hash ?? "" },
      };
    },
    { isolation: "repeatable read" },
  );
  return { changed: cache.replaceAll(rows, upTo), head };
}

/**
 * Deletes tombstones older than an hour and notes the newest version deleted, so a replica
 * that had not read them yet knows to reload. Run by one replica at a time (a lease).
 */
export async function pruneTombstones(db: Postgres): Promise<number> {
  return db.tx(async (c) => {
    const gone = await c.query<{ v: string | null; n: string }>(
      `WITH d AS (DELETE FROM state_entries WHERE value IS NULL AND changed_at < now() - interval '1 hour'
                  RETURNING version)
       SELECT max(version) AS v, count(*) AS n FROM d`,
    );
    const v = gone.rows[0]?.v;
    if (v !== null && v !== undefined) {
      await c.query(
        `INSERT INTO sshca_meta (key, value) VALUES ('tombstones_pruned_below', to_jsonb($1::bigint))
         ON CONFLICT (key) DO UPDATE
           SET value = to_jsonb(GREATEST((sshca_meta.value)::bigint, $1::bigint))`,
        [v],
      );
    }
    // Leases lapsed long ago (a scan's is left to lapse) go too.
    await c.query("DELETE FROM leases WHERE until < now() - interval '1 hour'");
    // Buckets idle for ten minutes are full again (the smallest rate refills within a minute).
    await c.query("DELETE FROM rate_buckets WHERE at < now() - interval '10 minutes'");
    return Number(gone.rows[0]?.n ?? 0);
  });
}
