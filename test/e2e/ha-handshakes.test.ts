import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { api } from "../helpers/api.js";
import { confirmDeviceCode, launchBrowser, type TestBrowser } from "../helpers/browser.js";
import type { TestDaemon } from "../helpers/daemon.js";
import { type IdpUser, startIdp, type TestIdp } from "../helpers/idp.js";
import { makePerson } from "../helpers/people.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { run } from "../helpers/procs.js";
import { type Replicas, startReplicas } from "../helpers/replicas.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tool } from "../helpers/tools.js";

/**
 * Sign-in handshakes on replicas behind a load balancer that sends each HTTP request wherever
 * it likes: every step that opens a handshake goes to replica A and the step that finishes it
 * to replica B (real daemons on one PostgreSQL database, real ssh-keygen, a real identity
 * provider and browser). Each finishes, and each is single-use across both replicas.
 */

const users: Record<string, IdpUser> = {
  erin: { password: "erin-pw", sub: "sub-erin", claims: { preferred_username: "erin", groups: ["SRE"] } },
};

let pg: TestPostgres;
let idp: TestIdp;
let browser: TestBrowser;
let r: Replicas;
let a: TestDaemon;
let b: TestDaemon;

beforeAll(async () => {
  [pg, idp] = await Promise.all([startPostgres(), startIdp({ users })]);
  r = await startReplicas(
    pg,
    2,
    e2eConfig({
      extra: {
        auth: {
          oidc: {
            issuer: idp.issuer,
            clientId: idp.clientId,
            clientSecretFile: idp.clientSecretFile,
            caFile: idp.caFile,
            scopes: ["openid", "profile", "groups"],
            groupMap: { SRE: "sre" },
          },
        },
      },
    }),
  );
  [a, b] = r.daemons as [TestDaemon, TestDaemon];
  browser = await launchBrowser({ trust: [idp.caFile] });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await r?.stop();
  await idp?.stop();
  await pg?.destroy();
});

/** `message` signed with the private key `key` in `namespace` (ssh-keygen -Y sign, as the CLI does). */
async function sign(key: string, namespace: string, message: string): Promise<string> {
  const s = await run(tool("ssh-keygen"), ["-q", "-Y", "sign", "-n", namespace, "-f", key], { input: message });
  expect(s.code, s.stderr).toBe(0);
  return s.stdout;
}

describe("sign-in handshakes across replicas", () => {
  test("a key registration and an SSH-key sign-in opened on A finish on B, once", async () => {
    const token = await a.addUser("frank", ["dev"]);
    const frank = await makePerson("frank", a, token);
    const publicKey = readFileSync(`${frank.key}.pub`, "utf8").trim();

    // Proof of possession of the new key: the challenge from A, the signed answer to B.
    const kc = await api(a, "POST", "/v1/keys/challenge", { token, body: { publicKey } });
    expect(kc.status, JSON.stringify(kc.body)).toBe(201);
    const keySig = await sign(frank.key, kc.body.namespace, kc.body.message);
    const added = await api(b, "POST", "/v1/keys", {
      token,
      body: { challenge: kc.body.challenge, signature: keySig },
    });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    const again = await api(a, "POST", "/v1/keys", {
      token,
      body: { challenge: kc.body.challenge, signature: keySig },
    });
    expect(again.status).toBe(400);

    // Signing in with it: the challenge from A, the signature to B; the session works on A.
    const ch = await api(a, "POST", "/v1/auth/challenge", { body: { user: "frank" } });
    expect(ch.status, JSON.stringify(ch.body)).toBe(201);
    const sig = await sign(frank.key, ch.body.namespace, ch.body.message);
    const signedIn = await api(b, "POST", "/v1/auth/ssh", { body: { challenge: ch.body.challenge, signature: sig } });
    expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200);
    const me = await api(a, "GET", "/v1/whoami", { token: signedIn.body.token });
    expect(me.status).toBe(200);
    expect(me.body.user).toBe("frank");
    // The challenge is used up on every replica.
    for (const d of [a, b]) {
      const replay = await api(d, "POST", "/v1/auth/ssh", { body: { challenge: ch.body.challenge, signature: sig } });
      expect(replay.status).toBe(401);
    }
  });

  test("a console link made on A opens a console session on B, once", async () => {
    const token = await b.addUser("gina", ["dev"]);
    const link = await api(a, "POST", "/v1/console/links", { token, body: {} });
    expect(link.status, JSON.stringify(link.body)).toBe(201);
    const path = `/console/link${new URL(link.body.url).search}`;
    const opened = await api(b, "GET", path);
    expect(opened.status).toBe(303);
    const cookie = String(opened.headers["set-cookie"]).split(";")[0]!;
    expect(cookie).toMatch(/=/);
    for (const d of [a, b]) expect((await api(d, "GET", path)).status).toBe(401);
  });

  test("a device sign-in started on A is finished by polls that reach B, and only one poll gets the session", async () => {
    const started = await api(a, "POST", "/v1/auth/oidc/device", { body: {} });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const { flow, userCode, verificationUri, interval } = started.body;
    const pending = await api(b, "POST", "/v1/auth/oidc/device/poll", { body: { flow } });
    expect(pending.status, JSON.stringify(pending.body)).toBe(200);
    expect(pending.body.status).toBe("pending");
    // Polling A at once is too soon by the interval B set: the flow's state is shared.
    const tooSoon = await api(a, "POST", "/v1/auth/oidc/device/poll", { body: { flow } });
    expect(tooSoon.body.status).toBe("slow_down");

    await confirmDeviceCode(await browser.newPage(), verificationUri, userCode, { login: "erin", password: "erin-pw" });
    let done: Awaited<ReturnType<typeof api>> | undefined;
    const deadline = Date.now() + 60_000;
    while (!done && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, ((tooSoon.body.interval as number) ?? interval + 5) * 1000));
      const p = await api(b, "POST", "/v1/auth/oidc/device/poll", { body: { flow } });
      if (p.body.status === "done") done = p;
      else expect(["pending", "slow_down"]).toContain(p.body.status);
    }
    expect(done?.status).toBe(200);
    const me = await api(a, "GET", "/v1/whoami", { token: done!.body.token });
    expect(me.body.user).toBe("erin");
    // Used up: another poll, on either replica, finds no flow.
    for (const d of [a, b])
      expect((await api(d, "POST", "/v1/auth/oidc/device/poll", { body: { flow } })).status).toBe(401);
  }, 120_000);
});
