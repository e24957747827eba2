import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import express from "express";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OidcSignIn } from "../../src/auth/oidc/signin.js";
import { ProviderError } from "../../src/auth/oidc/provider.js";
import { fail } from "../../src/errors.js";
import { authenticate } from "../../src/http/auth.js";
import { RateLimiter } from "../../src/http/rate-limit.js";
import { MemoryHandshakes } from "../../src/store/memory-handshakes.js";
import { put, type Handshakes } from "../../src/store/port.js";
import { openPostgres, type Queryable } from "../../src/store/postgres/pool.js";
import { HANDSHAKE_QUERIES, HANDSHAKE_QUEUE, PostgresHandshakes } from "../../src/store/postgres/handshakes.js";
import { PostgresStorage } from "../../src/store/postgres/storage.js";
import { config } from "../helpers/config.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { migratedDatabase } from "../helpers/postgres-db.js";

/**
 * Shared sign-in handshakes under the races a hostile review found (each failed before its fix):
 * device-flow polls that race (one claims the poll slot; a finished flow is never brought back),
 * unknown-token floods that must neither starve a catch-up nor cost one from a refused address,
 * ids a database reader could use, and a value the database cannot store.
 */

const log = pino({ level: "silent" });
/** The key a handshake is stored under (handshake-table.ts): the SHA-256 of its id. */
const stored = (id: string) => createHash("sha256").update(id).digest("base64url");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const T = Date.parse("2026-11-30T06:00:00Z");
const oidcConfig = () =>
  config((c) => {
    (c as Record<string, unknown>).auth = {
      oidc: { issuer: "https://idp.example", clientId: "sshca", groupMap: { SRE: "sre" } },
    };
  });
const claims = { iss: "https://idp.example", sub: "sub-erin", preferred_username: "erin", groups: ["SRE"] };

/** An OidcSignIn over the given handshakes, with a provider whose poll answers `poll()`. */
function oidcOver(handshakes: Handshakes, poll: () => Promise<unknown>, clock: () => number = () => T) {
  const commits: unknown[] = [];
  const storage = {
    handshakes,
    state: { users: {}, tokens: {} },
    commit: async (e: unknown) => {
      commits.push(e);
      return [];
    },
    append: async () => ({}),
  };
  const provider = {
    startDevice: async () => ({
      device_code: "dc-secret",
      user_code: "ABCD-EFGH",
      verification_uri: "https://idp.example/device",
      interval: 5,
      expires_in: 600,
    }),
    pollDevice: poll,
  };
  let n = 0;
  const s = new OidcSignIn({
    config: oidcConfig,
    storage: storage as never,
    now: () => new Date(clock()),
    random: (k) => Buffer.alloc(k, ++n),
    provider: provider as never,
    log,
  });
  return { s, commits };
}

describe("device flow on the embedded backend (MemoryHandshakes)", () => {
  it("two polls at the same moment: only one reaches the provider (the other is slow_down), as before 4e6a73f", async () => {
    let calls = 0;
    const { s } = oidcOver(new MemoryHandshakes(), async () => {
      calls++;
      throw new ProviderError("authorization_pending", "pending");
    });
    const { flow } = await s.startDevice("127.0.0.1");
    const answers = await Promise.all([s.pollDevice(flow), s.pollDevice(flow)]);
    expect(answers.map((a) => a.status).sort()).toEqual(["pending", "slow_down"]);
    expect(calls).toBe(1);
  });

  it("a poll's update does not bring back a flow another poll already took (single-use)", async () => {
    const inner = new MemoryHandshakes();
    let hold = false;
    let held: () => void = () => undefined;
    let isHeld = false;
    const gate = new Promise<void>((r) => (held = r));
    const gated: Handshakes = {
      get: (k, i, n) => inner.get(k, i, n),
      take: (k, i, n) => inner.take(k, i, n),
      prune: (n) => inner.prune(n),
      put: (k, i, v, e) => inner.put(k, i, v, e),
      replace: async (k, i, x, v, n) => {
        if (hold) {
          hold = false;
          isHeld = true;
          await gate; // this replica is slow between its read and its write
        }
        return inner.replace(k, i, x, v, n);
      },
    };
    const { s, commits } = oidcOver(gated, async () => ({ claims })); // the person approved
    const { flow } = await s.startDevice("127.0.0.1");
    hold = true;
    const slow = s.pollDevice(flow); // read the flow, its write is held
    while (!isHeld) await sleep(1);
    const fast = await s.pollDevice(flow); // another poll (another replica) finishes the sign-in
    expect(fast.status).toBe("done");
    expect(await inner.get("oidc-flow", stored(flow), T)).toBeUndefined(); // taken
    held();
    const late = await slow.catch((e: Error) => e);
    // The held write re-inserted the taken flow (put is an upsert) ...
    const after = await inner.get("oidc-flow", stored(flow), T);
    // ... and with a provider that answers twice, a second session was minted from one flow.
    expect({
      resurrected: after !== undefined,
      sessions: commits.length,
      late: (late as { status?: string }).status,
    }).toEqual({
      resurrected: false,
      sessions: 1,
      late: undefined,
    });
  });

  it("a too-soon poll's write does not bring back a flow another poll finished (it would live on, unbounded by any replica's caps)", async () => {
    const inner = new MemoryHandshakes();
    let hold = false;
    let release: () => void = () => undefined;
    let isHeld = false;
    const gate = new Promise<void>((r) => (release = r));
    const gated: Handshakes = {
      get: (k, i, n) => inner.get(k, i, n),
      take: (k, i, n) => inner.take(k, i, n),
      prune: (n) => inner.prune(n),
      put: (k, i, v, e) => inner.put(k, i, v, e),
      replace: async (k, i, x, v, n) => {
        if (hold) {
          hold = false;
          isHeld = true;
          await gate;
        }
        return inner.replace(k, i, x, v, n);
      },
    };
    let approved = false;
    let t = T;
    const { s } = oidcOver(
      gated,
      async () => {
        if (!approved) throw new ProviderError("authorization_pending", "pending");
        return { claims };
      },
      () => t,
    );
    const { flow } = await s.startDevice("127.0.0.1");
    expect((await s.pollDevice(flow)).status).toBe("pending"); // next poll from T+5 s
    t = T + 1000;
    hold = true;
    const early = s.pollDevice(flow); // too soon: slow_down, its write held (a slow replica)
    while (!isHeld) await sleep(1);
    approved = true;
    t = T + 6000;
    expect((await s.pollDevice(flow)).status).toBe("done"); // the CLI's next poll finishes the sign-in
    release();
    expect((await early).status).toBe("slow_down");
    // The finished, single-use flow stays gone (before: back in the store, device code and all).
    expect(await inner.get("oidc-flow", stored(flow), t)).toBeUndefined();
  });
});

describe("device flow when the handshake store is busy (503 from the in-flight gate)", () => {
  it("a flow the provider just confirmed is still finished: its take is tried again, not the sign-in wasted", async () => {
    const inner = new MemoryHandshakes();
    let busy = 0;
    const flaky: Handshakes = {
      get: (k, i, n) => inner.get(k, i, n),
      put: (k, i, v, e) => inner.put(k, i, v, e),
      replace: (k, i, x, v, n) => inner.replace(k, i, x, v, n),
      prune: (n) => inner.prune(n),
      take: async (k, i, n) => {
        if (busy > 0) {
          busy--;
          throw fail.unavailable("too many sign-ins in progress on this server; try again in a few seconds");
        }
        return inner.take(k, i, n);
      },
    };
    let polls = 0;
    const { s } = oidcOver(flaky, async () => {
      polls++;
      busy = 2; // the store is busy right after the provider spent its device code
      return { claims };
    });
    const { flow } = await s.startDevice("127.0.0.1");
    const answer = await s.pollDevice(flow);
    expect(answer.status).toBe("done");
    expect(polls).toBe(1);
    expect(busy).toBe(0);
    expect(await inner.get("oidc-flow", stored(flow), T)).toBeUndefined();
  });
});

describe("authenticate: an unknown token id from a locked-out address", () => {
  it("costs no catch-up once the address is refused (429)", async () => {
    let syncs = 0;
    const storage = {
      state: { tokens: {} },
      sync: async () => {
        syncs++;
      },
    };
    const failures = new RateLimiter(
      () => 3,
      () => T,
    );
    const app = express();
    app.use(authenticate({ config: () => ({}) as never, storage: storage as never, now: () => new Date(T), failures }));
    app.get("/", (_q, r) => r.json({}));
    app.use((err: { code?: string }, _q: express.Request, r: express.Response, _n: express.NextFunction) =>
      r.status(err.code === "rate_limited" ? 429 : 401).end(),
    );
    const server = app.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const port = (server.address() as AddressInfo).port;
    const letters = "abcdefghijklmnopqrstuvwxyz";
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const id = letters[i]!.repeat(16);
      const res = await fetch(`http://127.0.0.1:${port}/`, {
        headers: { authorization: `Bearer sshca_${id}_${"X".repeat(43)}` },
      });
      statuses.push(res.status);
    }
    server.close();
    expect(statuses.filter((x) => x === 429).length).toBe(17);
    // Every refused request, 429s included, asked the database to catch up first.
    expect(syncs).toBeLessThanOrEqual(3);
  });
});

describe("PostgreSQL", () => {
  let pgc: TestPostgres;
  beforeAll(async () => {
    pgc = await startPostgres();
  }, 60_000);
  afterAll(() => pgc?.destroy());
  let n = 0;
  const fresh = () => migratedDatabase(pgc);
  const open = (url: string) =>
    PostgresStorage.open({
      db: openPostgres({ url, log, applicationName: "review" }),
      log,
      now: () => new Date(),
      replica: `hs${++n}`,
      pollMs: 200,
    });
  /** What a flood of requests with unknown token ids does: one sync() per request. */
  function flood(s: PostgresStorage) {
    let on = true;
    const done = (async () => {
      while (on) {
        void s.sync();
        await new Promise((r) => setImmediate(r));
      }
    })();
    return async () => {
      on = false;
      await done;
    };
  }

  it("sync() is answered while other unknown-token requests keep arriving", async () => {
    const s = await open(await fresh());
    try {
      const stop = flood(s);
      await sleep(100);
      const r = await Promise.race([
        s.sync().then(() => "answered"),
        sleep(3000).then(() => "still waiting after 3 s"),
      ]);
      await stop();
      expect(r).toBe("answered");
    } finally {
      await s.close();
    }
  });

  it("during such a flood, a commit refused as stale does not stop every later commit of the replica", async () => {
    const url = await fresh();
    const s1 = await open(url);
    const s2 = await open(url);
    try {
      await s1.commit([], [put("users", "ann", { groups: ["dev"], createdAt: new Date().toISOString() })]);
      while (!s2.state.users.ann) await sleep(10);
      const stop1 = flood(s1);
      const stop2 = flood(s2);
      await sleep(100);
      const ann = s1.state.users.ann!;
      // Two replicas change ann at once: one of the two commits is stale in the database.
      const both = await Promise.allSettled(
        [
          s1.commit([], [put("users", "ann", { ...ann, groups: ["sre"] }, { entry: ann })]),
          s2.commit([], [put("users", "ann", { ...ann, groups: ["leads"] }, { entry: s2.state.users.ann! })]),
        ].map((p) => Promise.race([p, sleep(3000).then(() => "hung")])),
      );
      // Then an unrelated commit on each replica.
      const later = await Promise.all(
        [s1, s2].map((s, i) =>
          Promise.race([
            s
              .commit([], [put("users", `u${i}`, { groups: [], createdAt: new Date().toISOString() })])
              .then(() => "answered"),
            sleep(3000).then(() => "still waiting after 3 s"),
          ]),
        ),
      );
      await stop1();
      await stop2();
      expect({
        both: both.map((b) => (b.status === "fulfilled" && b.value === "hung" ? "hung" : "answered")),
        later,
      }).toEqual({
        both: ["answered", "answered"],
        later: ["answered", "answered"],
      });
    } finally {
      await s1.close();
      await s2.close();
    }
  });

  it("a flood of made-up handshake ids (anyone can send them, from many addresses) holds at most a few pooled connections, is 503 beyond its queue, and other queries go on meanwhile", async () => {
    const db = openPostgres({ url: await fresh(), log, applicationName: "flood" });
    let inFlight = 0;
    let most = 0;
    const counting: Queryable = {
      query: async (text, params) => {
        most = Math.max(most, ++inFlight);
        try {
          return await db.query(text, params);
        } finally {
          inFlight--;
        }
      },
    };
    const hs = new PostgresHandshakes(counting);
    try {
      // Every pooled connection open first, so what follows measures waiting, not connecting.
      await Promise.all(Array.from({ length: 10 }, () => db.query("SELECT pg_sleep(0.05)")));
      const n = 600;
      let answered = 0;
      const flood = Promise.allSettled(
        Array.from({ length: n }, (_, i) =>
          hs.take("ssh-signin", `made-up-${i}`, T).then((v) => {
            answered++;
            return v;
          }),
        ),
      );
      // A commit's or an authenticated request's query does not wait behind the flood.
      await db.query("SELECT 1");
      expect(answered).toBeLessThan(HANDSHAKE_QUEUE / 2);
      const results = await flood;
      expect(most).toBe(HANDSHAKE_QUERIES);
      const refused = results.filter((r) => r.status === "rejected");
      expect(refused).toHaveLength(n - HANDSHAKE_QUERIES - HANDSHAKE_QUEUE);
      for (const r of refused) expect(r.reason).toMatchObject({ code: "unavailable" });
      expect(answered).toBe(HANDSHAKE_QUERIES + HANDSHAKE_QUEUE);
      // Every slot is free again afterwards.
      await hs.put("ssh-signin", "real", { v: 1 }, T + 60_000);
      expect(await hs.take("ssh-signin", "real", T)).toEqual({ v: 1 });
      expect(inFlight).toBe(0);
    } finally {
      await db.close();
    }
  });

  it("the handshakes table holds no device flow id a database reader could poll with", async () => {
    const url = await fresh();
    const s = await open(url);
    try {
      let approved = false;
      const provider = {
        startDevice: async () => ({
          device_code: "dc-secret",
          user_code: "ABCD-EFGH",
          verification_uri: "https://idp.example/device",
          interval: 5,
          expires_in: 600,
        }),
        pollDevice: async () => {
          if (!approved) throw new ProviderError("authorization_pending", "pending");
          return { claims };
        },
      };
      let t = Date.now();
      const sso = new OidcSignIn({
        config: oidcConfig,
        storage: s,
        now: () => new Date(t),
        random: (k) => Buffer.from(Array.from({ length: k }, () => Math.floor(Math.random() * 256))),
        provider: provider as never,
        log,
      });
      const victim = await sso.startDevice("192.0.2.7");
      // A database reader (a read-only role, a backup, a log of queries) sees the rows.
      const rows = await pgc.psql(
        "SELECT id || ' ' || (value->>'kind') || ' ' || (value->>'deviceCode') FROM handshakes",
        url.split("/").pop(),
      );
      const stolen = rows.split("\n")[0]!.split(" ")[0]!;
      // The person approves at the provider; the reader polls first, with nothing but the id.
      approved = true;
      t += 6000;
      const got = await sso.pollDevice(stolen).catch((e: Error) => e);
      expect({
        stolenIsFlowId: stolen === victim.flow,
        hijacked: (got as { status?: string }).status === "done",
      }).toEqual({
        stolenIsFlowId: false,
        hijacked: false,
      });
    } finally {
      await s.close();
    }
  });
  it("a handshake value the database cannot store (NUL in a WebAuthn name) is a client error, not a server error", async () => {
    const url = await fresh();
    const s = await open(url);
    try {
      const err = await s.handshakes.put("webauthn", "ann\nx", { name: "a\u0000b" }, Date.now() + 1000).catch((e) => e);
      expect({ code: (err as { code?: string })?.code, message: String((err as Error)?.message) }).toEqual({
        code: "bad_request",
        message: expect.any(String),
      });
    } finally {
      await s.close();
    }
  });
});
