import { join } from "node:path";
import type { QueryResultRow } from "pg";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/log.js";
import { EmbeddedAuditQuery } from "../../src/audit/embedded-query.js";
import { type AuditRecord, GENESIS_HASH, hashRecord } from "../../src/audit/record.js";
import { EmbeddedStorage } from "../../src/store/embedded.js";
import { put, remove, retryStale, StaleState, type Storage } from "../../src/store/port.js";
import { migrate } from "../../src/store/postgres/migrations.js";
import { openPostgres } from "../../src/store/postgres/pool.js";
import { PostgresStorage } from "../../src/store/postgres/storage.js";
import { StateStore, type UserRecord } from "../../src/store/state.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { openDeafReplica } from "../helpers/postgres-db.js";
import { tempDir } from "../helpers/tmp.js";

/**
 * The storage contract: what the access service, the routes and the workers rely on, checked
 * against both implementations. A behaviour only one backend has is tested in its own file.
 */

const log = pino({ level: "silent" });
const now = () => new Date();
const user = (groups: string[]): UserRecord => ({ groups, createdAt: new Date().toISOString() });

interface Backend {
  name: string;
  open(): Promise<Storage>;
}

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(() => pg?.destroy());

let replicas = 0;
async function openPg(url: string): Promise<PostgresStorage> {
  const db = openPostgres({ url, log, applicationName: "contract" });
  return PostgresStorage.open({ db, log, now, replica: `r${++replicas}` });
}

const backends: Backend[] = [
  {
    name: "embedded",
    async open() {
      const dir = tempDir("contract");
      const audit = await AuditLog.open({ dir: join(dir, "audit"), maxSegmentBytes: 1 << 20, now, log });
      const store = await StateStore.open(join(dir, "state.json"), now());
      const storage = new EmbeddedStorage(store, audit);
      storage.attachQuery(
        new EmbeddedAuditQuery({ audit, indexPath: join(dir, "audit", "index.sqlite"), anchors: () => [], log }),
      );
      return storage;
    },
  },
  {
    name: "postgres",
    async open() {
      const url = await pg.createDatabase();
      await migrate(openPostgres({ url, log, applicationName: "migrate" }));
      return openPg(url);
    },
  },
];

describe.each(backends)("storage contract: $name", (backend) => {
  it("commits records and changes as one, in chain order, and the state shows the change", async () => {
    const s = await backend.open();
    try {
      const records = await s.commit(
        [
          { type: "user.added", actor: "admin", fields: { user: "ann" } },
          { type: "user.added", actor: "admin", fields: { user: "bob" } },
        ],
        [put("users", "ann", user(["dev"])), put("users", "bob", user(["ops"]))],
      );
      expect(records.map((r) => r.seq)).toEqual([1, 2]);
      expect(records[0]!.prev).toBe(GENESIS_HASH);
      expect(records[1]!.prev).toBe(records[0]!.hash);
      for (const r of records) expect(hashRecord(r)).toBe(r.hash);
      expect(s.head).toEqual({ seq: 2, hash: records[1]!.hash });
      expect(s.state.users.ann?.groups).toEqual(["dev"]);
      await s.commit([{ type: "user.removed", actor: "admin", fields: { user: "ann" } }], [remove("users", "ann")]);
      expect(s.state.users.ann).toBeUndefined();
      expect(s.state.users.bob?.groups).toEqual(["ops"]);
    } finally {
      await s.close();
    }
  });

  it("lets exactly one of two writers that decided on the same entry win; the other gets StaleState and changes nothing", async () => {
    const s = await backend.open();
    try {
      await s.commit([], [put("users", "ann", user(["dev"]))]);
      const seen = s.state.users.ann!;
      const outcomes = await Promise.allSettled([
        s.commit(
          [{ type: "user.added", actor: "a", fields: { user: "ann" } }],
          [put("users", "ann", user(["a"]), { entry: seen })],
        ),
        s.commit(
          [{ type: "user.added", actor: "b", fields: { user: "ann" } }],
          [put("users", "ann", user(["b"]), { entry: seen })],
        ),
      ]);
      expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
      const lost = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
      expect(lost.reason).toBeInstanceOf(StaleState);
      const winner = outcomes.findIndex((o) => o.status === "fulfilled") === 0 ? "a" : "b";
      expect(s.state.users.ann?.groups).toEqual([winner]);
      // Only the winner's record is in the chain.
      const page = await s.audit.query({ type: "user.added" }, { limit: 10 });
      expect(page.records.map((r) => r.actor)).toEqual([winner]);
    } finally {
      await s.close();
    }
  });

  it("creates an entry expected absent once: a second creation decided on the same absence is stale", async () => {
    const s = await backend.open();
    try {
      const results = await Promise.allSettled(
        ["x", "y", "z"].map((g) => s.commit([], [put("users", "new", user([g]), { entry: undefined })])),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      expect(results.filter((r) => r.status === "rejected").every((r) => r.reason instanceof StaleState)).toBe(true);
    } finally {
      await s.close();
    }
  });

  it("retried decisions read fresh state: 20 concurrent increments of one entry all land", async () => {
    const s = await backend.open();
    try {
      await s.commit([], [put("webhooks", "h", { cursor: 0 })]);
      await Promise.all(
        Array.from({ length: 20 }, () =>
          retryStale(async () => {
            const cur = s.state.webhooks.h!;
            await s.commit([], [put("webhooks", "h", { cursor: cur.cursor + 1 }, { entry: cur })]);
          }, 50),
        ),
      );
      expect(s.state.webhooks.h?.cursor).toBe(20);
    } finally {
      await s.close();
    }
  });

  it("keeps one linear chain under 200 concurrent commits, every change in the state", async () => {
    const s = await backend.open();
    try {
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          s.commit(
            [{ type: "user.added", actor: "admin", fields: { user: `u${i}` } }],
            [put("users", `u${i}`, user(["dev"]), { entry: undefined })],
          ),
        ),
      );
      expect(Object.keys(s.state.users)).toHaveLength(200);
      expect(s.head.seq).toBe(200);
      const cursor = s.cursor(0);
      const all: AuditRecord[] = [];
      for (let page = await cursor.read(64); page.length > 0; page = await cursor.read(64)) all.push(...page);
      expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      all.forEach((r, i) => expect(r.prev).toBe(i === 0 ? GENESIS_HASH : all[i - 1]!.hash));
      expect((await s.audit.verify()).ok).toBe(true);
    } finally {
      await s.close();
    }
  });

  it("answers look-ups by request and user with cursor pages, newest page first, and finds a scan's result", async () => {
    const s = await backend.open();
    try {
      for (let i = 0; i < 7; i++) {
        await s.append("request.created", "ann", { request: "rq_a", requester: "ann", n: i });
        await s.append("request.created", "bob", { request: "rq_b", requester: "bob", n: i });
      }
      await s.append("scan.started", "sshcad", { scan: "sc_1", host: "web-1" });
      await s.append("scan.finished", "sshcad", { scan: "sc_1", host: "web-1", ports: [22] });
      await waitFor(async () => (await s.audit.findScan("sc_1")) !== undefined);
      const first = await s.audit.query({ request: "rq_a" }, { limit: 5 });
      expect(first.records.map((r) => r.fields.n)).toEqual([2, 3, 4, 5, 6]);
      expect(first.cursor).toBeDefined();
      const second = await s.audit.query({ request: "rq_a" }, { limit: 5, cursor: first.cursor });
      expect(second.records.map((r) => r.fields.n)).toEqual([0, 1]);
      expect(second.cursor).toBeUndefined();
      expect((await s.audit.query({ user: "bob" }, { limit: 100 })).records).toHaveLength(7);
      expect((await s.audit.query({ host: "web-1", type: "scan" }, { limit: 100 })).records).toHaveLength(2);
      expect((await s.audit.findScan("sc_1"))?.type).toBe("scan.finished");
      await expect(s.audit.query({}, { limit: 5, cursor: "bogus" })).rejects.toMatchObject({ code: "bad_request" });
    } finally {
      await s.close();
    }
  });

  it("keeps handshakes until they expire; of 20 concurrent takes of one, exactly one gets it", async () => {
    const s = await backend.open();
    try {
      const t = 1_000_000;
      await s.handshakes.put("signin", "a", { user: "ann", n: 1 }, t + 1000);
      await s.handshakes.put("other", "a", { user: "bob" }, t + 1000);
      expect(await s.handshakes.get("signin", "a", t)).toEqual({ user: "ann", n: 1 });
      expect(await s.handshakes.get("signin", "a", t + 1000)).toBeUndefined(); // expired
      await s.handshakes.put("signin", "a", { user: "ann", n: 2 }, t + 1000); // replaced
      expect(await s.handshakes.get("signin", "a", t)).toEqual({ user: "ann", n: 2 });
      const takes = await Promise.all(Array.from({ length: 20 }, () => s.handshakes.take("signin", "a", t)));
      expect(takes.filter((x) => x !== undefined)).toEqual([{ user: "ann", n: 2 }]);
      expect(await s.handshakes.get("signin", "a", t)).toBeUndefined();
      expect(await s.handshakes.get("other", "a", t)).toEqual({ user: "bob" }); // kinds apart
      // A conditional replace: only from the value read, never bringing back one taken.
      await s.handshakes.put("poll", "f", { next: 1, deep: { a: [1, 2] } }, t + 1000);
      const polls = await Promise.all(
        [2, 3, 4].map((n) => s.handshakes.replace("poll", "f", { next: 1, deep: { a: [1, 2] } }, { next: n }, t)),
      );
      expect(polls.filter(Boolean)).toHaveLength(1);
      expect(await s.handshakes.replace("poll", "f", { next: 1, deep: { a: [1, 2] } }, { next: 9 }, t)).toBe(false);
      expect(await s.handshakes.take("poll", "f", t)).toBeDefined();
      for (const n of [2, 3, 4])
        expect(await s.handshakes.replace("poll", "f", { next: n }, { next: 9 }, t)).toBe(false);
      expect(await s.handshakes.get("poll", "f", t)).toBeUndefined();
      await s.handshakes.put("signin", "old", {}, t + 10);
      expect(await s.handshakes.take("signin", "old", t + 10)).toBeUndefined(); // an expired one is not handed out
      await s.handshakes.put("signin", "old", {}, t + 10);
      expect(await s.handshakes.prune(t + 500)).toBe(1);
      expect(await s.handshakes.get("other", "a", t)).toEqual({ user: "bob" });
    } finally {
      await s.close();
    }
  });

  it("tells commit listeners about each batch of records, in order", async () => {
    const s = await backend.open();
    try {
      const seen: number[] = [];
      s.onCommit((records) => seen.push(...records.map((r) => r.seq)));
      await Promise.all(Array.from({ length: 10 }, (_, i) => s.append("daemon.started", "sshcad", { i })));
      expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    } finally {
      await s.close();
    }
  });
});

/** Polls `check` until it holds (at most `ms`); the index of the embedded backend is asynchronous. */
async function waitFor(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("PostgreSQL replicas", () => {
  let dbName = "";
  async function twoReplicas(): Promise<[PostgresStorage, PostgresStorage]> {
    const url = await pg.createDatabase();
    dbName = new URL(url).pathname.slice(1);
    await migrate(openPostgres({ url, log, applicationName: "migrate" }));
    return [await openPg(url), await openPg(url)];
  }

  it("shows a change made on one replica on the other within a second, and tells its listeners", async () => {
    const [a, b] = await twoReplicas();
    try {
      const changed: string[] = [];
      b.onExternalChange((list) => changed.push(...list.map((c) => `${c.collection}/${c.key}`)));
      const t0 = Date.now();
      await a.commit(
        [{ type: "user.added", actor: "admin", fields: { user: "ann" } }],
        [put("users", "ann", user(["dev"]))],
      );
      await waitFor(async () => b.state.users.ann !== undefined, 1000);
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(changed).toContain("users/ann");
      expect(b.head.seq).toBe(1);
      await a.commit([], [remove("users", "ann")]);
      await waitFor(async () => b.state.users.ann === undefined, 1000);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a change listener that throws does not fail the catch-up, nor keep the change from the others", async () => {
    const [a, b] = await twoReplicas();
    try {
      const told: string[] = [];
      b.onExternalChange(() => {
        throw new Error("listener bug");
      });
      b.onExternalChange((list) => told.push(...list.map((c) => c.key)));
      await a.commit([], [put("users", "ann", user(["dev"]))]);
      await b.sync();
      expect(b.state.users.ann).toBeDefined();
      expect(told).toContain("ann");
      // A take catches up first: it is not failed by the listener either.
      await a.commit([], [put("users", "bob", user(["dev"]))]);
      expect(await b.claim("webhook", "h", 60_000)).toBe(true);
      expect(told).toContain("bob");
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("refuses a decision made on a replica that had not seen the other's change yet, then decides again on fresh state", async () => {
    const [a, b] = await twoReplicas();
    try {
      await a.commit([], [put("webhooks", "h", { cursor: 0 })]);
      await waitFor(async () => b.state.webhooks.h !== undefined);
      const seenByB = b.state.webhooks.h!;
      await a.commit([], [put("webhooks", "h", { cursor: 5 }, { entry: a.state.webhooks.h! })]);
      // B decides on what it saw before A's change reached it.
      await expect(b.commit([], [put("webhooks", "h", { cursor: 1 }, { entry: seenByB })])).rejects.toBeInstanceOf(
        StaleState,
      );
      // The refusal caught B up: a retry decides on A's value.
      expect(b.state.webhooks.h?.cursor).toBe(5);
      await b.commit([], [put("webhooks", "h", { cursor: 6 }, { entry: b.state.webhooks.h! })]);
      await waitFor(async () => a.state.webhooks.h?.cursor === 6);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("keeps one chain across replicas writing at once", async () => {
    const [a, b] = await twoReplicas();
    try {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).append("daemon.started", "sshcad", { i })),
      );
      const v = await a.audit.verify();
      expect(v).toMatchObject({ ok: true, records: 100 });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("gives a lease to one replica at a time, takes it over when it lapses, and lets the holder release it", async () => {
    const [a, b] = await twoReplicas();
    try {
      const first = await Promise.all([a.claim("scan", "rq_1", 60_000), b.claim("scan", "rq_1", 60_000)]);
      expect(first.filter(Boolean)).toHaveLength(1);
      const [holder, other] = first[0] ? [a, b] : [b, a];
      expect(await holder.claim("scan", "rq_1", 60_000)).toBe(true); // renewal
      expect(await other.claim("scan", "rq_1", 60_000)).toBe(false);
      await holder.release("scan", "rq_1");
      expect(await other.claim("scan", "rq_1", 200)).toBe(true);
      await new Promise((r) => setTimeout(r, 400));
      expect(await holder.claim("scan", "rq_1", 60_000)).toBe(true); // lapsed: taken over
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a replica that takes a lease over sees what the last holder committed before letting go", async () => {
    const url = await pg.createDatabase();
    await migrate(openPostgres({ url, log, applicationName: "migrate" }));
    const a = await openPg(url);
    // B hears of no change by itself (no notifications, no timer): what it knows of A's writes
    // it learns from the claim. That is the window of a replica whose catch-up has not run yet.
    // Its catch-up can be made to fail once, as if the database went away right after the claim.
    const db = openPostgres({ url, log, applicationName: "contract" });
    let failCatchUp = false;
    let failRelease = false;
    const failing: typeof db = {
      ...db,
      query: (text, params) => {
        if (failCatchUp && text.includes("tombstones_pruned_below")) {
          failCatchUp = false;
          return Promise.reject(new Error("connection terminated"));
        }
        if (failRelease && text.startsWith("DELETE FROM leases")) {
          failRelease = false;
          return Promise.reject(new Error("connection terminated"));
        }
        return db.query(text, params);
      },
    };
    const b = await openDeafReplica(failing, `r${++replicas}`);
    try {
      expect(await a.claim("webhook", "h", 60_000)).toBe(true);
      await a.commit([], [put("webhooks", "h", { cursor: 7 }, { entry: undefined })]);
      await a.release("webhook", "h");
      expect(await b.claim("webhook", "h", 60_000)).toBe(true);
      // It resumes from A's cursor, not from nothing (which would send everything again).
      expect(b.state.webhooks.h).toEqual({ cursor: 7 });
      // Renewing its own live lease needs no catch-up, and none is waited for.
      await a.commit([], [put("webhooks", "other", { cursor: 1 }, { entry: undefined })]);
      expect(await b.claim("webhook", "h", 60_000)).toBe(true);
      expect(b.state.webhooks.other).toBeUndefined();

      // A lease taken whose catch-up fails is not reported held on a stale view; the next
      // claim (a renewal of what the failed one wrote) catches up before it answers.
      await a.commit([], [put("syslog", "s", { cursor: 9 }, { entry: undefined })]);
      failCatchUp = true;
      await expect(b.claim("syslog", "s", 60_000)).rejects.toThrow("connection terminated");
      expect(b.state.syslog.s).toBeUndefined();
      // ... and it holds nothing: A can take the lease at once.
      expect(await a.claim("syslog", "s", 60_000)).toBe(true);
      await a.release("syslog", "s");
      expect(await b.claim("syslog", "s", 60_000)).toBe(true);
      expect(b.state.syslog.s).toEqual({ cursor: 9 });

      // If letting go fails too, B still holds the lease; its next claim, a renewal, catches up
      // before it answers.
      await a.commit([], [put("syslog", "t", { cursor: 4 }, { entry: undefined })]);
      [failCatchUp, failRelease] = [true, true];
      await expect(b.claim("syslog", "t", 60_000)).rejects.toThrow("connection terminated");
      expect(await a.claim("syslog", "t", 60_000)).toBe(false);
      expect(b.state.syslog.t).toBeUndefined();
      expect(await b.claim("syslog", "t", 60_000)).toBe(true);
      expect(b.state.syslog.t).toEqual({ cursor: 4 });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a take whose answer was lost catches up on the next claim, which finds the lease already ours", async () => {
    const url = await pg.createDatabase();
    await migrate(openPostgres({ url, log, applicationName: "migrate" }));
    const a = await openPg(url);
    // B's next lease query is carried out, but its answer never arrives (a connection reset).
    const db = openPostgres({ url, log, applicationName: "contract" });
    let loseAnswer = false;
    const lossy: typeof db = {
      ...db,
      query: <R extends QueryResultRow>(text: string, params?: unknown[]) => {
        const answer = db.query<R>(text, params);
        if (!(loseAnswer && text.includes("INSERT INTO leases"))) return answer;
        loseAnswer = false;
        return answer.then(() => Promise.reject(new Error("connection reset")));
      },
    };
    const b = await openDeafReplica(lossy, `r${++replicas}`);
    try {
      expect(await a.claim("webhook", "h", 60_000)).toBe(true);
      await a.commit([], [put("webhooks", "h", { cursor: 7 }, { entry: undefined })]);
      await a.release("webhook", "h");
      loseAnswer = true;
      await expect(b.claim("webhook", "h", 60_000)).rejects.toThrow("connection reset");
      // The take was written: A cannot have it, and B's next claim, a renewal in the database's
      // eyes, resumes from A's cursor.
      expect(await a.claim("webhook", "h", 60_000)).toBe(false);
      expect(await b.claim("webhook", "h", 60_000)).toBe(true);
      expect(b.state.webhooks.h).toEqual({ cursor: 7 });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a take whose catch-up outlasts the lease answers held only while no other replica took it", async () => {
    const url = await pg.createDatabase();
    await migrate(openPostgres({ url, log, applicationName: "migrate" }));
    const a = await openPg(url);
    // B's catch-up can be held up (a slow database, a long pause of the process) until the test
    // lets it go; `held` says that one is waiting (B's claim itself is written by then).
    const db = openPostgres({ url, log, applicationName: "contract" });
    let slow: Promise<void> | undefined;
    let held = false;
    let failConfirm = false;
    const slowed: typeof db = {
      ...db,
      query: async (text, params) => {
        if (failConfirm && text.trimStart().startsWith("UPDATE leases SET until")) {
          failConfirm = false;
          throw new Error("connection reset");
        }
        if (slow && text.includes("tombstones_pruned_below")) {
          held = true;
          await slow;
        }
        return db.query(text, params);
      },
    };
    const replica = `r${++replicas}`;
    const b = await openDeafReplica(slowed, replica);
    const lapse = () => db.query("UPDATE leases SET until = now() - interval '1 second' WHERE owner = $1", [replica]);
    const takeSlowly = async (key: string) => {
      let go: () => void = () => undefined;
      [slow, held] = [new Promise<void>((r) => (go = r)), false];
      const claimed = b.claim("webhook", key, 60_000);
      await waitFor(async () => held, 10_000);
      await lapse(); // B's lease lapses while its catch-up runs
      return {
        claimed,
        go: () => {
          slow = undefined;
          go();
        },
      };
    };
    try {
      // Another replica takes the lapsed lease meanwhile: B's take does not answer held.
      const first = await takeSlowly("h");
      expect(await a.claim("webhook", "h", 60_000)).toBe(true);
      first.go();
      expect(await first.claimed).toBe(false);
      expect(await a.claim("webhook", "h", 60_000)).toBe(true);

      // Nobody took it: B's take answers held, and the lease runs its full length from then.
      const second = await takeSlowly("g");
      second.go();
      expect(await second.claimed).toBe(true);
      expect(await a.claim("webhook", "g", 60_000)).toBe(false);

      // Should that last step fail, the claim fails and holds nothing: A can take it at once.
      failConfirm = true;
      await expect(b.claim("webhook", "f", 60_000)).rejects.toThrow("connection reset");
      expect(await a.claim("webhook", "f", 60_000)).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("shares rate-limit buckets: 5 per minute is 5 across both replicas, refilled by the database clock", async () => {
    const [a, b] = await twoReplicas();
    try {
      const taken = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).takeToken("t", "k", 5)));
      expect(taken.filter(Boolean)).toHaveLength(5);
      expect(await a.takeToken("t", "other", 5)).toBe(true); // buckets are per key
      await pg.psql(`UPDATE rate_buckets SET at = at - interval '13 seconds' WHERE key = 'k'`, dbName);
      expect(await b.takeToken("t", "k", 5)).toBe(true); // 13 s at 5/min refilled one
      expect(await b.takeToken("t", "k", 5)).toBe(false);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("shares handshakes: one opened on A is seen on B and used up on both when B takes it", async () => {
    const [a, b] = await twoReplicas();
    try {
      const t = Date.now();
      await a.handshakes.put("ssh-signin", "ch_1", { user: "ann" }, t + 60_000);
      expect(await b.handshakes.get("ssh-signin", "ch_1", t)).toEqual({ user: "ann" });
      const [fromA, fromB] = await Promise.all([
        a.handshakes.take("ssh-signin", "ch_1", t),
        b.handshakes.take("ssh-signin", "ch_1", t),
      ]);
      expect([fromA, fromB].filter((x) => x !== undefined)).toEqual([{ user: "ann" }]);
      expect(await a.handshakes.get("ssh-signin", "ch_1", t)).toBeUndefined();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("verify names a record changed in the database", async () => {
    const [a, b] = await twoReplicas();
    try {
      for (let i = 0; i < 5; i++) await a.append("daemon.started", "sshcad", { i });
      await pg.psql(`UPDATE audit SET fields = '{"i": 99}' WHERE seq = 3`, dbName);
      const v = await b.audit.verify();
      expect(v).toMatchObject({ ok: false, problem: { kind: "modified", seq: 3 } });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
