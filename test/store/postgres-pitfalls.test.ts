import pg from "pg";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { migrate } from "../../src/store/postgres/migrations.js";
import { openPostgres, type Postgres, type Queryable } from "../../src/store/postgres/pool.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";

/**
 * The shapes the PostgreSQL store will rely on for several replicas, proven on a real server,
 * with the tempting wrong shape next to each. Interleavings are forced with separate
 * sessions (and by waiting until the server reports a session blocked), not left to chance.
 */
describe("PostgreSQL shapes for several replicas", () => {
  let pgc: TestPostgres;
  let url: string;
  let db: Postgres;
  const sessions: pg.Client[] = [];
  beforeAll(async () => {
    pgc = await startPostgres();
  });
  beforeEach(async () => {
    url = await pgc.createDatabase();
    db = openPostgres({
      url,
      log: pino({ level: "silent" }),
      applicationName: "pitfalls",
      max: 10,
      connectionTimeoutMs: 30_000,
    });
    await migrate(db);
    return async () => {
      await Promise.all(sessions.splice(0).map((s) => s.end().catch(() => undefined)));
      await db.close();
    };
  });
  afterAll(async () => {
    await pgc?.destroy();
  });

  /** A session of its own (a replica's connection), for forced interleavings. */
  const session = async (): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: url });
    c.on("error", () => undefined);
    await c.connect();
    sessions.push(c);
    return c;
  };
  const pidOf = async (c: pg.Client) => (await c.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
  /** Waits until the server says session `pid` is waiting for a lock (there is no event for it). */
  const blocked = async (pid: number) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await db.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'", [pid]);
      if (r.rowCount === 1) return;
      if (Date.now() > deadline) throw new Error(`session ${pid} never blocked`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  describe("take-if-absent", () => {
    const take = (c: Queryable, owner: string) =>
      c.query(
        "INSERT INTO leases (kind, key, owner, until) VALUES ('scan', 'rq_1', $1, now() + interval '1 minute') ON CONFLICT (kind, key) DO NOTHING",
        [owner],
      );

    it("INSERT ... ON CONFLICT DO NOTHING: of 50 concurrent takers exactly one has rowCount 1", async () => {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => take(db, `replica-${i}`)));
      const winners = results.flatMap((r, i) => (r.rowCount === 1 ? [`replica-${i}`] : []));
      expect(winners).toHaveLength(1);
      expect((await db.query("SELECT owner FROM leases")).rows).toEqual([{ owner: winners[0] }]);
    });

    it("ON CONFLICT DO NOTHING, interleaved: the second taker waits for the first, then gets rowCount 0", async () => {
      const [a, b] = [await session(), await session()];
      const bPid = await pidOf(b);
      await a.query("BEGIN");
      await b.query("BEGIN");
      expect((await take(a, "a")).rowCount).toBe(1);
      const second = take(b, "b");
      await blocked(bPid); // b waits on a's uncommitted row
      await a.query("COMMIT");
      expect((await second).rowCount).toBe(0);
      await b.query("COMMIT");
      expect((await db.query("SELECT owner FROM leases")).rows).toEqual([{ owner: "a" }]);
    });

    it("the wrong shape: SELECT ... FOR UPDATE finds no row to lock, so with ON CONFLICT DO UPDATE both callers win", async () => {
      const [a, b] = [await session(), await session()];
      const bPid = await pidOf(b);
      const absent = async (c: pg.Client) =>
        (await c.query("SELECT owner FROM leases WHERE kind = 'scan' AND key = 'rq_1' FOR UPDATE")).rowCount === 0;
      const upsert = (c: pg.Client, owner: string) =>
        c.query(
          "INSERT INTO leases (kind, key, owner, until) VALUES ('scan', 'rq_1', $1, now() + interval '1 minute') ON CONFLICT (kind, key) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until",
          [owner],
        );
      await a.query("BEGIN");
      await b.query("BEGIN");
      expect(await absent(a)).toBe(true);
      expect(await absent(b)).toBe(true); // nothing locked: a missing row cannot be
      await upsert(a, "a");
      const bUpsert = upsert(b, "b");
      await blocked(bPid);
      await a.query("COMMIT");
      expect((await bUpsert).rowCount).toBe(1);
      await b.query("COMMIT");
      // Both "took" the lease; b silently replaced a, who still believes it holds it.
      expect((await db.query("SELECT owner FROM leases")).rows).toEqual([{ owner: "b" }]);
    });

    it("taking over an expired lease (ON CONFLICT DO UPDATE ... WHERE until < now()): of 20 concurrent takers exactly one wins", async () => {
      await db.query(
        "INSERT INTO leases (kind, key, owner, until) VALUES ('scan', 'rq_1', 'dead-replica', now() - interval '1 second')",
      );
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          db.query(
            `INSERT INTO leases (kind, key, owner, until) VALUES ('scan', 'rq_1', $1, now() + interval '1 minute')
             ON CONFLICT (kind, key) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until
             WHERE leases.until < now()`,
            [`replica-${i}`],
          ),
        ),
      );
      const winners = results.flatMap((r, i) => (r.rowCount === 1 ? [`replica-${i}`] : []));
      expect(winners).toHaveLength(1);
      expect((await db.query("SELECT owner FROM leases")).rows).toEqual([{ owner: winners[0] }]);
    });
  });

  describe("state versions from state_seq", () => {
    const write = (c: pg.Client, key: string) =>
      c.query<{ version: string }>(
        "INSERT INTO state_entries (collection, key, value, version) VALUES ('requests', $1, '{}', nextval('state_seq')) RETURNING version",
        [key],
      );
    /** A replica catching up: everything above the last version it saw. */
    const since = async (v: number) =>
      (
        await db.query<{ key: string; version: string }>(
          "SELECT key, version FROM state_entries WHERE version > $1 ORDER BY version",
          [v],
        )
      ).rows.map((r) => r.key);

    it("the wrong shape: versions are handed out at nextval, not at commit, so a reader can pass over one committed late", async () => {
      const [a, b] = [await session(), await session()];
      await a.query("BEGIN");
      await b.query("BEGIN");
      const va = Number((await write(a, "late")).rows[0]!.version);
      const vb = Number((await write(b, "early")).rows[0]!.version);
      expect(vb).toBeGreaterThan(va);
      await b.query("COMMIT");
      expect(await since(0)).toEqual(["early"]); // the reader now remembers vb
      await a.query("COMMIT");
      expect(await since(vb)).toEqual([]); // "late" (va < vb) is never seen by this reader
    });

    it("taking the version after locking the audit head orders versions by commit", async () => {
      const [a, b] = [await session(), await session()];
      const bPid = await pidOf(b);
      const lockHead = (c: pg.Client) => c.query("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE");
      await a.query("BEGIN");
      await b.query("BEGIN");
      await lockHead(a);
      const va = Number((await write(a, "first")).rows[0]!.version);
      const bDone = lockHead(b).then(() => write(b, "second"));
      await blocked(bPid); // b cannot take a version before a commits
      expect(await since(0)).toEqual([]);
      await a.query("COMMIT");
      const vb = Number((await bDone).rows[0]!.version);
      expect(vb).toBeGreaterThan(va);
      expect(await since(0)).toEqual(["first"]); // a reader that saw va...
      await b.query("COMMIT");
      expect(await since(va)).toEqual(["second"]); // ...still gets everything committed after it
    });
  });
});
