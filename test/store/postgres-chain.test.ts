import { recordKeys } from "../../src/audit/index-keys.js";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type AuditRecord, GENESIS_HASH, hashRecord } from "../../src/audit/record.js";
import { type AuditEvent, appendRecords } from "../../src/store/postgres/chain.js";
import { migrate } from "../../src/store/postgres/migrations.js";
import { openPostgres, type Postgres } from "../../src/store/postgres/pool.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";

/** Every record as stored, read back into the shape that was hashed. */
async function readChain(db: Postgres): Promise<AuditRecord[]> {
  const r = await db.query<{
    seq: string;
    time: Date;
    actor: string;
    type: AuditRecord["type"];
    fields: Record<string, unknown>;
    prev: string;
    hash: string;
  }>("SELECT seq, time, actor, type, fields, prev, hash FROM audit ORDER BY seq");
  return r.rows.map((x) => ({ ...x, seq: Number(x.seq), time: x.time.toISOString() }));
}

/** The chain is linear (1, 2, 3, ... each linked to the one before) and every hash is right. */
function expectLinear(records: AuditRecord[]): void {
  let prev = GENESIS_HASH;
  records.forEach((r, i) => {
    expect(r.seq).toBe(i + 1);
    expect(r.prev).toBe(prev);
    expect(hashRecord(r)).toBe(r.hash);
    prev = r.hash;
  });
}

const event = (fields: Record<string, unknown>, time = new Date().toISOString()): AuditEvent => ({
  time,
  actor: "alice",
  type: "request.created",
  fields,
});

describe("audit chain in PostgreSQL", () => {
  let pgc: TestPostgres;
  let db: Postgres;
  beforeAll(async () => {
    pgc = await startPostgres();
  });
  beforeEach(async () => {
    // A fresh, migrated database per test: each starts its chain at genesis.
    const url = await pgc.createDatabase();
    db = openPostgres({
      url,
      log: pino({ level: "silent" }),
      applicationName: "chain-test",
      max: 10,
      connectionTimeoutMs: 60_000,
    });
    await migrate(db);
    return () => db.close();
  });
  afterAll(async () => {
    await pgc?.destroy();
  });

  it("300 concurrent appends, each with its own state change, make one linear chain", async () => {
    const n = 300;
    const appended = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        db.tx(async (c) => {
          await c.query(
            "INSERT INTO state_entries (collection, key, value, version) VALUES ('requests', $1, '{}', nextval('state_seq'))",
            [`r${i}`],
          );
          return appendRecords(c, [event({ request: `r${i}` })]);
        }),
      ),
    );
    const chain = await readChain(db);
    expect(chain).toHaveLength(n);
    expectLinear(chain);
    // What each caller was handed is what was stored.
    expect(appended.flat().sort((a, b) => a.seq - b.seq)).toEqual(chain);
    const head = (await db.query("SELECT seq, hash FROM audit_head")).rows[0];
    expect(head).toEqual({ seq: String(n), hash: chain.at(-1)!.hash });
  });

  it("'read the newest record, then insert' (no head lock) lets two appenders chain onto the same record", async () => {
    // The shape the head lock replaces, run deterministically: both read before either inserts.
    let arrived = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((r) => (release = r));
    const naive = (actor: string) =>
      db.tx(async (c) => {
        const last = (
          await c.query<{ seq: string; hash: string }>("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        ).rows[0];
        if (++arrived === 2) release();
        await bothRead;
        const seq = Number(last?.seq ?? 0) + 1;
        await c.query(
          "INSERT INTO audit (seq, time, actor, type, fields, prev, hash, keys) VALUES ($1, now(), $2, 'request.created', '{}', $3, 'x', '{}')",
          [seq, actor, last?.hash ?? GENESIS_HASH],
        );
      });
    const results = await Promise.allSettled([naive("a"), naive("b")]);
    // Both chained onto genesis: one only survives because seq is a primary key.
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect((results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason).toMatchObject({
      code: "23505",
    });
  });

  it("stores each record so that it reads back exactly as hashed, and stores the look-up keys the embedded index uses", async () => {
    const events: AuditEvent[] = [
      event({
        request: "rq_1",
        requester: "bob",
        role: "debug",
        hosts: ["web-1"],
        reason: 'INC-1 ünïcødé 🔑 "quoted" \\ back',
      }),
      {
        ...event({ serial: "1234567890123456789", user: "carol", validBefore: "2030-01-01T00:00:00.000Z" }),
        type: "certificate.revoked",
      },
      {
        ...event({
          scan: "sc_abcdefghijklmnop",
          host: "web-1",
          ports: [22, 443],
          nested: { a: [1.5, -0, 1e21, null, true] },
        }),
        type: "scan.started",
        actor: "sshcad",
      },
      { ...event({}), time: "2026-05-20T10:11:12.345Z", type: "daemon.started", actor: "sshcad" },
    ];
    const records = await db.tx((c) => appendRecords(c, events));
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    const chain = await readChain(db);
    expectLinear(chain);
    expect(chain).toEqual(records.map((r) => ({ ...r, fields: JSON.parse(JSON.stringify(r.fields)) })));
    const keys = await db.query<{ keys: string[] }>("SELECT keys FROM audit ORDER BY seq");
    expect(keys.rows.map((r) => [...r.keys].sort())).toEqual(records.map((r) => recordKeys(r).sort()));
    expect(keys.rows[0]!.keys).toEqual(expect.arrayContaining(["r:rq_1", "u:bob", "q:bob", "h:web-1"]));
  });

  it.each([
    ["a NUL character", { reason: "a\u0000b" }],
    ["a lone high surrogate", { reason: "a\ud800b" }],
    ["a lone low surrogate in a key", { ["k\udc00"]: 1 }],
    ["a NUL in a nested array", { list: [["x\u0000"]] }],
  ])(
    "refuses %s before writing anything (jsonb cannot hold it), and the transaction rolls back",
    async (_name, fields) => {
      const sql = `SELECT ${`'${JSON.stringify(fields).replace(/'/g, "''")}'`}::jsonb`;
      await expect(db.query(sql)).rejects.toMatchObject({ code: expect.stringMatching(/^22/) }); // PostgreSQL itself refuses it
      await expect(
        db.tx(async (c) => {
          await c.query(
            "INSERT INTO state_entries (collection, key, value, version) VALUES ('requests', 'x', '{}', nextval('state_seq'))",
          );
          return appendRecords(c, [event({ fine: true }), event(fields)]);
        }),
      ).rejects.toMatchObject({ code: "bad_request" });
      expect(
        (
          await db.query(
            "SELECT (SELECT count(*)::int FROM audit) AS audit, (SELECT count(*)::int FROM state_entries) AS state, (SELECT seq FROM audit_head) AS head",
          )
        ).rows,
      ).toEqual([{ audit: 0, state: 0, head: "0" }]);
    },
  );

  it("refuses a time that would not read back as the string hashed", async () => {
    for (const time of ["2026-05-20T10:11:12Z", "2026-05-20 10:11:12.000+00", "yesterday"]) {
      await expect(db.tx((c) => appendRecords(c, [event({}, time)]))).rejects.toMatchObject({ code: "internal" });
    }
    expect(await readChain(db)).toEqual([]);
  });

  it("appends nothing for no events (and takes no lock)", async () => {
    expect(await db.tx((c) => appendRecords(c, []))).toEqual([]);
    expect((await db.query("SELECT seq FROM audit_head")).rows).toEqual([{ seq: "0" }]);
  });
});
