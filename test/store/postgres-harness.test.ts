import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { postgresBin } from "../helpers/postgres-install.js";
import { tempDir } from "../helpers/tmp.js";

/** The test cluster itself: the PostgreSQL tests stand on it keeping its promises. */
describe("test PostgreSQL cluster", () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(async () => {
    await db?.destroy();
  });

  async function one(url: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    const client = new pg.Client({ connectionString: url });
    client.on("error", () => undefined);
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  }

  it("a missing server is a failure with the install command, never a skip", () => {
    expect(() => postgresBin(tempDir("no-pg"))).toThrow(
      /is not installed .*: apt-get install -y postgresql \(npm run test:all does this\)$/,
    );
    expect(postgresBin()).toMatch(/^\/usr\/lib\/postgresql\/\d+\/bin$/);
  });

  it("accepts the application role over the unix socket, and over TCP only with its password", async () => {
    const rows = await one(db.socketUrl, "SELECT current_user AS who, inet_server_addr() AS addr");
    expect(rows).toEqual([{ who: "sshca", addr: null }]); // null address: a unix socket
    expect((await one(db.url, "SELECT inet_server_addr() AS addr"))[0]!.addr).toBe("127.0.0.1");
    const wrong = db.url.replace(db.password, "not-the-password");
    await expect(one(wrong, "SELECT 1")).rejects.toMatchObject({ code: "28P01" });
  });

  it("runs with the durability settings the tests rely on, and as no superuser", async () => {
    const rows = await one(
      db.socketUrl,
      "SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc, rolsuper FROM pg_roles WHERE rolname = current_user",
    );
    expect(rows).toEqual([{ fsync: "on", sc: "on", rolsuper: false }]);
  });

  it("psql runs SQL as the superuser and returns its output", async () => {
    expect(await db.psql("SELECT current_user;", "sshca")).toBe("postgres");
    await expect(db.psql("SELECT * FROM no_such_table;")).rejects.toThrow(/no_such_table/);
  });

  it("createDatabase gives a new database owned by the application role", async () => {
    const url = await db.createDatabase();
    const rows = await one(
      url,
      "SELECT current_database() AS name, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()",
    );
    expect(rows[0]!.owner).toBe("sshca");
    expect(url).toContain(String(rows[0]!.name));
  });

  it("keeps committed data over a restart", async () => {
    await one(db.url, "CREATE TABLE kept (v int)");
    await one(db.url, "INSERT INTO kept VALUES (1), (2)");
    await db.restart();
    expect(await one(db.url, "SELECT sum(v)::int AS s FROM kept")).toEqual([{ s: 3 }]);
  });

  it("is unreachable while stopped, and serves again after restart", async () => {
    await db.stop();
    await expect(one(db.url, "SELECT 1")).rejects.toMatchObject({ code: "ECONNREFUSED" });
    await db.restart();
    expect(await one(db.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
  });

  it("recovers every committed transaction after a kill (crash recovery from the WAL)", async () => {
    await one(db.url, "CREATE TABLE crash (v int)");
    for (let i = 1; i <= 20; i++) await one(db.url, "INSERT INTO crash VALUES ($1)", [i]);
    // An open transaction at the moment of the crash must vanish.
    const open = new pg.Client({ connectionString: db.url });
    open.on("error", () => undefined);
    await open.connect();
    await open.query("BEGIN");
    await open.query("INSERT INTO crash VALUES (1000)");
    await db.kill();
    await expect(one(db.url, "SELECT 1")).rejects.toBeDefined();
    await db.restart();
    expect(await one(db.url, "SELECT count(*)::int AS n, sum(v)::int AS s FROM crash")).toEqual([{ n: 20, s: 210 }]);
    await open.end().catch(() => undefined);
  });
});
