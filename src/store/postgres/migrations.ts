import { SshcaError } from "../../errors.js";
import type { Postgres, Queryable } from "./pool.js";
import { LATEST_SCHEMA_VERSION, type Migration, MIGRATIONS } from "./schema.js";

/**
 * Brings the database schema up to this sshcad's version, safely while other replicas start
 * at the same moment: everything runs in one transaction that first takes a transaction-level
 * advisory lock (released at COMMIT or ROLLBACK by the server itself, so it works through a
 * pool, unlike a session lock), so one replica migrates and the others wait, then find the
 * work done. DDL is transactional in PostgreSQL: a failed migration leaves nothing behind.
 */

/** pg_advisory_xact_lock(int4, int4) key: "sshc" and 1, the schema migration. */
const LOCK_KEY: readonly [number, number] = [0x73736863, 1];

export interface MigrateResult {
  /** The schema version found. */
  from: number;
  /** The schema version now. */
  to: number;
  /** The migrations this call applied (empty when another replica had done it). */
  applied: number[];
}

/** The schema version recorded in the database; 0 for a database sshcad never migrated. */
export async function schemaVersion(client: Queryable): Promise<number> {
  const exists = await client.query<{ present: boolean }>("SELECT to_regclass('sshca_meta') IS NOT NULL AS present");
  if (!exists.rows[0]?.present) return 0;
  const r = await client.query<{ value: unknown }>("SELECT value FROM sshca_meta WHERE key = 'schema_version'");
  const v = r.rows[0]?.value;
  if (r.rows.length === 0) return 0;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new SshcaError("state_invalid", "the database's sshca_meta.schema_version is not a version number");
  }
  return v;
}

/** A database migrated by a newer sshcad: this one does not know its tables and must not touch them. */
function newer(found: number, latest: number): SshcaError {
  return new SshcaError(
    "state_invalid",
    `database schema version ${found} is newer than this sshcad (knows up to ${latest}); upgrade sshcad`,
  );
}

/** Applies the pending migrations in order; refuses a database newer than `migrations`. */
export async function migrate(db: Postgres, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  const latest = migrations.at(-1)?.version ?? 0;
  return db.tx(async (c) => {
    await c.query("SELECT pg_advisory_xact_lock($1, $2)", [...LOCK_KEY]);
    const from = await schemaVersion(c);
    if (from > latest) throw newer(from, latest);
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= from) continue;
      for (const statement of m.statements) await c.query(statement);
      await c.query(
        `INSERT INTO sshca_meta (key, value) VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
        [JSON.stringify(m.version)],
      );
      applied.push(m.version);
    }
    return { from, to: Math.max(from, latest), applied };
  });
}

/**
 * For a replica at start: the database must be at exactly this sshcad's schema version (older:
 * run `sshcad storage migrate` first; newer: this sshcad is out of date).
 */
export async function requireSchema(db: Postgres, latest = LATEST_SCHEMA_VERSION): Promise<void> {
  const found = await schemaVersion(db);
  if (found > latest) throw newer(found, latest);
  if (found < latest) {
    throw new SshcaError(
      "state_invalid",
      `database schema version ${found} is older than this sshcad needs (${latest}); run: sshcad storage migrate`,
    );
  }
}
