import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { registerSshKey } from "../../src/auth/ssh-signin.js";
import { closeClients, httpCall } from "../helpers/client.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { run } from "../helpers/procs.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";
import { sshSign } from "../helpers/ssh-sign.js";
import { tool } from "../helpers/tools.js";

/**
 * Sign-in must stay available to everyone while others misbehave. Many clients are simulated
 * with real connections from many loopback addresses (127.0.0.0/8 is all loopback on Linux).
 */
let api: InProc;
let aliceKey: string;
// The clock stands still unless a test moves it: no rate-limit bucket refills behind a test's back.
const clock = Date.now();
const now = () => new Date(clock);
const bad = `sshca_${"b".repeat(16)}_${"X".repeat(43)}`;
const from = (n: number) => `127.0.${Math.floor(n / 250) + 10}.${(n % 250) + 1}`;
const challenge = (address: string, user: string) =>
  httpCall({ url: api.url, from: address }, "POST", "/v1/auth/challenge", { body: { user } });

/** alice answers a challenge with her real key, signed by ssh-keygen -Y sign. */
async function answer(address: string, c: { challenge: string; message: string; namespace: string }) {
  const signature = await sshSign(aliceKey, c.namespace, c.message);
  return httpCall({ url: api.url, from: address }, "POST", "/v1/auth/ssh", {
    body: { challenge: c.challenge, signature },
  });
}

beforeAll(async () => {
  // Generous per-address rates, so the old single global cap of 10,000 open challenges is what a
  // flood would hit; failedAuthPerMinute 3 for the lockout case below.
  const extra = {
    limits: { failedAuthPerMinute: 400, challengesPerAddress: 10, challengesPerUser: 3 },
    scanning: { enabled: false },
  };
  api = await startInProc(e2eConfig({ extra }), { now });
  await api.token("alice", ["dev"]);
  const dir = tempDir("alice");
  aliceKey = join(dir, "id_ed25519");
  expect((await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", aliceKey])).code).toBe(0);
  const { core } = api.daemon;
  await registerSshKey({ storage: core.storage, now }, "alice", readFileSync(`${aliceKey}.pub`, "utf8"), "test");
});
afterAll(async () => {
  closeClients();
  await api?.daemon.stop();
});

describe("someone else's failures from the same address never lock out valid credentials", () => {
  test("a signed challenge from a locked-out address still signs in; bad tokens stay refused", async () => {
    const address = "127.0.4.1";
    const whoami = (token: string) => httpCall({ url: api.url, from: address }, "GET", "/v1/whoami", { token });
    let locked = 0;
    for (let i = 0; i < 1000 && locked !== 429; i++) locked = (await whoami(bad)).status;
    expect(locked).toBe(429);
    const c = await challenge("127.0.4.2", "alice");
    expect(c.status).toBe(201);
    const signedIn = await answer(address, c.body);
    expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200);
    expect((await whoami(signedIn.body.token)).status).toBe(200);
    expect((await whoami(bad)).status).toBe(429);
  });
});

describe("sign-in challenges are capped per address and per user, not globally", () => {
  test("one address gets at most challengesPerAddress open challenges (then 429); another address is not affected", async () => {
    for (let i = 0; i < 10; i++) expect((await challenge("127.0.1.1", `user${i}`)).status).toBe(201);
    const refused = await challenge("127.0.1.1", "user99");
    expect(refused.status).toBe(429);
    expect(refused.body.error.message).toMatch(/too many open sign-in challenges from this address; retry in \d+s/);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await challenge("127.0.1.2", "user99")).status).toBe(201);
  });

  test("more challenges for one user than challengesPerUser drop that user's oldest; the newest still works", async () => {
    const first = await challenge("127.0.2.1", "alice");
    for (let i = 2; i <= 4; i++) expect((await challenge(`127.0.2.${i}`, "alice")).status).toBe(201);
    const oldest = await answer("127.0.2.1", first.body);
    expect(oldest.status).toBe(401);
    expect(oldest.body.error.message).toBe("unknown or expired sign-in challenge; ask for a new one");
    const fresh = await challenge("127.0.2.9", "alice");
    expect((await answer("127.0.2.9", fresh.body)).status).toBe(200);
  });

  test("a flood of 11,000 challenges from many addresses, half in alice's name, does not lock alice out", async () => {
    const addresses = Array.from({ length: 11 }, (_, i) => from(i));
    const refused = await Promise.all(
      addresses.map(async (address, n) => {
        let count = 0;
        for (let i = 0; i < 1000; i++) {
          const r = await challenge(address, i % 2 ? "alice" : `nobody${n}x${i}`);
          if (r.status === 429) count++;
        }
        return count;
      }),
    );
    const c = await challenge("127.0.3.1", "alice");
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const signedIn = await answer("127.0.3.1", c.body);
    expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200);
    expect(signedIn.body.user).toBe("alice");
    // Every flooding address was held to its own share (at least its requests for other users
    // were refused once it held challengesPerAddress of them).
    for (const count of refused) expect(count).toBeGreaterThanOrEqual(490);
  });
});
