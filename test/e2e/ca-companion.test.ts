import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type CompanionHost, companionHost } from "../helpers/companion.js";
import { json } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { LOGIN, startWorld, type World } from "../helpers/scenario.js";
import { ssh } from "../helpers/sshd.js";
import { tool } from "../helpers/tools.js";

/**
 * A staged user CA key is picked up by target hosts: the companion (sshca host --trusted-ca-keys)
 * keeps sshd's TrustedUserCAKeys file with every key the rotation phase needs, so after the switch
 * a certificate from the new key logs in to a real sshd that nobody touched by hand.
 */
let w: World;
let web1: CompanionHost;
let trusted: string;

const syncOnce = async () => {
  const r = await web1.as.sshca([...web1.args("60s"), "--trusted-ca-keys", trusted, "--once"]);
  expect(r.code, r.stderr).toBe(0);
  return r;
};

beforeAll(async () => {
  w = await startWorld();
  web1 = await companionHost(w.daemon, "web-1");
  // The file the real sshd reads as TrustedUserCAKeys (written from sshca ca pubkey at setup).
  trusted = join(web1.sshd.dir, "trusted_user_ca_keys");
});
afterAll(async () => {
  await web1?.stop();
  await w?.daemon.stop();
});

describe("the companion keeps TrustedUserCAKeys through a rotation", () => {
  test("stage: the next key reaches the host; switch: a new-key certificate logs in", async () => {
    expect(readFileSync(trusted, "utf8").trim().split("\n")).toHaveLength(1);
    expect((await w.daemon.sshcad(["ca", "rotate", "stage"])).code).toBe(0);
    const synced = await syncOnce();
    expect(synced.stderr).toContain(`TrustedUserCAKeys updated: ${trusted}`);
    const pubkey = await w.bob.sshca(["ca", "pubkey"]);
    expect(readFileSync(trusted, "utf8")).toBe(`${pubkey.stdout.trim()}\n`);
    expect(readFileSync(trusted, "utf8")).toMatch(/sshca-user-ca\n.* sshca-user-ca-next\n$/);

    expect((await w.daemon.sshcad(["ca", "rotate", "switch"])).code).toBe(0);
    await syncOnce();
    const req = json<{ id: string }>(
      await w.alice.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "r", "--no-wait", "--json"]),
    );
    expect((await w.bob.sshca(["approve", req.id])).code).toBe(0);
    expect((await w.alice.sshca(["request", "wait", req.id, "--no-agent"])).code).toBe(0);
    const l = await run(tool("ssh-keygen"), ["-L", "-f", `${w.alice.key}-cert.pub`]);
    const signer = /Signing CA: \S+ (SHA256:\S+)/.exec(l.stdout)![1]!;
    const now = json<{ fingerprint: string }>(await w.bob.sshca(["ca", "pubkey", "--json"]));
    expect(signer).toBe(now.fingerprint);
    const r = await ssh({ port: web1.sshd.port, user: LOGIN, key: w.alice.key, command: "echo in" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("in");
  });
});
