import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GENESIS_HASH } from "../../src/audit/record.js";
import { migrate, requireSchema, schemaVersion } from "../../src/store/postgres/migrations.js";
import { openPostgres, type Postgres } from "../../src/store/postgres/pool.js";
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from "../../src/store/postgres/schema.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";

describe("PostgreSQL schema migrations", () => {
  let pgc: TestPostgres;
  const opened: Postgres[] = [];
  const open = (url: string, max = 2) => {
    const db = openPostgres({ url, log: pino({ level: "silent" }), applicationName: "migrations-test", max });
    opened.push(db);
    return db;
  };
  beforeAll(async () => {
    pgc = await startPostgres();
  });
  afterAll(async () => {
    await Promise.all(opened.map((db) => db.close()));
    await pgc?.destroy();
  });

  it("are numbered 1, 2, ... in order", () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(LATEST_SCHEMA_VERSION).toBe(MIGRATIONS.length);
  });

  it("five replicas migrating an empty database at once apply each migration exactly once, without error", async () => {
    const url = await pgc.createDatabase();
    const dbs = Array.from({ length: 5 }, () => open(url));
    const results = await Promise.all(dbs.map((db) => migrate(db)));
    // Exactly one call applied everything; the others waited on the lock and found it done.
    const appliers = results.filter((r) => r.applied.length > 0);
    expect(appliers).toHaveLength(1);
    expect(appliers[0]).toEqual({ from: 0, to: LATEST_SCHEMA_VERSION, applied: MIGRATIONS.map((m) => m.version) });
    for (const r of results.filter((x) => x.applied.length === 0)) {
      expect(r).toEqual({ from: LATEST_SCHEMA_VERSION, to: LATEST_SCHEMA_VERSION, applied: [] });
    }
    expect(await schemaVersion(dbs[0]!)).toBe(LATEST_SCHEMA_VERSION);
    // One genesis head row: a second application would have failed on its primary key, or doubled it.
    expect((await dbs[0]!.query("SELECT id, seq, hash FROM audit_head")).rows).toEqual([
      { id: 1, seq: "0", hash: GENESIS_HASH },
    ]);
  });

  it("is idempotent: migrating a migrated database changes nothing", async () => {
    const db = open(await pgc.createDatabase());
    await migrate(db);
    const tables = () =>
      db.query<{ name: string }>(
        "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1",
      );
    const before = (await tables()).rows;
    expect(await migrate(db)).toEqual({ from: LATEST_SCHEMA_VERSION, to: LATEST_SCHEMA_VERSION, applied: [] });
    expect((await tables()).rows).toEqual(before);
    await expect(requireSchema(db)).resolves.toBeUndefined();
  });

  it("creates the tables, sequence and indexes the store relies on", async () => {
    const db = open(await pgc.createDatabase());
    await migrate(db);
    const rels = await db.query<{ name: string; kind: string }>(
      "SELECT c.relname AS name, c.relkind::text AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'i') ORDER BY 1",
    );
    const byKind = (k: string) => rels.rows.filter((r) => r.kind === k).map((r) => r.name);
    expect(byKind("r")).toEqual([
      "audit",
      "audit_head",
      "handshakes",
      "leases",
      "rate_buckets",
      "sshca_meta",
      "state_entries",
    ]);
    expect(byKind("S")).toEqual(["state_seq"]);
    expect(byKind("i")).toEqual(
      expect.arrayContaining(["audit_keys", "audit_time", "state_entries_version", "handshakes_expires_at"]),
    );
    // The head row cannot be duplicated: the chain has one head.
    await expect(db.query("INSERT INTO audit_head (id, seq, hash) VALUES (2, 0, 'x')")).rejects.toMatchObject({
      code: "23514",
    });
  });

  it("refuses a database migrated by a newer sshcad, naming both versions, and leaves it untouched", async () => {
    const url = await pgc.createDatabase();
    const db = open(url);
    await migrate(db);
    const newer = LATEST_SCHEMA_VERSION + 1;
    await pgc.psql(
      `UPDATE sshca_meta SET value = '${newer}' WHERE key = 'schema_version';`,
      new URL(url).pathname.slice(1),
    );
    const message = `database schema version ${newer} is newer than this sshcad (knows up to ${LATEST_SCHEMA_VERSION}); upgrade sshcad`;
    await expect(migrate(db)).rejects.toMatchObject({ code: "state_invalid", message });
    await expect(requireSchema(db)).rejects.toMatchObject({ code: "state_invalid", message });
    expect(await schemaVersion(db)).toBe(newer);
  });

  it("an unmigrated database is refused at start with the command to run", async () => {
    const db = open(await pgc.createDatabase());
    expect(await schemaVersion(db)).toBe(0);
    await expect(requireSchema(db)).rejects.toMatchObject({
      code: "state_invalid",
      message: `database schema version 0 is older than this sshcad needs (${LATEST_SCHEMA_VERSION}); run: sshcad storage migrate`,
    });
  });

  it("a failing migration leaves nothing behind (DDL is transactional)", async () => {
    const db = open(await pgc.createDatabase());
    const broken = [
      ...MIGRATIONS,
      {
        version: LATEST_SCHEMA_VERSION + 1,
        name: "broken",
        statements: ["CREATE TABLE half (v int)", "SELECT no_such_fn()"],
      },
    ];
    await expect(migrate(db, broken)).rejects.toMatchObject({ code: "42883" });
    expect(await schemaVersion(db)).toBe(0);
    expect((await db.query("SELECT to_regclass('half') AS t, to_regclass('audit') AS a")).rows).toEqual([
      { t: null, a: null },
    ]);
  });
});
