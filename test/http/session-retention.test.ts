import { copyFileSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { afterAll, beforeAll, expect, test, vi } from "vitest";
import { registerSshKey } from "../../src/auth/ssh-signin.js";
import { SESSION_KEEP_MS } from "../../src/auth/session-retention.js";
import { put } from "../../src/store/port.js";
import { StateStore, type TokenRecord } from "../../src/store/state.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { run } from "../helpers/procs.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";
import { sshSign } from "../helpers/ssh-sign.js";
import { tool } from "../helpers/tools.js";

/**
 * Every sign-in makes a session. Ended sessions leave the live state a day after they ended
 * (design invariant 7: the live state follows live work; history is in the audit log), so a
 * busy CA's state does not grow with every login it ever had. API tokens stay.
 * The daemon's clock is the test's; the sweep runs on its own timer.
 */
let clock = Date.now();
let api: InProc;
let apiToken: string;
let aliceKey: string;

beforeAll(async () => {
  api = await startInProc(e2eConfig({ extra: { scanning: { enabled: false } } }), { now: () => new Date(clock) });
  apiToken = await api.token("alice", ["dev"]);
  aliceKey = join(tempDir("alice"), "id_ed25519");
  expect((await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", aliceKey])).code).toBe(0);
  const { core } = api.daemon;
  await registerSshKey(
    { storage: core.storage, now: () => new Date(clock) },
    "alice",
    readFileSync(`${aliceKey}.pub`, "utf8"),
    "test",
  );
});
afterAll(async () => {
  await api?.daemon.stop();
});

/** A real SSH-key sign-in: a challenge signed by ssh-keygen -Y sign. Returns the session token. */
async function signIn(): Promise<string> {
  const c = await api.call("POST", "/v1/auth/challenge", { body: { user: "alice" } });
  expect(c.status).toBe(201);
  const signature = await sshSign(aliceKey, c.body.namespace, c.body.message);
  const r = await api.call("POST", "/v1/auth/ssh", {
    body: { challenge: c.body.challenge, signature },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.token as string;
}

const tokens = (): Record<string, TokenRecord> => api.daemon.core.storage.state.tokens;
const idOf = (token: string) => Object.keys(tokens()).find((id) => token.includes(`_${id}_`))!;
/**
 * The clock moved to `at`, then sweeps until `done` holds (the daemon's own timer sweeps too,
 * and may be the one that prunes; the sweeper looks for ended sessions once a minute).
 */
async function sweepAt(at: number, done: () => boolean = () => true): Promise<void> {
  clock = at;
  const until = Date.now() + 10_000;
  for (;;) {
    await api.daemon.access.sweep();
    if (done()) return;
    if (Date.now() > until) throw new Error("the sweep did not get there within 10 s");
    await new Promise((r) => setTimeout(r, 50));
  }
}
/** The tokens a restart would load: the state file and its journals, read from a copy. */
async function tokensOnDisk(): Promise<Record<string, TokenRecord>> {
  const file = api.daemon.core.paths.state;
  const copy = join(tempDir("state-copy"), basename(file));
  for (const f of readdirSync(dirname(file)).filter((f) => f.startsWith(basename(file)))) {
    copyFileSync(join(dirname(file), f), join(dirname(copy), f));
  }
  return (await StateStore.open(copy, new Date(clock))).data.tokens;
}
const whoami = (token: string) => api.call("GET", "/v1/whoami", { token });

test("an ended session leaves the live state a day after it ended; until then its end is named; API tokens stay", async () => {
  const start = clock;
  const expiring = await signIn();
  const loggedOut = await signIn();
  expect((await api.call("POST", "/v1/auth/logout", { token: loggedOut, body: {} })).status).toBe(200);
  const [e, l, a] = [idOf(expiring), idOf(loggedOut), idOf(apiToken)];
  expect(tokens()[e]!.kind).toBe("session");
  const expiresAt = Date.parse(tokens()[e]!.expiresAt);
  expect(expiresAt).toBeGreaterThan(start);

  // Just short of a day after the logout: both still there, each refused for what it is.
  await sweepAt(start + SESSION_KEEP_MS - 60_000);
  expect(Object.keys(tokens())).toEqual(expect.arrayContaining([e, l, a]));
  expect((await whoami(loggedOut)).body.error.message).toMatch(/revoked/);

  // A day after the logout: the logged-out session is gone; the expired one stays its day.
  await sweepAt(start + SESSION_KEEP_MS + 60_000, () => tokens()[l] === undefined);
  expect(tokens()[e]).toBeDefined();
  expect((await whoami(loggedOut)).status).toBe(401);
  expect((await whoami(expiring)).body.error.message).toMatch(/expired/);

  // A day after it expired, the other one goes too; the state file no longer holds either.
  await sweepAt(expiresAt + SESSION_KEEP_MS + 60_000, () => tokens()[e] === undefined);
  expect((await whoami(expiring)).status).toBe(401);
  // The state on disk (snapshot and journals): neither is there, while the API token is.
  const onDisk = await tokensOnDisk();
  expect(onDisk[a]).toBeDefined();
  expect(onDisk[e]).toBeUndefined();
  expect(onDisk[l]).toBeUndefined();
  // The API token, expired or not by now, is an admin's to remove.
  expect(tokens()[a]).toBeDefined();
  // And a new sign-in works as before.
  expect((await whoami(await signIn())).status).toBe(200);
});

test("a backlog of ended sessions (the first sweep after an upgrade) leaves at most 500 per sweep, until none is left", async () => {
  const { storage } = api.daemon.core;
  const ended = new Date(clock - SESSION_KEEP_MS - 60 * 60_000).toISOString();
  const ids = Array.from({ length: 1200 }, (_, i) => `backlog${String(i).padStart(5, "0")}`);
  await storage.commit(
    [],
    ids.map((id) =>
      put("tokens", id, {
        user: "alice",
        hash: "x",
        createdAt: ended,
        expiresAt: ended,
        kind: "session",
        method: "ssh",
      }),
    ),
  );
  const left = () => ids.filter((id) => tokens()[id] !== undefined).length;
  expect(left()).toBe(1200);
  // What each commit removes (the daemon's own timer sweeps too; either may do a batch).
  const removals: number[] = [];
  const commit = vi.spyOn(storage, "commit");
  try {
    clock += 2 * 60_000; // past the once-a-minute look
    await sweepAt(clock, () => left() === 0);
    for (const [, changes] of commit.mock.calls) {
      const n = (changes ?? []).filter((c) => c.collection === "tokens" && !("value" in c)).length;
      if (n > 0) removals.push(n);
    }
  } finally {
    commit.mockRestore();
  }
  expect(removals).toEqual([500, 500, 200]);
});
