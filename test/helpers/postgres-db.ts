import pino from "pino";
import { migrate } from "../../src/store/postgres/migrations.js";
import { openPostgres } from "../../src/store/postgres/pool.js";
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
