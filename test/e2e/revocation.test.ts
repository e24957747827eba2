import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { json, type Person } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { e2eConfig, LOGIN, startWorld, targetHost, type World } from "../helpers/scenario.js";
import { ssh, type TestSshd } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

let w: World;
let web1: TestSshd;
let krlFile: string;
const localKrl = join(tempDir("krl-out"), "sshca_revoked.krl");

/** The target host's side: the KRL sync (what the systemd timer runs), then sshd re-reads it per login. */
const syncKrl = async (operator: Person) => {
  const r = await operator.sshca(["krl", "fetch", "--out", krlFile]);
  expect(r.code, r.stderr).toBe(0);
};

async function issue(role: string, host: string): Promise<{ id: string; serial: string }> {
  const req = json<{ id: string }>(
    await w.alice.sshca(["login", "--role", role, "--host", host, "--reason", "work", "--no-wait", "--json"]),
  );
  expect((await w.bob.sshca(["approve", req.id])).code).toBe(0);
  const done = json<{ id: string; serial: string }>(
    await w.alice.sshca(["request", "wait", req.id, "--no-agent", "--json"]),
  );
  return { id: done.id, serial: done.serial };
}

beforeAll(async () => {
  w = await startWorld(e2eConfig({ extra: { revocation: { krlFile: localKrl } } }));
  krlFile = join(tempDir("target"), "revoked.krl");
  await syncKrl(w.bob); // a KRL exists before anything is revoked
  web1 = await targetHost(w.bob, "web-1", krlFile);
});
afterAll(async () => {
  await web1?.stop();
  await w?.daemon.stop();
});

describe("revocation that sshd enforces", () => {
  test("a revoked certificate is refused by a running sshd (RevokedKeys) once the KRL is synced; ssh-keygen -Q agrees", async () => {
    const { id, serial } = await issue("debug", "web-1");
    const before = await ssh({ port: web1.port, user: LOGIN, key: w.alice.key, command: "echo in" });
    expect(before.code, before.stderr).toBe(0);

    const revoked = await w.bob.sshca(["revoke", "--request", id, "--reason", "laptop stolen", "--json"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ state: "revoked", revocation: { by: "bob", kind: "revoke" } });

    await syncKrl(w.bob);
    expect((await run(tool("ssh-keygen"), ["-Q", "-f", krlFile, `${w.alice.key}-cert.pub`])).stdout).toMatch(/REVOKED/);
    const after = await ssh({ port: web1.port, user: LOGIN, key: w.alice.key, command: "echo in" });
    expect(after.code).toBe(255);
    expect(web1.log()).toMatch(/revoked/i);
    expect(auditRecords(w.daemon.dataDir).find((r) => r.type === "certificate.revoked")?.fields).toMatchObject({
      request: id,
      serial,
      reason: "laptop stolen",
      kind: "revoke",
    });
  });

  test("revocation starts the post-access scan at once", async () => {
    const { id } = await issue("debug", "web-1");
    expect((await w.bob.sshca(["revoke", "--request", id, "--reason", "done early"])).code).toBe(0);
    for (let i = 0; i < 50; i++) {
      const req = json<any>(await w.bob.sshca(["request", "show", id, "--json"]));
      if (req.scans?.["web-1"]?.after) {
        expect(req.scans["web-1"].after.trigger).toBe("revoke");
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("no post-access scan after revocation");
  });

  test("the requester relinquishes their own access; others may not", async () => {
    const { id, serial } = await issue("debug", "web-1");
    const notTheirs = await w.dave.sshca(["request", "relinquish", id]);
    expect(notTheirs.code).toBe(1);
    const byCarol = await w.carol.sshca(["revoke", "--serial", serial, "--reason", "x"]);
    expect(byCarol.code).toBe(1);
    // By serial, whoever may not revoke gets the answer an unknown serial gets (even the requester).
    const byAlice = await w.alice.sshca(["revoke", "--serial", serial, "--reason", "x"]);
    expect(byAlice.code).toBe(1);
    expect(byAlice.stderr).toContain(`no live certificate with serial ${serial} that you may revoke`);

    const mine = await w.alice.sshca(["request", "relinquish", id]);
    expect(mine.code, mine.stderr).toBe(0);
    await syncKrl(w.bob);
    expect((await ssh({ port: web1.port, user: LOGIN, key: w.alice.key, command: "true" })).code).toBe(255);
    const again = await w.bob.sshca(["revoke", "--serial", serial, "--reason", "x"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("was already revoked by alice");
  });

  test("the daemon also keeps the KRL at revocation.krlFile, readable by sshd (0644)", async () => {
    expect((statSync(localKrl).mode & 0o777).toString(8)).toBe("644");
    expect((await run(tool("ssh-keygen"), ["-Q", "-f", localKrl, `${w.alice.key}-cert.pub`])).stdout).toMatch(
      /REVOKED/,
    );
  });

  test("an unknown serial or a malformed request is a clear 4xx", async () => {
    const unknown = await w.bob.sshca(["revoke", "--serial", "12345", "--reason", "x"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no live certificate with serial 12345");
    const both = await w.bob.sshca(["revoke", "--serial", "1", "--request", "rq_aaaaaaaaaaaaaaaa", "--reason", "x"]);
    expect(both.code).toBe(2);
  });
});

describe("sshca doctor on a real target host", () => {
  test("passes on the sshd config the tests run (CA key compared with the daemon's)", async () => {
    const r = await w.bob.sshca(["doctor", "--sshd-config", join(web1.dir, "sshd_config")]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok\s+TrustedUserCAKeys\s+.*holds the CA key$/m);
    expect(r.stdout).toMatch(/^ok\s+RevokedKeys\s+.* is a KRL/m);
  });

  test("names what is missing and exits 1", async () => {
    const other = await targetHost(w.bob, "web-2"); // no RevokedKeys
    try {
      const r = await w.bob.sshca(["doctor", "--sshd-config", join(other.dir, "sshd_config")]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^fail\s+RevokedKeys\s+not set/m);
      expect(r.stderr).toBe(`sshca: 1 problem in ${join(other.dir, "sshd_config")}\n`);
    } finally {
      await other.stop();
    }
  });
});

describe("sshca doctor and the AuthorizedPrincipalsFile files of a target host", () => {
  /** A target host's sshd config set up from what the CLI prints, with principals files under `dir`. */
  async function target(): Promise<{ config: string; principalsDir: string }> {
    const dir = tempDir("doctor");
    const ca = await w.bob.sshca(["ca", "pubkey"]);
    writeFileSync(join(dir, "ca.pub"), ca.stdout);
    expect((await w.bob.sshca(["krl", "fetch", "--out", join(dir, "revoked.krl")])).code).toBe(0);
    const principalsDir = join(dir, "principals");
    const config = join(dir, "sshd_config");
    writeFileSync(
      config,
      [
        `TrustedUserCAKeys ${join(dir, "ca.pub")}`,
        `AuthorizedPrincipalsFile ${principalsDir}/%u`,
        `RevokedKeys ${join(dir, "revoked.krl")}`,
        "LogLevel VERBOSE",
        "",
      ].join("\n"),
    );
    return { config, principalsDir };
  }

  test("with --host: a missing principals file of a login the host's roles grant is named; a right one passes", async () => {
    const { config, principalsDir } = await target();
    mkdirSync(principalsDir);
    const file = join(principalsDir, LOGIN);
    const missing = await w.bob.sshca(["doctor", "--sshd-config", config, "--host", "web-1"]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain(
      `fail  AuthorizedPrincipalsFile ${file} is missing: ${LOGIN} cannot log in with a certificate for web-1 (write it from: sshca principals --host web-1 --user ${LOGIN})`,
    );
    writeFileSync(file, "someone-else@web-1\n");
    const wrong = await w.bob.sshca(["doctor", "--sshd-config", config, "--host", "web-1"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain(`fail  AuthorizedPrincipalsFile ${file} does not list ${LOGIN}@web-1`);
    const lines = await w.bob.sshca(["principals", "--host", "web-1", "--user", LOGIN]);
    writeFileSync(file, lines.stdout);
    const good = await w.bob.sshca(["doctor", "--sshd-config", config, "--host", "web-1"]);
    expect(good.code, good.stdout).toBe(0);
    expect(good.stdout).toContain(`ok    AuthorizedPrincipalsFile ${file} lists what ${LOGIN} needs on web-1`);
  });

  test("without --host: the directory of the per-user files must exist", async () => {
    const { config, principalsDir } = await target();
    const r = await w.bob.sshca(["doctor", "--sshd-config", config]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `fail  AuthorizedPrincipalsFile ${principalsDir} does not exist: no login can use a certificate here`,
    );
    mkdirSync(principalsDir);
    const ok = await w.bob.sshca(["doctor", "--sshd-config", config]);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toContain(
      `warn  AuthorizedPrincipalsFile ${principalsDir} exists; its per-user files were not checked (give --host NAME)`,
    );
    expect(existsSync(join(principalsDir, LOGIN))).toBe(false);
  });
});
