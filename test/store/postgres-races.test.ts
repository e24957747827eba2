import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { put, remove } from "../../src/store/port.js";
import { pruneTombstones } from "../../src/store/postgres/feed.js";
import { openPostgres, type Postgres } from "../../src/store/postgres/pool.js";
import { PostgresStorage } from "../../src/store/postgres/storage.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { migratedDatabase } from "../helpers/postgres-db.js";

/**
 * The PostgreSQL store under the races and failures a hostile review found: a full reload
 * racing this replica's own commit, a value the database cannot hold inside a shared batch,
 * the catch-up after the newest change's tombstone was pruned, and a stalled chain head.
 */

const log = pino({ level: "silent" });
const now = () => new Date();
let pgc: TestPostgres;
beforeAll(async () => {
  pgc = await startPostgres();
}, 60_000);
afterAll(() => pgc?.destroy());

let n = 0;
const fresh = () => migratedDatabase(pgc);
async function open(url: string, o: { statementTimeoutMs?: number; wrap?: (db: Postgres) => Postgres } = {}) {
  let db = openPostgres({
    url,
    log,
    applicationName: "review",
    ...(o.statementTimeoutMs ? { statementTimeoutMs: o.statementTimeoutMs } : {}),
  });
  if (o.wrap) db = o.wrap(db);
  return PostgresStorage.open({ db, log, now, replica: `rv${++n}`, pollMs: 200 });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("PostgreSQL store: races and failures", () => {
  it("a full reload racing this replica's own commit keeps the commit in the cache (a disabled user stays disabled, a revocation stays)", async () => {
    const url = await fresh();
    let gate: Promise<void> | undefined;
    let snapped: () => void = () => undefined;
    const taken = new Promise<void>((r) => (snapped = r));
    const s = await open(url, {
      wrap: (db) => ({
        ...db,
        pool: db.pool,
        tx: (fn, o) =>
          o?.isolation === "repeatable read" && gate
            ? db.tx(async (c) => {
                const out = await fn(c); // the reload's snapshot is read
                snapped();
                await gate;
                return out;
              }, o)
            : db.tx(fn, o),
      }),
    });
    try {
      await s.commit(
        [{ type: "user.added", actor: "admin", fields: { user: "ann" } }],
        [put("users", "ann", { groups: ["dev"], createdAt: now().toISOString() })],
      );
      let open_: () => void = () => undefined;
      gate = new Promise<void>((r) => (open_ = r));
      // What the listener's reconnect does (onReconnect): needReload, then refresh.
      (s as unknown as { needReload: boolean }).needReload = true;
      const reloading = s.refresh();
      await taken;
      // Meanwhile on this replica: ann is disabled and a serial revoked.
      const ann = s.state.users.ann!;
      await s.commit(
        [{ type: "user.disabled", actor: "admin", fields: { user: "ann" } }],
        [
          put("users", "ann", { ...ann, disabled: { at: now().toISOString(), by: "admin" } }, { entry: ann }),
          put("revoked", "123", { serial: "123", validBefore: new Date(Date.now() + 3600_000).toISOString() } as never),
        ],
      );
      expect(s.state.users.ann!.disabled).toBeDefined();
      gate = undefined;
      open_();
      await reloading;
      await sleep(1500); // many polls, a notification: nothing brings it back
      const inDb = await pgc.psql(
        "SELECT value->'disabled' IS NOT NULL FROM state_entries WHERE key = 'ann'",
        url.split("/").pop(),
      );
      expect(inDb).toBe("t");
      // The cache shows what this replica itself committed (before the fix: ann enabled again,
      // the revocation gone from this replica's KRL, for good).
      expect({ disabled: s.state.users.ann?.disabled !== undefined, revoked: "123" in s.state.revoked }).toEqual({
        disabled: true,
        revoked: true,
      });
    } finally {
      await s.close();
    }
  });

  it("a state value with a NUL is refused on its own; the commits sharing its batch land", async () => {
    const s = await open(await fresh());
    try {
      // A commit in flight, so the next two queue and share one batch (as concurrent requests do).
      const inFlight = s.append("user.added", "admin", { user: "zed" });
      const good = s.commit(
        [{ type: "user.added", actor: "admin", fields: { user: "ann" } }],
        [put("users", "ann", { groups: ["dev"], createdAt: now().toISOString() })],
      );
      // checkStorable vets the events only, not the state values.
      const bad = s.commit(
        [{ type: "user.added", actor: "admin", fields: { user: "bob" } }],
        [put("users", "bob", { groups: ["x\u0000y"], createdAt: now().toISOString() })],
      );
      const [, g, b] = await Promise.allSettled([inFlight, good, bad]);
      expect(b.status).toBe("rejected");
      // ann's commit is independent and lands (before the fix: rejected with the other's jsonb error).
      expect(g.status).toBe("fulfilled");
    } finally {
      await s.close();
    }
  });

  it("after the newest change's tombstone was pruned, a replica reloads once, not at every catch-up", async () => {
    const url = await fresh();
    let reloads = 0;
    const s = await open(url, {
      wrap: (db) => ({
        ...db,
        pool: db.pool,
        tx: (fn, o) => {
          if (o?.isolation === "repeatable read") reloads++;
          return db.tx(fn, o);
        },
      }),
    });
    try {
      await s.commit([], [put("users", "ann", { groups: [], createdAt: now().toISOString() })]);
      await s.commit([], [remove("users", "ann")]); // the newest version is now a tombstone
      await pgc.psql(
        "UPDATE state_entries SET changed_at = now() - interval '2 hours' WHERE value IS NULL",
        url.split("/").pop(),
      );
      const admin = openPostgres({ url, log, applicationName: "prune" });
      expect(await pruneTombstones(admin)).toBe(1);
      await admin.close();
      // A replica that starts (or reconnects its listener) now: reload sets lastVersion to the
      // newest row's version, below tombstones_pruned_below.
      const s2 = await open(url, {
        wrap: (db) => ({
          ...db,
          pool: db.pool,
          tx: (fn, o) => {
            if (o?.isolation === "repeatable read") reloads++;
            return db.tx(fn, o);
          },
        }),
      });
      reloads = 0;
      await sleep(2100); // ~10 polls at 200 ms, no writes at all
      await s2.close();
      // One reload, then caught up (before the fix: a full reload at every poll, for good).
      expect(reloads).toBeLessThanOrEqual(1);
    } finally {
      await s.close();
    }
  });

  it("a stalled chain head answers every waiting commit within a statement timeout (503), not one batch per timeout", async () => {
    const url = await fresh();
    const s = await open(url, { statementTimeoutMs: 1000 });
    const holder = openPostgres({ url, log, applicationName: "holder" });
    const c = await holder.pool.connect();
    await c.query("BEGIN");
    await c.query("SELECT * FROM audit_head FOR UPDATE");
    try {
      const t0 = Date.now();
      const settled: number[] = [];
      const all = Array.from({ length: 640 }, (_, i) =>
        s.append("user.added", "admin", { user: `u${i}` }).then(
          () => settled.push(Date.now() - t0),
          () => settled.push(Date.now() - t0),
        ),
      );
      await sleep(3500);
      // All 640 answered (before the fix: ~3 batches of 64; the 640th caller waited ~10 timeouts).
      const answered = settled.length;
      await c.query("ROLLBACK");
      c.release();
      await Promise.all(all);
      expect(answered).toBe(640);
    } finally {
      await holder.close();
      await s.close();
    }
  }, 60_000);
});
