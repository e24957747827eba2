import { chmodSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import type { TestDaemon } from "../helpers/daemon.js";
import { json, type Person } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { LOGIN, startWorld, type World } from "../helpers/scenario.js";
import { ssh, startSshd, type TestSshd } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * Regression: a revocation after the CA key changed must revoke the certificate. The KRL scopes
 * serials by CA key (PROTOCOL.krl); listing an old key's serial under the new key answered 200
 * and revoked nothing. Here the key changes the way it could before `sshcad ca rotate` existed:
 * the key file is replaced and the daemon restarted.
 */
let w: World;
let daemon: TestDaemon;
let web1: TestSshd | undefined;

const pointAt = (d: TestDaemon, ...people: Person[]) => {
  for (const p of people) p.env.SSHCA_URL = d.url;
};

beforeAll(async () => {
  w = await startWorld();
  daemon = w.daemon;
});
afterAll(async () => {
  await web1?.stop();
  await daemon?.stop();
});

test("a certificate signed by the replaced CA key is revoked in the KRL, and sshd refuses it", async () => {
  const { alice, bob, carol, dave } = w;
  const oldCa = (await bob.sshca(["ca", "pubkey"])).stdout.trim();
  const req = json<{ id: string }>(
    await alice.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "INC-1", "--no-wait", "--json"]),
  );
  expect((await bob.sshca(["approve", req.id])).code).toBe(0);
  const issued = json<{ serial: string }>(await alice.sshca(["request", "wait", req.id, "--no-agent", "--json"]));
  const cert = `${alice.key}-cert.pub`;

  // The operator replaces the CA key file and restarts the daemon.
  expect((await daemon.stop()).code).toBe(0);
  const fresh = join(tempDir("newca"), "ca_key");
  const kg = await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-C", "new CA", "-f", fresh]);
  expect(kg.code, kg.stderr).toBe(0);
  const keyPath = join(daemon.dataDir, "ca", "ca_key");
  copyFileSync(fresh, keyPath);
  chmodSync(keyPath, 0o600);
  copyFileSync(`${fresh}.pub`, `${keyPath}.pub`);
  daemon = await daemon.restart();
  pointAt(daemon, alice, bob, carol, dave);

  // A host that still trusts the old key (as hosts do until they are told otherwise).
  const krlFile = join(tempDir("target"), "revoked.krl");
  expect((await bob.sshca(["krl", "fetch", "--out", krlFile])).code).toBe(0);
  web1 = await startSshd({
    trustedCaLine: oldCa,
    principals: json<{ principals: Record<string, string[]> }>(
      await bob.sshca(["principals", "--host", "web-1", "--json"]),
    ).principals,
    revokedKeys: krlFile,
  });
  const before = await ssh({ port: web1.port, user: LOGIN, key: alice.key, command: "echo in" });
  expect(before.code, before.stderr).toBe(0);

  const revoked = await bob.sshca(["revoke", "--serial", issued.serial, "--reason", "laptop stolen"]);
  expect(revoked.code, revoked.stderr).toBe(0);
  expect((await bob.sshca(["krl", "fetch", "--out", krlFile])).code).toBe(0);
  const q = await run(tool("ssh-keygen"), ["-Q", "-f", krlFile, cert]);
  expect(q.stdout).toMatch(/REVOKED/);
  const after = await ssh({ port: web1.port, user: LOGIN, key: alice.key, command: "echo in" });
  expect(after.code).toBe(255);

  // The replaced key stays published (its certificates may still be live) after the new one,
  // and the change is in the audit log.
  const lines = (await bob.sshca(["ca", "pubkey"])).stdout.trim().split("\n");
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(/ sshca-user-ca$/);
  expect(lines[1]).toBe(`${oldCa.replace(/ sshca-user-ca$/, "")} sshca-user-ca-previous`);
  const replaced = auditRecords(daemon.dataDir).find((r) => r.type === "ca.key_replaced");
  expect(replaced?.fields).toMatchObject({ ca: "user", replaced: expect.stringMatching(/^SHA256:/) });
});
