import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { api } from "../helpers/api.js";
import { auditRecords } from "../helpers/audit-files.js";
import { SSHCAD, startDaemon, type TestDaemon, writeConfig } from "../helpers/daemon.js";
import { run } from "../helpers/procs.js";
import {
  fetchTrusting,
  type HostileIdp,
  type HostileMode,
  startHostileIdp,
  startIdp,
  type TestIdp,
} from "../helpers/idp.js";
import { makePerson } from "../helpers/people.js";
import { e2eConfig } from "../helpers/scenario.js";

/**
 * Every way an ID token or a callback can be wrong is refused with a clear message, audited,
 * and changes nothing. A hostile provider (test/idp/hostile.ts) breaks one thing per sign-in;
 * the daemon is what is under test. The browser step is the provider's plain redirect here.
 */

let hostile: HostileIdp;
let real: TestIdp;
let daemon: TestDaemon;
let strict: TestDaemon;

const oidcConfig = (p: { issuer: string; clientId: string; clientSecretFile: string; caFile: string }, extra = {}) => ({
  auth: {
    oidc: {
      issuer: p.issuer,
      clientId: p.clientId,
      clientSecretFile: p.clientSecretFile,
      caFile: p.caFile,
      scopes: ["openid", "profile", "email", "groups"],
      groupMap: { dev: "dev", Engineering: "dev" },
      ...extra,
    },
  },
});

/** One browser sign-in through the API: start, follow the provider's redirect, finish. */
async function signIn(target: TestDaemon, caFile: string, tamper: (cb: URLSearchParams) => void = () => undefined) {
  const verifier = randomBytes(32).toString("base64url");
  const codeChallenge = createHash("sha256").update(verifier).digest("base64url");
  const start = await api(target, "POST", "/v1/auth/oidc/start", {
    body: { redirectUri: "http://127.0.0.1:9/callback", codeChallenge },
  });
  expect(start.status, JSON.stringify(start.body)).toBe(201);
  const answer = await fetchTrusting(caFile)(start.body.authorizationUrl);
  const location = new URL(answer.headers.get("location")!);
  const cb = location.searchParams;
  tamper(cb);
  const finish = (flow: string, code = cb.get("code")!) =>
    api(target, "POST", "/v1/auth/oidc/finish", {
      body: { flow, code, state: cb.get("state")!, codeVerifier: verifier },
    });
  return { finish: () => finish(start.body.flow), replayInto: (flow: string) => finish(flow, cb.get("code")!) };
}

beforeAll(async () => {
  hostile = await startHostileIdp();
  // Many refusals in a row from one address: the failed-sign-in limit is not what is tested here.
  daemon = await startDaemon({
    configPath: writeConfig(e2eConfig({ extra: { ...oidcConfig(hostile), limits: { failedAuthPerMinute: 1000 } } })),
  });
  real = await startIdp({
    users: {
      alice: { password: "pw", sub: "sub-alice", claims: { preferred_username: "alice", groups: ["Engineering"] } },
    },
  });
  strict = await startDaemon({
    configPath: writeConfig(
      e2eConfig({
        extra: {
          ...oidcConfig(real, { required: true }),
          auth: { ...oidcConfig(real, { required: true }).auth, localUsers: ["ci-bot"] },
        },
      }),
    ),
  });
});
afterAll(async () => {
  await daemon?.stop();
  await strict?.stop();
  await hostile?.stop();
  await real?.stop();
});

describe("a broken ID token is refused, audited, and changes nothing", () => {
  test.each<[HostileMode, RegExp]>([
    ["wrong-iss", /the ID token has an unexpected JWT "iss" \(issuer\) claim value/],
    ["wrong-aud", /the ID token has an unexpected JWT "aud" \(audience\) claim value/],
    ["expired", /"exp" \(expiration time\) claim value, expiration is past/],
    ["iat-future", /not valid yet \(issued in the future\)/],
    ["nbf-future", /"nbf" \(not before\) claim value/],
    ["bad-signature", /the ID token's signature does not verify/],
    ["unknown-kid", /signed with an unknown key/],
    ["nonce-mismatch", /"nonce" claim value/],
    ["nonce-missing", /"nonce" \(nonce\) claim missing/],
    ["alg-none", /"alg" header parameter/],
  ])("fail/%s", async (mode, reason) => {
    hostile.set({ mode });
    const usersBefore = (await daemon.sshcad(["user", "list", "--json"])).stdout;
    const r = await (await signIn(daemon, hostile.caFile)).finish();
    expect(r.status, JSON.stringify(r.body)).toBe(401);
    expect(r.body.error.message).toMatch(/^sign-in refused: /);
    expect(r.body.error.message).toMatch(reason);
    const failed = auditRecords(daemon.dataDir)
      .filter((x) => x.type === "auth.failed")
      .at(-1)!;
    expect(failed.fields).toMatchObject({ method: "oidc", issuer: hostile.issuer });
    expect(JSON.stringify(failed)).not.toMatch(/eyJ/); // never a token
    expect((await daemon.sshcad(["user", "list", "--json"])).stdout).toBe(usersBefore);
  });

  test("ok/the same provider, nothing broken: signed in", async () => {
    hostile.set({ mode: "good" });
    const r = await (await signIn(daemon, hostile.caFile)).finish();
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ user: "alice", groups: ["dev"] });
  });

  test("fail/no groups claim: nothing maps", async () => {
    hostile.set({ mode: "no-groups" });
    const r = await (await signIn(daemon, hostile.caFile)).finish();
    expect(r.status).toBe(403);
    expect(r.body.error.message).toMatch(/maps to an sshca group/);
  });
});

describe("callbacks and codes", () => {
  test("fail/a state that does not match the sign-in", async () => {
    hostile.set({ mode: "good" });
    const s = await signIn(daemon, hostile.caFile, (cb) => cb.set("state", "forged"));
    const r = await s.finish();
    expect(r.status).toBe(401);
    expect(r.body.error.message).toMatch(/state does not match/);
  });

  test("fail/a replayed authorization code, and a finished sign-in cannot be finished again", async () => {
    const { signInAtProvider, launchBrowser } = await import("../helpers/browser.js");
    const browser = await launchBrowser({ trust: [real.caFile] });
    // The loopback callback the browser lands on (a CLI would serve it).
    const callback = createServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => callback.listen(0, "127.0.0.1", () => r()));
    const redirectUri = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`;
    try {
      const verifier = randomBytes(32).toString("base64url");
      const start = await api(strict, "POST", "/v1/auth/oidc/start", {
        body: {
          redirectUri,
          codeChallenge: createHash("sha256").update(verifier).digest("base64url"),
        },
      });
      const { callbackUrl } = await signInAtProvider(await browser.newPage(), start.body.authorizationUrl, {
        login: "alice",
        password: "pw",
      });
      const body = {
        flow: start.body.flow,
        code: callbackUrl.searchParams.get("code")!,
        state: callbackUrl.searchParams.get("state")!,
        iss: callbackUrl.searchParams.get("iss")!, // RFC 9207, which this provider sends
        codeVerifier: verifier,
      };
      const first = await api(strict, "POST", "/v1/auth/oidc/finish", { body });
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      const again = await api(strict, "POST", "/v1/auth/oidc/finish", { body });
      expect(again.status).toBe(401);
      expect(again.body.error.message).toMatch(/unknown or expired sign-in/);
      // The same code in a new sign-in: the provider refuses it (codes are single-use).
      const other = await api(strict, "POST", "/v1/auth/oidc/start", {
        body: {
          redirectUri,
          codeChallenge: createHash("sha256").update(verifier).digest("base64url"),
        },
      });
      const state = new URL(other.body.authorizationUrl).searchParams.get("state")!;
      const replay = await api(strict, "POST", "/v1/auth/oidc/finish", {
        body: { ...body, flow: other.body.flow, state },
      });
      expect(replay.status).toBe(401);
      expect(replay.body.error.message).toMatch(/refused the code/);
    } finally {
      callback.close();
      await browser.close();
    }
  });

  test("config check validates auth.oidc, the secret file included", async () => {
    const good = await strict.sshcad(["config", "check"]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stderr).toMatch(/single sign-on with https:\/\/127\.0\.0\.1:\d+/);
    const missing = writeConfig(
      e2eConfig({
        extra: { auth: { oidc: { ...oidcConfig(real).auth.oidc, clientSecretFile: "/nonexistent/secret" } } },
      }),
    );
    const r = await run(process.execPath, [SSHCAD, "--config", missing, "config", "check"]);
    expect(r.code).toBe(78);
    expect(r.stderr).toBe("sshcad: auth.oidc.clientSecretFile: cannot read /nonexistent/secret: ENOENT\n");
    const unmapped = writeConfig(
      e2eConfig({ extra: { auth: { oidc: { ...oidcConfig(real).auth.oidc, groupMap: { x: "nope" } } } } }),
    );
    const u = await run(process.execPath, [SSHCAD, "--config", unmapped, "config", "check"]);
    expect(u.stderr).toMatch(/auth\.oidc\.groupMap\.x\.0: unknown group "nope"/);
  });

  test("with auth.oidc.required, API tokens work only for auth.localUsers", async () => {
    const added = await strict.sshcad(["user", "add", "mallory", "--group", "dev"]);
    expect(added.code).toBe(1);
    expect(added.stderr).toMatch(/signs in through the identity provider here/);
    const bot = await strict.sshcad(["user", "add", "ci-bot", "--group", "dev"]);
    expect(bot.code, bot.stderr).toBe(0);
    const me = await makePerson("ci-bot", strict, bot.stdout.trim());
    expect((await me.sshca(["whoami"])).code).toBe(0);
  });
});

describe("the device flow, as RFC 8628 says", () => {
  test("pending and slow_down are waited out (slow_down adds 5 s); then signed in", async () => {
    hostile.set({ mode: "good", device: { pending: 1, slowDown: true, outcome: "tokens", interval: 1 } });
    const p = await makePerson("dev-flow", daemon, "");
    delete p.env.SSHCA_TOKEN;
    const before = hostile.devicePolls().length;
    const r = await p.sshca(["auth", "oidc", "--device"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/enter the code: \S+/);
    const polls = (await hostile.waitForDevicePolls(before + 3)).slice(before);
    expect(polls.map((x) => x.answer)).toEqual(["authorization_pending", "slow_down", "tokens"]);
    // After slow_down the client waited the longer interval (1 s + 5 s), not the old one.
    expect(polls[2]!.at - polls[1]!.at).toBeGreaterThanOrEqual(5_500);
  });

  test.each([
    ["access_denied", /denied at the identity provider/],
    ["expired_token", /device code expired/],
  ] as const)("%s ends the sign-in, and polling stops", async (outcome, message) => {
    hostile.set({ mode: "good", device: { pending: 0, slowDown: false, outcome, interval: 1 } });
    const p = await makePerson("dev-flow-2", daemon, "");
    delete p.env.SSHCA_TOKEN;
    const before = hostile.devicePolls().length;
    const r = await p.sshca(["auth", "oidc", "--device"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(hostile.devicePolls().slice(before)).toHaveLength(1);
  });
});
