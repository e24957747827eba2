import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { totpCode } from "../../src/auth/factors/totp.js";
import { closeClients, httpCall } from "../helpers/client.js";
import { type HostileIdp, startHostileIdp } from "../helpers/idp.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { run } from "../helpers/procs.js";
import { e2eConfig, LOGIN } from "../helpers/scenario.js";
import { syntheticSkKey } from "../helpers/sk-synthetic.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * Findings of a hostile review of sign-in, factors and sessions, each as the attack it was: a
 * stolen token enrolling its own factor, guessing TOTP codes, a sign-in undoing `user disable`,
 * an idle console session coming back, a flood locking everyone out of single sign-on, a
 * security-key approval replayed as an override, and what disable and remove leave behind.
 */

const base32Decode = (s: string): Buffer => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of s) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
};

async function sign(key: string, ns: string, message: string): Promise<string> {
  const dir = tempDir("sig");
  writeFileSync(join(dir, "m"), message);
  const r = await run(tool("ssh-keygen"), ["-Y", "sign", "-f", key, "-n", ns, join(dir, "m")]);
  expect(r.code, r.stderr).toBe(0);
  return readFileSync(join(dir, "m.sig"), "utf8");
}

async function newKey(): Promise<{ key: string; pub: string }> {
  const key = join(tempDir("k"), "id");
  await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  return { key, pub: readFileSync(`${key}.pub`, "utf8").trim() };
}

let offset = 0;
const now = () => new Date(Date.now() + offset);
let idp: HostileIdp;
let api: InProc;
let alice: string;

const roles = {
  guarded: {
    principals: [LOGIN],
    hosts: ["web-1"],
    requesters: ["dev"],
    approvers: ["sre"],
    stepUp: { methods: ["sk", "totp"] },
  },
};

beforeAll(async () => {
  idp = await startHostileIdp({ device: { pending: 0, slowDown: false, outcome: "tokens", interval: 1 } });
  api = await startInProc(
    e2eConfig({
      roles,
      extra: {
        scanning: { enabled: false },
        limits: { failedAuthPerMinute: 100_000 },
        console: { sessionIdle: "1h", sessionMax: "8h" },
        auth: {
          oidc: {
            issuer: idp.issuer,
            clientId: idp.clientId,
            clientSecretFile: idp.clientSecretFile,
            caFile: idp.caFile,
            scopes: ["openid", "profile", "email", "groups"],
            groupMap: { dev: "dev", sre: "sre" },
          },
        },
      },
    }),
    { now },
  );
  alice = await api.token("alice", ["dev"]);
}, 60_000);
afterAll(async () => {
  closeClients();
  await api?.daemon.stop();
  await idp?.stop();
});

const request = async (role = "guarded") => {
  const { pub } = await newKey();
  const r = await api.call("POST", "/v1/requests", {
    token: alice,
    body: { role, hosts: ["web-1"], reason: "INC-1", publicKey: pub },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as { id: string; digest: string };
};

/** An SSH-key sign-in with `key`: a brand-new session for `user`. */
async function sshSession(user: string, key: string): Promise<string> {
  const ch = await api.call("POST", "/v1/auth/challenge", { body: { user } });
  const si = await api.call("POST", "/v1/auth/ssh", {
    body: { challenge: ch.body.challenge, signature: await sign(key, ch.body.namespace, ch.body.message) },
  });
  expect(si.status, JSON.stringify(si.body)).toBe(200);
  return si.body.token as string;
}

describe("second factors cannot be added by a thief", () => {
  test("a key registered with a stolen API token signs in, but its session is not fresh: no factor", async () => {
    const stolen = await api.token("bob", ["sre"]);
    const thief = await newKey();
    const kc = await api.call("POST", "/v1/keys/challenge", { token: stolen, body: { publicKey: thief.pub } });
    const reg = await api.call("POST", "/v1/keys", {
      token: stolen,
      body: { challenge: kc.body.challenge, signature: await sign(thief.key, kc.body.namespace, kc.body.message) },
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const session = await sshSession("bob", thief.key);
    const add = await api.call("POST", "/v1/factors/totp", { token: session, body: {} });
    expect(add.status).toBe(403);
    expect(add.body.error.message).toMatch(/needs a fresh sign-in/);
  });

  test("a session older than 10 minutes cannot enrol; a fresh one through an admin-registered key can", async () => {
    await api.token("carl", ["sre"]);
    const own = await newKey();
    expect(
      (
        await httpCall({ socketPath: api.daemon.core.paths.adminSocket }, "POST", "/users/carl/keys", {
          body: { publicKey: own.pub },
        })
      ).status,
    ).toBe(201);
    const session = await sshSession("carl", own.key);
    offset += 11 * 60_000;
    try {
      const old = await api.call("POST", "/v1/factors/totp", { token: session, body: {} });
      expect(old.status).toBe(403);
    } finally {
      offset -= 11 * 60_000;
    }
    const fresh = await api.call("POST", "/v1/factors/totp", { token: session, body: {} });
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(201);
  });
});

describe("second factors cannot be guessed", () => {
  test("after 5 wrong codes an approver is refused (429) even with the right one; each failure is audited", async () => {
    const dana = await api.token("dana", ["sre"]);
    const own = await newKey();
    await httpCall({ socketPath: api.daemon.core.paths.adminSocket }, "POST", "/users/dana/keys", {
      body: { publicKey: own.pub },
    });
    const session = await sshSession("dana", own.key);
    const add = await api.call("POST", "/v1/factors/totp", { token: session, body: {} });
    const seed = base32Decode(add.body.secret);
    expect(
      (
        await api.call("POST", `/v1/factors/${add.body.id}/confirm`, {
          token: session,
          body: { code: totpCode(seed, now()) },
        })
      ).status,
    ).toBe(200);

    const req = await request();
    const right = totpCode(seed, new Date(now().getTime() + 30_000));
    // Wrong at every step the server could be on while this runs (RFC 6238 allows one either side).
    const near = new Set([-3, -2, -1, 0, 1, 2, 3].map((k) => totpCode(seed, new Date(now().getTime() + k * 30_000))));
    const wrong = ["000000", "000001", "000002", "000003", "000004", "000005", "000006", "000007"].find(
      (c) => !near.has(c),
    )!;
    const before = api.daemon.core.storage.head.seq;
    for (let i = 0; i < 5; i++) {
      const r = await api.call("POST", `/v1/requests/${req.id}/approve`, {
        token: dana,
        body: { digest: req.digest, factor: { kind: "totp", code: wrong } },
      });
      expect(r.status).toBe(403);
    }
    const locked = await api.call("POST", `/v1/requests/${req.id}/approve`, {
      token: dana,
      body: { digest: req.digest, factor: { kind: "totp", code: right } },
    });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(api.daemon.core.storage.head.seq - before).toBe(5); // five auth.factor_failed, nothing else
  });
});

describe("security-key signatures say what they approve", () => {
  test("a signature made for an approval is no proof for a scan override of the same request", async () => {
    await api.token("erik", ["sre"]);
    const own = await newKey();
    await httpCall({ socketPath: api.daemon.core.paths.adminSocket }, "POST", "/users/erik/keys", {
      body: { publicKey: own.pub },
    });
    const session = await sshSession("erik", own.key);
    const sk = syntheticSkKey();
    const c = await api.call("POST", "/v1/factors/sk/challenge", { token: session, body: { publicKey: sk.line } });
    const enrolled = await api.call("POST", "/v1/factors/sk", {
      token: session,
      body: { challenge: c.body.challenge, signature: sk.sign(c.body.message, c.body.namespace) },
    });
    expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(201);
    const req = await request();
    const message = (action: string) =>
      `sshca approval\nrequest=${req.id}\naction=${action}\ndigest=${req.digest}\napprover=erik\n`;
    // Signed as "override", sent as an approval: refused (and the other way round cannot pass either).
    const mixed = await api.call("POST", `/v1/requests/${req.id}/approve`, {
      token: session,
      body: { digest: req.digest, factor: { kind: "sk", signature: sk.sign(message("override"), "sshca-approve") } },
    });
    expect(mixed.status).toBe(403);
    expect(mixed.body.error.message).toMatch(/does not verify/);
    const ok = await api.call("POST", `/v1/requests/${req.id}/approve`, {
      token: session,
      body: { digest: req.digest, factor: { kind: "sk", signature: sk.sign(message("approve"), "sshca-approve") } },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });
});

describe("single sign-on and offboarding", () => {
  const admin = () => ({ socketPath: api.daemon.core.paths.adminSocket });
  async function deviceSignIn(): Promise<{ status: number; body: any }> {
    const s = await api.call("POST", "/v1/auth/oidc/device", { body: {} });
    return api.call("POST", "/v1/auth/oidc/device/poll", { body: { flow: s.body.flow } });
  }

  test("a sign-in that completes while the user is being disabled does not undo the disable", async () => {
    idp.set({ mode: "good", claims: { sub: "u-fay", preferred_username: "fay", groups: ["dev"] } });
    expect((await deviceSignIn()).status).toBe(200);
    // The disable lands after the sign-in decided on fay's record and before it is stored (the
    // moment of the race).
    const storage = api.daemon.core.storage;
    const commit = storage.commit.bind(storage);
    let disabling: Promise<unknown> | undefined;
    storage.commit = async (events, changes) => {
      if (events.some((e) => e.type === "auth.signed_in" && e.actor === "fay") && !disabling) {
        disabling = httpCall(admin(), "POST", "/users/fay/disable", { body: {} });
        expect(((await disabling) as { status: number }).status).toBe(200);
      }
      return commit(events, changes);
    };
    try {
      const raced = await deviceSignIn();
      expect(raced.status).toBe(403);
      expect(raced.body.error.message).toMatch(/user fay is disabled/);
    } finally {
      storage.commit = commit;
    }
    const list = (await httpCall(admin(), "GET", "/users")).body.users as { user: string; disabled: boolean }[];
    expect(list.find((u) => u.user === "fay")?.disabled).toBe(true);
    expect((await deviceSignIn()).status).toBe(403);
  });

  test("an SSH sign-in stored just after `user disable` read the tokens stays dead after `user enable`", async () => {
    await api.token("ivy", ["dev"]);
    const own = await newKey();
    const socket = { socketPath: api.daemon.core.paths.adminSocket };
    expect((await httpCall(socket, "POST", "/users/ivy/keys", { body: { publicKey: own.pub } })).status).toBe(201);
    // The disable lands after the sign-in checked ivy's status and before its session is stored:
    // the session is not among the tokens the disable revoked.
    const storage = api.daemon.core.storage;
    const commit = storage.commit.bind(storage);
    let disabled = false;
    storage.commit = async (events, changes) => {
      if (!disabled && events.some((e) => e.type === "auth.signed_in" && e.actor === "ivy")) {
        disabled = true;
        expect((await httpCall(socket, "POST", "/users/ivy/disable", { body: {} })).status).toBe(200);
      }
      return commit(events, changes);
    };
    let raced: string;
    try {
      raced = await sshSession("ivy", own.key);
    } finally {
      storage.commit = commit;
    }
    expect(disabled).toBe(true);
    expect((await api.call("GET", "/v1/whoami", { token: raced })).status).toBe(401);
    const enabled = await httpCall(socket, "POST", "/users/ivy/enable", {});
    expect(enabled.status, JSON.stringify(enabled.body)).toBe(200);
    // The README and `user enable` promise: old tokens stay revoked.
    expect((await api.call("GET", "/v1/whoami", { token: raced })).status).toBe(401);
    expect(enabled.body.tokensRevoked).toHaveLength(1);
    const fresh = await sshSession("ivy", own.key);
    expect((await api.call("GET", "/v1/whoami", { token: fresh })).status).toBe(200);
  });

  test("`user enable` still succeeds when one of the tokens it revokes is revoked by an admin meanwhile", async () => {
    await api.token("jon", ["dev"]);
    const socket = { socketPath: api.daemon.core.paths.adminSocket };
    const storage = api.daemon.core.storage;
    const commit = storage.commit.bind(storage);
    // A token created as jon is being disabled (the race above, through `sshcad token create`).
    let disabled = false;
    storage.commit = async (events, changes) => {
      if (!disabled && events.some((e) => e.type === "token.created" && e.fields.user === "jon")) {
        disabled = true;
        expect((await httpCall(socket, "POST", "/users/jon/disable", { body: {} })).status).toBe(200);
      }
      return commit(events, changes);
    };
    let created: { status: number; body: { tokenId: string } };
    try {
      created = await httpCall(socket, "POST", "/users/jon/tokens", { body: {} });
    } finally {
      storage.commit = commit;
    }
    expect(disabled && created.status).toBe(201);
    // An admin revokes that token while enable is committing its own revocation of it.
    let revoked = false;
    storage.commit = async (events, changes) => {
      if (!revoked && events.some((e) => e.type === "user.enabled")) {
        revoked = true;
        expect((await httpCall(socket, "POST", `/tokens/${created.body.tokenId}/revoke`, { body: {} })).status).toBe(
          200,
        );
      }
      return commit(events, changes);
    };
    let enabled: { status: number; body: unknown };
    try {
      enabled = await httpCall(socket, "POST", "/users/jon/enable", {});
    } finally {
      storage.commit = commit;
    }
    expect(revoked).toBe(true);
    expect(enabled.status, JSON.stringify(enabled.body)).toBe(200);
    const list = (await httpCall(socket, "GET", "/users")).body.users as { user: string; disabled: boolean }[];
    expect(list.find((u) => u.user === "jon")?.disabled).toBe(false);
  });

  test("disable keeps the provider binding (enable restores single sign-on); remove takes the factors too", async () => {
    idp.set({ mode: "good", claims: { sub: "u-gil", preferred_username: "gil", groups: ["dev"] } });
    const first = await deviceSignIn();
    expect(first.status).toBe(200);
    const totp = await api.call("POST", "/v1/factors/totp", { token: first.body.token, body: {} });
    await api.call("POST", `/v1/factors/${totp.body.id}/confirm`, {
      token: first.body.token,
      body: { code: totpCode(base32Decode(totp.body.secret), now()) },
    });
    expect((await httpCall(admin(), "POST", "/users/gil/disable", { body: {} })).status).toBe(200);
    expect((await httpCall(admin(), "POST", "/users/gil/enable", {})).status).toBe(200);
    const again = await deviceSignIn();
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    const removed = await httpCall(admin(), "POST", "/users/gil/remove", { body: {} });
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(Object.values(api.daemon.core.storage.state.factors).some((f) => f.user === "gil")).toBe(false);
  });

  test("flooding single sign-on from many addresses does not lock a new person out", async () => {
    const start = (from: string) =>
      httpCall({ url: api.url, from }, "POST", "/v1/auth/oidc/start", {
        body: { redirectUri: "http://127.0.0.1:9/callback", codeChallenge: "a".repeat(43) },
      });
    const addresses = Array.from({ length: 520 }, (_, i) => `127.9.${Math.floor(i / 250)}.${(i % 250) + 1}`);
    for (let round = 0; round < 20; round++) await Promise.all(addresses.map((a) => start(a)));
    const victim = await start("127.0.0.2");
    expect(victim.status, JSON.stringify(victim.body)).toBe(201);
  }, 300_000);
});

describe("console sessions", () => {
  test("an idle session stays ended when asked again, and its cookie value is no Bearer token", async () => {
    const bob = await api.token("hal", ["sre"]);
    const link = await api.call("POST", "/v1/console/links", { token: bob, body: {} });
    expect(link.status).toBe(201);
    const res = await fetch(`${api.url}/console/link${new URL(link.body.url).search}`, { redirect: "manual" });
    expect(res.status).toBe(303);
    const cookie = res.headers.get("set-cookie")!.split(";")[0]!;
    const session = () => api.call("GET", "/v1/console/session", { headers: { cookie } });
    expect((await session()).status).toBe(200);
    expect((await api.call("GET", "/v1/whoami", { token: cookie.split("=")[1]! })).status).toBe(401);
    offset += 61 * 60_000;
    try {
      expect((await session()).status).toBe(401);
      expect((await session()).status).toBe(401);
    } finally {
      offset -= 61 * 60_000;
    }
    expect((await session()).status).toBe(401);
  });
});
