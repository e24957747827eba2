import pino from "pino";
import { migrate } from "../../src/store/postgres/migrations.js";
import { openPostgres, type Postgres } from "../../src/store/postgres/pool.js";
import { PostgresStorage } from "../../src/store/postgres/storage.js";
import type { TestPostgres } from "./postgres.js";

/** A new database in the test cluster with sshcad's schema applied; answers its URL. */
export async function migratedDatabase(pg: TestPostgres): Promise<string> {
  const url = await pg.createDatabase();
  const db = openPostgres({ url, log: pino({ level: "silent" }), applicationName: "migrate" });
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
  return url;
}

/**
 * A replica that hears of no other replica's change by itself: their notifications are dropped
 * and it has no catch-up timer. It learns of their writes only when it catches up on purpose (a
 * claim that takes a lease, a commit found stale): the window of a replica whose catch-up has not
 * run yet, held open.
 */
export function openDeafReplica(db: Postgres, replica: string): Promise<PostgresStorage> {
  return PostgresStorage.open({
    db: { ...db, listen: (channel, _onNotify, onReconnect) => db.listen(channel, () => {}, onReconnect) },
    log: pino({ level: "silent" }),
    now: () => new Date(),
    replica,
    pollMs: 3_600_000,
  });
}
