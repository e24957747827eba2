import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseToken } from "../../src/auth/tokens.js";
import { api } from "../helpers/api.js";
import { auditRecords } from "../helpers/audit-files.js";
import { SSHCAD, startDaemon, type TestDaemon, writeConfig } from "../helpers/daemon.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { e2eConfig, waitingId } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * Offboarding: a person who is cut off stays cut off. Every sign-in method, token and session
 * of theirs stops at once (a long-poll already waiting included); no credential outlives the
 * one it came from; their requests, approvals and certificates end, audited.
 */

const krlFile = join(tempDir("offboarding-krl"), "revoked.krl");
let daemon: TestDaemon;
let bob: Person;

/** A person added with `sshcad user add`, talking to the daemon with their API token. */
async function person(name: string, group: string): Promise<Person & { token: string }> {
  const token = await daemon.addUser(name, [group]);
  return Object.assign(await makePerson(name, daemon, token), { token });
}

/** `sshca key add` then `sshca auth ssh`: from then on the person's CLI uses the session (not the token). */
async function signInWithKey(p: Person, user: string, key = p.key): Promise<void> {
  const added = await p.sshca(["key", "add", "-i", key]);
  expect(added.code, added.stderr).toBe(0);
  delete p.env.SSHCA_TOKEN;
  const signed = await p.sshca(["auth", "ssh", "--user", user, "-i", key]);
  expect(signed.code, signed.stderr).toBe(0);
}

const revokedInKrl = async (certFile: string) =>
  (await run(tool("ssh-keygen"), ["-Q", "-f", krlFile, certFile])).stdout.includes("REVOKED");

const fingerprintOf = async (pub: string) =>
  (await run(tool("ssh-keygen"), ["-l", "-E", "sha256", "-f", pub])).stdout.split(" ")[1]!;

beforeAll(async () => {
  daemon = await startDaemon({
    configPath: writeConfig(
      e2eConfig({
        extra: {
          revocation: { krlFile },
          users: { erin: { groups: ["dev"] } },
        },
      }),
    ),
  });
  bob = await person("bob", "sre");
});
afterAll(() => daemon?.stop());

describe("no credential outlives the credential it came from", () => {
  test("a key registered with a stolen token, and the session it signed in, die when the token is revoked", async () => {
    const alice = await person("alice", "dev");
    // mallory has a copy of alice's token and her own SSH key.
    const mallory = await makePerson("mallory", daemon, alice.token);
    await signInWithKey(mallory, "alice");
    expect((await mallory.sshca(["whoami"])).stdout).toContain("alice");
    const registered = auditRecords(daemon.dataDir)
      .filter((r) => r.type === "auth.key_registered")
      .at(-1)!;
    expect(registered.fields).toMatchObject({ user: "alice", via: `token:${parseToken(alice.token)!.id}` });

    const revoked = await daemon.sshcad(["token", "revoke", parseToken(alice.token)!.id]);
    expect(revoked.code, revoked.stderr).toBe(0);

    const session = await mallory.sshca(["whoami"]);
    expect(session.code).toBe(1);
    expect(session.stderr).toMatch(/^sshca: this session no longer works: .*token \S+ was revoked\n$/);
    const again = await mallory.sshca(["auth", "ssh", "--user", "alice"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^sshca: SSH sign-in failed: key SHA256:\S+ no longer works: .*was revoked\n$/);
  });

  test("registering a key proves possession of it: a bare public key, or a proof by another key, is refused", async () => {
    const frank = await person("frank", "dev");
    const bare = await api(daemon, "POST", "/v1/keys", {
      token: frank.token,
      body: { publicKey: readFileSync(`${frank.key}.pub`, "utf8").trim() },
    });
    expect(bare.status).toBe(400);
    expect(bare.body.error.message).toMatch(/needs proof that you hold it/);

    // A challenge for frank's key, signed by bob's key: not a proof.
    const c = await api(daemon, "POST", "/v1/keys/challenge", {
      token: frank.token,
      body: { publicKey: readFileSync(`${frank.key}.pub`, "utf8").trim() },
    });
    expect(c.status).toBe(201);
    const dir = tempDir("proof");
    const msg = join(dir, "m");
    writeFileSync(msg, c.body.message);
    expect((await run(tool("ssh-keygen"), ["-Y", "sign", "-f", bob.key, "-n", c.body.namespace, msg])).code).toBe(0);
    const forged = await api(daemon, "POST", "/v1/keys", {
      token: frank.token,
      body: { challenge: c.body.challenge, signature: readFileSync(`${msg}.sig`, "utf8") },
    });
    expect(forged.status).toBe(400);
    expect(forged.body.error.message).toMatch(/signed by SHA256:\S+, not by the key to register/);
    expect((await frank.sshca(["key", "list"])).stdout).toBe("no keys\n");
  });

  test("removing a sign-in key (sshca key remove, sshcad user key remove) ends the sessions signed in with it", async () => {
    const gina = await person("gina", "dev");
    const second = join(gina.home, ".ssh", "second");
    await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", second]);
    // The admin registers both keys (no parent: they live until removed).
    for (const k of [gina.key, second])
      expect((await daemon.sshcad(["user", "key", "add", "gina", `${k}.pub`])).code).toBe(0);
    const viaFirst = await makePerson("gina-laptop", daemon, "");
    Object.assign(viaFirst, { key: gina.key });
    delete viaFirst.env.SSHCA_TOKEN;
    expect((await viaFirst.sshca(["auth", "ssh", "--user", "gina", "-i", gina.key])).code).toBe(0);
    expect((await viaFirst.sshca(["whoami"])).code).toBe(0);

    const own = await gina.sshca(["key", "remove", await fingerprintOf(`${gina.key}.pub`)]);
    expect(own.code, own.stderr).toBe(0);
    const dead = await viaFirst.sshca(["whoami"]);
    expect(dead.stderr).toMatch(/^sshca: this session no longer works: sign-in key SHA256:\S+ was removed\n$/);

    delete gina.env.SSHCA_TOKEN;
    expect((await gina.sshca(["auth", "ssh", "--user", "gina", "-i", second])).code).toBe(0);
    const byAdmin = await daemon.sshcad(["user", "key", "remove", "gina", await fingerprintOf(`${second}.pub`)]);
    expect(byAdmin.code, byAdmin.stderr).toBe(0);
    expect((await gina.sshca(["whoami"])).code).toBe(1);
    const types = auditRecords(daemon.dataDir).map((r) => r.type);
    expect(types.filter((t) => t === "auth.key_removed")).toHaveLength(2);
  });
});

describe("a disabled user is cut off at once", () => {
  test("tokens, sessions and a waiting long-poll stop; waiting requests end; live certificates are revoked; all audited", async () => {
    const alice = await person("alice2", "dev");
    const issued = json<{ id: string; serial: string }>(
      await alice.sshca([
        "login",
        "--role",
        "selfserve",
        "--host",
        "web-1",
        "--reason",
        "live",
        "--no-agent",
        "--json",
      ]),
    );
    const certFile = `${alice.key}-cert.pub`;
    expect(await revokedInKrl(certFile)).toBe(false);
    const token = alice.token;
    await signInWithKey(alice, "alice2"); // alice now waits with her session, not the token
    const waiting = alice.spawn(["login", "--role", "debug", "--host", "web-2", "--reason", "later", "--no-agent"]);
    const pendingId = await waitingId(waiting);

    const started = Date.now();
    const off = await daemon.sshcad(["user", "disable", "alice2", "--json"]);
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout)).toMatchObject({
      user: "alice2",
      cancelled: [pendingId],
      revoked: [issued.id],
    });
    // The long-poll answers now (it would wait 25 s otherwise), refused.
    const ended = await waiting.done;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(ended.code).toBe(1);
    expect(ended.stderr).toMatch(/user alice2 is disabled/);

    const viaToken = await makePerson("alice2-token", daemon, token);
    expect((await viaToken.sshca(["whoami"])).stderr).toMatch(
      /^sshca: (this API token was revoked|user alice2 is disabled)\n$/,
    );
    expect((await alice.sshca(["whoami"])).stderr).toBe("sshca: user alice2 is disabled\n");
    const signIn = await alice.sshca(["auth", "ssh", "--user", "alice2"]);
    expect(signIn.stderr).toBe("sshca: SSH sign-in failed: user alice2 is disabled\n");

    const cancelled = json<{ state: string; cancellation: { by: string; reason: string } }>(
      await bob.sshca(["request", "show", pendingId, "--json"]),
    );
    expect(cancelled).toMatchObject({
      state: "cancelled",
      cancellation: { by: "admin", reason: "alice2 was disabled by admin" },
    });
    expect(await revokedInKrl(certFile)).toBe(true);

    const audit = auditRecords(daemon.dataDir);
    expect(audit.find((r) => r.type === "user.disabled" && r.fields.user === "alice2")?.actor).toBe("admin");
    expect(audit.find((r) => r.type === "request.cancelled" && r.fields.request === pendingId)).toBeDefined();
    expect(
      audit.find((r) => r.type === "certificate.revoked" && r.fields.serial === issued.serial)?.fields.reason,
    ).toBe("alice2 was disabled by admin");

    // Enabled again: the old token stays dead; a new one works.
    expect((await daemon.sshcad(["user", "enable", "alice2"])).code).toBe(0);
    expect((await viaToken.sshca(["whoami"])).stderr).toBe("sshca: this API token was revoked\n");
    const fresh = await daemon.sshcad(["token", "create", "alice2"]);
    expect(fresh.code, fresh.stderr).toBe(0);
    const back = await makePerson("alice2-back", daemon, fresh.stdout.trim());
    expect((await back.sshca(["whoami"])).code).toBe(0);
  });

  test("a disabled approver's approvals on waiting requests stop counting", async () => {
    const carol = await person("carol", "dev");
    const vic = await person("vic", "sre");
    const dave = await person("dave", "leads");
    const req = json<{ id: string; digest: string }>(
      await carol.sshca([
        "login",
        "--role",
        "critical",
        "--host",
        "db-1",
        "--reason",
        "two keys",
        "--no-wait",
        "--json",
      ]),
    );
    expect((await vic.sshca(["approve", req.id])).code).toBe(0);
    expect((await daemon.sshcad(["user", "disable", "vic"])).code).toBe(0);
    const after = json<{ state: string; approvals: unknown[] }>(
      await dave.sshca(["request", "show", req.id, "--json"]),
    );
    expect(after).toMatchObject({ state: "pending", approvals: [] });
    expect((await dave.sshca(["approve", req.id])).code).toBe(0);
    const one = json<{ state: string; approvals: { approver: string }[] }>(
      await dave.sshca(["request", "show", req.id, "--json"]),
    );
    expect(one.state).toBe("pending");
    expect(one.approvals.map((a) => a.approver)).toEqual(["dave"]);
    const withdrawn = auditRecords(daemon.dataDir).find((r) => r.type === "request.approval_withdrawn");
    expect(withdrawn?.fields).toMatchObject({ request: req.id, approver: "vic", approvals: 0, approvalsRequired: 2 });
  });

  test("--keep-certificates leaves live certificates valid; a config user can be disabled but not removed", async () => {
    const erin = await makePerson("erin", daemon, (await daemon.sshcad(["token", "create", "erin"])).stdout.trim());
    const cert = json<{ serial: string }>(
      await erin.sshca(["login", "--role", "selfserve", "--host", "web-1", "--reason", "x", "--no-agent", "--json"]),
    );
    const removed = await daemon.sshcad(["user", "remove", "erin"]);
    expect(removed.code).toBe(1);
    expect(removed.stderr).toMatch(/defined in the config file \(users\.erin\); remove it there and reload/);
    const off = await daemon.sshcad(["user", "disable", "erin", "--keep-certificates"]);
    expect(off.code, off.stderr).toBe(0);
    expect(await revokedInKrl(`${erin.key}-cert.pub`)).toBe(false);
    expect((await erin.sshca(["whoami"])).code).toBe(1);
    const list = JSON.parse((await daemon.sshcad(["user", "list", "--json"])).stdout) as {
      user: string;
      disabled: boolean;
    }[];
    expect(list.find((u) => u.user === "erin")?.disabled).toBe(true);
    expect(cert.serial).toMatch(/^\d+$/);
  });

  test("user remove: the user and every token and key are gone; what they held ends as for disable", async () => {
    const hank = await person("hank", "dev");
    await signInWithKey(hank, "hank");
    const r = await daemon.sshcad(["user", "remove", "hank", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).keys).toHaveLength(1);
    expect((await hank.sshca(["whoami"])).code).toBe(1);
    const list = JSON.parse((await daemon.sshcad(["user", "list", "--json"])).stdout) as { user: string }[];
    expect(list.map((u) => u.user)).not.toContain("hank");
    expect((await daemon.sshcad(["token", "list", "--user", "hank", "--json"])).stdout.trim()).toBe("[]");
  });
});

describe("names", () => {
  test.each(["sshcad", "policy", "admin", "auto-approve", "anonymous"])(
    "the daemon's actor name %s cannot be a user name",
    async (name) => {
      const r = await daemon.sshcad(["user", "add", name, "--group", "dev"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/names the daemon itself in the audit log/);
      const cfg = writeConfig(e2eConfig({ extra: { users: { [name]: { groups: ["dev"] } } } }));
      const c = await run(process.execPath, [SSHCAD, "--config", cfg, "config", "check"]);
      expect(c.code).toBe(78);
      expect(c.stderr).toMatch(new RegExp(`users\\.${name}.*daemon's own actor name`));
    },
  );
});

describe("offline", () => {
  test("with no daemon running, disable works on the data directory: requests end and the KRL file lists the certificate", async () => {
    const own = await startDaemon({ configPath: writeConfig(e2eConfig({ extra: { revocation: { krlFile } } })) });
    const token = await own.addUser("ivan", ["dev"]);
    const ivan = await makePerson("ivan", own, token);
    expect(
      (await ivan.sshca(["login", "--role", "selfserve", "--host", "web-1", "--reason", "x", "--no-agent"])).code,
    ).toBe(0);
    const waiting = json<{ id: string }>(
      await ivan.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "y", "--no-wait", "--json"]),
    );
    await own.stop();
    expect(await revokedInKrl(`${ivan.key}-cert.pub`)).toBe(false);
    const off = await own.sshcad(["user", "disable", "ivan", "--json"]);
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout).cancelled).toEqual([waiting.id]);
    expect(await revokedInKrl(`${ivan.key}-cert.pub`)).toBe(true);
    const again = await own.restart();
    try {
      const back = await makePerson("ivan-again", again, token);
      expect((await back.sshca(["whoami"])).stderr).toBe("sshca: user ivan is disabled\n");
    } finally {
      await again.stop();
    }
  });
});
