import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { totpCode } from "../../src/auth/factors/totp.js";
import { api } from "../helpers/api.js";
import { auditRecords } from "../helpers/audit-files.js";
import { SSHCA, startDaemon, type TestDaemon, writeConfig } from "../helpers/daemon.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { e2eConfig, LOGIN } from "../helpers/scenario.js";
import { run } from "../helpers/procs.js";
import { makeSkKey } from "../helpers/sk.js";
import { syntheticSkKey } from "../helpers/sk-synthetic.js";
import { tempDir } from "../helpers/tmp.js";

/**
 * Step-up for approvers: a role with stepUp takes an approval only with a fresh second factor
 * bound to that request's digest — a security-key signature of exactly that request, or a TOTP
 * code that works once. Enrolling a factor needs a fresh interactive sign-in, never an API token.
 */

let daemon: TestDaemon;
let alice: Person;
let bob: Person & { token: string };
let vic: Person & { token: string };

const base32Decode = (s: string): Buffer => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of s.replace(/=+$/, "")) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
};

async function person(name: string, group: string): Promise<Person & { token: string }> {
  const token = await daemon.addUser(name, [group]);
  return Object.assign(await makePerson(name, daemon, token), { token });
}

/** An approver signs in with their SSH key (a fresh session, which enrolment needs). */
async function signedIn(p: Person & { token: string }, user: string): Promise<string> {
  expect((await daemon.sshcad(["user", "key", "add", user, `${p.key}.pub`])).code).toBe(0);
  delete p.env.SSHCA_TOKEN;
  const r = await p.sshca(["auth", "ssh", "--user", user]);
  expect(r.code, r.stderr).toBe(0);
  const cfg = JSON.parse(
    await import("node:fs/promises").then((fs) => fs.readFile(`${p.env.XDG_CONFIG_HOME}/sshca/config.json`, "utf8")),
  ) as { token: string };
  return cfg.token;
}

const ask = async (reason: string) =>
  json<{ id: string; digest: string }>(
    await alice.sshca([
      "login",
      "--role",
      "guarded",
      "--host",
      "web-1",
      "--reason",
      reason,
      "--no-wait",
      "--json",
      "--new",
    ]),
  );

beforeAll(async () => {
  daemon = await startDaemon({
    configPath: writeConfig(
      e2eConfig({
        roles: {
          guarded: {
            principals: [LOGIN],
            hosts: ["web-1"],
            requesters: ["dev"],
            approvers: ["sre"],
            stepUp: { methods: ["sk", "totp"] },
          },
          verified: {
            principals: [LOGIN],
            hosts: ["web-1"],
            requesters: ["dev"],
            approvers: ["sre"],
            stepUp: { methods: ["sk"], userVerification: true },
          },
        },
      }),
    ),
  });
  alice = await person("alice", "dev");
  bob = await person("bob", "sre");
  vic = await person("vic", "sre");
});
afterAll(() => daemon?.stop());

describe("TOTP (enrolled and used through the CLI)", () => {
  let secret: Buffer;

  test("an API token cannot enrol a factor; a fresh sign-in can, and the seed is shown once", async () => {
    const viaToken = await bob.sshca(["factor", "add", "totp"]);
    expect(viaToken.code).toBe(1);
    expect(viaToken.stderr).toMatch(/needs a fresh sign-in .* not an API token/);

    await signedIn(bob, "bob");
    const enrol = bob.spawn(["factor", "add", "totp", "--json"], { keepStdin: true });
    const m = await enrol.waitFor(/secret: ([A-Z2-7]+)/);
    secret = base32Decode(m[1]!);
    enrol.proc.stdin!.end(`${totpCode(secret, new Date())}\n`);
    const done = await enrol.done;
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ kind: "totp", confirmed: true });
    const added = auditRecords(daemon.dataDir).find((r) => r.type === "auth.factor_added");
    expect(added?.fields).toMatchObject({ user: "bob", kind: "totp" });
    expect(JSON.stringify(auditRecords(daemon.dataDir))).not.toContain(m[1]!);
  });

  test("an approval without the factor is refused with what is needed; with a code it counts and is audited", async () => {
    const req = await ask("INC-1");
    const bare = await bob.sshca(["approve", req.id]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/role guarded requires a second factor .*--sk .* or --totp/);
    const viaApi = await api(daemon, "POST", `/v1/requests/${req.id}/approve`, {
      token: bob.token,
      body: { digest: req.digest },
    });
    expect(viaApi.status).toBe(403);
    expect(viaApi.body.error.message).toMatch(/requires a second factor with each approval, bound to this request/);

    // The code of the step after the one used at enrolment (a code works once).
    const code = totpCode(secret, new Date(Date.now() + 30_000));
    const ok = await bob.sshca(["approve", req.id, "--totp", "--json"], `${code}\n`);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      state: "issued",
      approvals: [{ approver: "bob", factor: { kind: "totp" } }],
    });
    const approved = auditRecords(daemon.dataDir).find(
      (r) => r.type === "request.approved" && r.fields.request === req.id,
    );
    expect(approved?.fields.factor).toMatchObject({ kind: "totp" });

    // The same code again, for another request: refused.
    const other = await ask("INC-2");
    const replay = await bob.sshca(["approve", other.id, "--totp"], `${code}\n`);
    expect(replay.code).toBe(1);
    expect(replay.stderr).toMatch(/\nsshca: that TOTP code was used already; wait for the next one\n$/);
    expect(json<{ state: string }>(await bob.sshca(["request", "show", other.id, "--json"])).state).toBe("pending");
  });
});

describe("security keys (signatures laid out as an authenticator makes them)", () => {
  const key = syntheticSkKey();
  let session = "";

  test("enrolment proves the key (with presence); the factor is announced", async () => {
    session = await signedIn(vic, "vic");
    const c = await api(daemon, "POST", "/v1/factors/sk/challenge", { token: session, body: { publicKey: key.line } });
    expect(c.status).toBe(201);
    const absent = await api(daemon, "POST", "/v1/factors/sk", {
      token: session,
      body: { challenge: c.body.challenge, signature: key.sign(c.body.message, c.body.namespace, 0x00) },
    });
    expect(absent.status).toBe(400);
    expect(absent.body.error.message).toMatch(/did not confirm user presence/);
    const c2 = await api(daemon, "POST", "/v1/factors/sk/challenge", { token: session, body: { publicKey: key.line } });
    const ok = await api(daemon, "POST", "/v1/factors/sk", {
      token: session,
      body: { challenge: c2.body.challenge, signature: key.sign(c2.body.message, c2.body.namespace) },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body).toMatchObject({ kind: "sk", confirmed: true });
  });

  const approvalMessage = (r: { id: string; digest: string }) =>
    `sshca approval\nrequest=${r.id}\naction=approve\ndigest=${r.digest}\napprover=vic\n`;

  test.each([
    {
      name: "fail/no user presence",
      role: "guarded",
      flags: 0x00,
      status: 403,
      message: /did not confirm user presence/,
    },
    {
      name: "fail/signed for another digest",
      role: "guarded",
      flags: 0x01,
      other: true,
      status: 403,
      message: /does not verify/,
    },
    {
      name: "fail/presence but no verification where the role asks for it",
      role: "verified",
      flags: 0x01,
      status: 403,
      message: /requires user verification/,
    },
    { name: "ok/presence", role: "guarded", flags: 0x01, status: 200 },
    { name: "ok/presence and verification", role: "verified", flags: 0x05, status: 200 },
  ])("$name", async ({ role, flags, other, status, message }) => {
    const req = json<{ id: string; digest: string }>(
      await alice.sshca(["login", "--role", role, "--host", "web-1", "--reason", "sk", "--no-wait", "--json", "--new"]),
    );
    const signed = other ? { id: req.id, digest: `sha256:${"0".repeat(64)}` } : req;
    const r = await api(daemon, "POST", `/v1/requests/${req.id}/approve`, {
      token: session,
      body: {
        digest: req.digest,
        factor: { kind: "sk", signature: key.sign(approvalMessage(signed), "sshca-approve", flags) },
      },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    if (message) expect(r.body.error.message).toMatch(message);
    else expect(r.body.approvals[0].factor).toMatchObject({ kind: "sk", userVerified: (flags & 0x04) !== 0 });
  });
});

describe("a security key through the real CLI (software FIDO key behind ssh-keygen)", () => {
  test("enrol with sshca factor add sk, approve with --sk; no presence, or no verification where asked, is refused", async () => {
    const walt = await person("walt", "sre");
    await signedIn(walt, "walt");
    const plain = await makeSkKey(tempDir("sk-walt"));
    const pinned = await makeSkKey(tempDir("sk-walt-uv"), { verifyRequired: true });
    for (const k of [plain, pinned]) {
      const r = await run(process.execPath, [SSHCA, "factor", "add", "sk", "-i", k.key, "--json"], {
        env: { ...walt.env, ...k.env },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ kind: "sk", confirmed: true });
    }
    const approve = (id: string, k: typeof plain, extra: NodeJS.ProcessEnv = {}) =>
      run(process.execPath, [SSHCA, "approve", id, "--sk", k.key, "--json"], {
        env: { ...walt.env, ...k.env, ...extra },
      });

    const a = await ask("sk 1");
    const absent = await approve(a.id, plain, { SK_SOFT_NO_PRESENCE: "1" });
    expect(absent.code).toBe(1);
    expect(absent.stderr).toMatch(/did not confirm user presence/);
    const ok = await approve(a.id, plain);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).approvals[0]).toMatchObject({
      approver: "walt",
      factor: { kind: "sk", userVerified: false },
    });

    const v = json<{ id: string }>(
      await alice.sshca([
        "login",
        "--role",
        "verified",
        "--host",
        "web-1",
        "--reason",
        "uv",
        "--no-wait",
        "--json",
        "--new",
      ]),
    );
    const unverified = await approve(v.id, plain);
    expect(unverified.code).toBe(1);
    expect(unverified.stderr).toMatch(/requires user verification/);
    const verified = await approve(v.id, pinned);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout).approvals[0].factor).toMatchObject({ kind: "sk", userVerified: true });
  });
});
