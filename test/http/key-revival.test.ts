import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { addUserKey, createToken, revokeToken } from "../../src/admin/users.js";
import { registerSshKey, removeSshKey } from "../../src/auth/ssh-signin.js";
import { remove } from "../../src/store/port.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { run } from "../helpers/procs.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";
import { sshSign } from "../helpers/ssh-sign.js";
import { tool } from "../helpers/tools.js";

/**
 * A session is checked through its whole chain at every use (session → sign-in key → the
 * credential the key came through). A key that was removed, or died with its credential, used
 * to make its sessions refused only while it stayed missing or dead: adding the same key again
 * brought every unexpired session it had signed in back to life. Now they are revoked for good.
 */
let api: InProc;
const now = () => new Date();

beforeAll(async () => {
  api = await startInProc(e2eConfig({ extra: { scanning: { enabled: false } } }), { now });
  await api.token("alice", ["dev"]);
});
afterAll(async () => {
  await api?.daemon.stop();
});

const admin = () => {
  const { core } = api.daemon;
  return { config: () => core.config, storage: core.storage, now, random: randomBytes, access: api.daemon.access };
};

async function newKey(): Promise<{ file: string; pub: string; fingerprint: string }> {
  const file = join(tempDir("key"), "id_ed25519");
  expect((await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", file])).code).toBe(0);
  const fp = (await run(tool("ssh-keygen"), ["-l", "-E", "sha256", "-f", `${file}.pub`])).stdout.split(" ")[1]!;
  return { file, pub: readFileSync(`${file}.pub`, "utf8"), fingerprint: fp };
}

/** A real SSH-key sign-in (ssh-keygen -Y sign); answers the HTTP status and the session token. */
async function signIn(key: { file: string }): Promise<{ status: number; token?: string; message?: string }> {
  const c = await api.call("POST", "/v1/auth/challenge", { body: { user: "alice" } });
  expect(c.status).toBe(201);
  const signature = await sshSign(key.file, c.body.namespace, c.body.message);
  const r = await api.call("POST", "/v1/auth/ssh", {
    body: { challenge: c.body.challenge, signature },
  });
  return { status: r.status, token: r.body.token, message: r.body.error?.message };
}
const whoami = async (token: string) => (await api.call("GET", "/v1/whoami", { token })).status;

describe("a key added again does not bring back the sessions it signed in before", () => {
  test("removed, then added again by an admin: the old session stays refused; a new sign-in works", async () => {
    const key = await newKey();
    await addUserKey(admin(), "alice", key.pub);
    const old = await signIn(key);
    expect(old.status).toBe(200);
    expect(await whoami(old.token!)).toBe(200);

    await removeSshKey(admin(), "alice", key.fingerprint, "alice");
    expect(await whoami(old.token!)).toBe(401);

    await addUserKey(admin(), "alice", key.pub);
    expect(await whoami(old.token!)).toBe(401);
    const fresh = await signIn(key);
    expect(fresh.status).toBe(200);
    expect(await whoami(fresh.token!)).toBe(200);
  });

  test("dead with the token it came through, then added again: it works again, its old sessions do not", async () => {
    const key = await newKey();
    const { storage } = api.daemon.core;
    const t1 = await createToken(admin(), "alice", "test");
    await registerSshKey({ storage, now }, "alice", key.pub, "alice", { kind: "token", id: t1.tokenId });
    const old = await signIn(key);
    expect(old.status).toBe(200);

    await revokeToken(admin(), t1.tokenId, "admin");
    expect(await whoami(old.token!)).toBe(401);
    const refused = await signIn(key);
    expect(refused.status).toBe(401);
    expect(refused.message).toMatch(/no longer works/);

    // Registered again through a live token (before: "registered", and still refused).
    const t2 = await createToken(admin(), "alice", "test");
    await registerSshKey({ storage, now }, "alice", key.pub, "alice", { kind: "token", id: t2.tokenId });
    const fresh = await signIn(key);
    expect(fresh.status).toBe(200);
    expect(await whoami(old.token!)).toBe(401);
    const last = storage.state.sshKeys[key.fingerprint]!;
    expect(last.parent).toEqual({ kind: "token", id: t2.tokenId });
  });

  test("a live key an admin adds again becomes the admin's: a new record, so it no longer ends with its token, and what it signed in before ends", async () => {
    const key = await newKey();
    const { storage } = api.daemon.core;
    const t1 = await createToken(admin(), "alice", "test");
    await registerSshKey({ storage, now }, "alice", key.pub, "alice", { kind: "token", id: t1.tokenId });
    const before = await signIn(key);
    expect(before.status).toBe(200);
    await addUserKey(admin(), "alice", key.pub);
    expect(storage.state.sshKeys[key.fingerprint]!.parent).toBeUndefined();
    // A session signed in through the token-bound record does not become the admin key's (nor
    // count as a fresh sign-in with it).
    const old = await api.call("GET", "/v1/whoami", { token: before.token! });
    expect(old.status).toBe(401);
    expect(old.body.error.message).toMatch(/registered again since/);
    await revokeToken(admin(), t1.tokenId, "admin");
    const after = await signIn(key);
    expect(after.status).toBe(200);
    expect(await whoami(after.token!)).toBe(200);
  });

  test("a session that escaped a removal's list (it was being signed in at that moment) stays refused when the key is added again", async () => {
    const key = await newKey();
    const { storage } = api.daemon.core;
    await addUserKey(admin(), "alice", key.pub);
    const escaped = await signIn(key);
    expect(escaped.status).toBe(200);
    // The removal as a racing one commits it: the key goes, this session is not in its list.
    await storage.commit([], [remove("sshKeys", key.fingerprint)]);
    expect(await whoami(escaped.token!)).toBe(401);
    await addUserKey(admin(), "alice", key.pub);
    expect(
      storage.state.tokens[Object.keys(storage.state.tokens).find((id) => escaped.token!.includes(`_${id}_`))!]!
        .revokedAt,
    ).toBeUndefined();
    expect(await whoami(escaped.token!)).toBe(401);
    expect((await signIn(key)).status).toBe(200);
  });
});
