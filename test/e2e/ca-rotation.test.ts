import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { api } from "../helpers/api.js";
import { auditRecords } from "../helpers/audit-files.js";
import type { TestDaemon } from "../helpers/daemon.js";
import { json, type Person } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { LOGIN, startWorld, targetHost, type World } from "../helpers/scenario.js";
import { ssh, type TestSshd } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * Rotating the user CA key without lockout, against a real sshd: stage (both keys published),
 * switch (the new key signs; old-key certificates still log in), retire (refused while old-key
 * certificates live, naming them; forced, the KRL revokes the old key itself).
 */
let w: World;
let daemon: TestDaemon;
let web1: TestSshd;
let krlFile: string;

interface Status {
  phase: string;
  signing: string;
  keys: { fingerprint: string; status: string; file?: string; liveCertificates: string[] }[];
  published: string[];
}

const pointAt = (d: TestDaemon) => {
  for (const p of [w.alice, w.bob, w.carol, w.dave]) p.env.SSHCA_URL = d.url;
};
const sshcad = (args: string[]) => daemon.sshcad(args);
const status = async () => json<Status>(await sshcad(["ca", "status", "--json"]));
/** What the host's CA sync does: TrustedUserCAKeys from `sshca ca pubkey`, the KRL from `sshca krl fetch`. */
const syncHost = async () => {
  const ca = await w.bob.sshca(["ca", "pubkey"]);
  expect(ca.code, ca.stderr).toBe(0);
  writeFileSync(join(web1.dir, "trusted_user_ca_keys"), `${ca.stdout}`);
  await syncKrl();
};
const syncKrl = async () => expect((await w.bob.sshca(["krl", "fetch", "--out", krlFile])).code).toBe(0);
const login = (key: string) => ssh({ port: web1.port, user: LOGIN, key, command: "echo in" });

/** A certificate for `who`'s key (or another key of theirs), approved by bob; its serial. */
async function certify(who: Person, key = who.key): Promise<string> {
  const req = json<{ id: string }>(
    await who.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "r", "-i", key, "--no-wait", "--json"]),
  );
  expect((await w.bob.sshca(["approve", req.id])).code).toBe(0);
  const done = await who.sshca(["request", "wait", req.id, "-i", key, "--no-agent", "--json"]);
  expect(done.code, done.stderr).toBe(0);
  return JSON.parse(done.stdout).serial as string;
}

async function signingCaOf(certPath: string): Promise<string> {
  const l = await run(tool("ssh-keygen"), ["-L", "-f", certPath]);
  return /Signing CA: \S+ (SHA256:\S+)/.exec(l.stdout)![1]!;
}

beforeAll(async () => {
  w = await startWorld();
  daemon = w.daemon;
  krlFile = join(tempDir("target"), "revoked.krl");
  await syncKrl();
  web1 = await targetHost(w.bob, "web-1", krlFile);
});
afterAll(async () => {
  await web1?.stop();
  await daemon?.stop();
});

describe("user CA rotation against a real sshd", () => {
  let oldKey: string;
  let newKey: string;
  let a1: string; // alice, old key: revoked during the overlap
  let a2: string; // carol, old key: still live at retirement
  const alice2 = () => join(w.alice.home, ".ssh", "id_second");

  test("steady: one key, published and signing", async () => {
    const s = await status();
    expect(s.phase).toBe("steady");
    expect(s.keys).toHaveLength(1);
    oldKey = s.signing;
    a1 = await certify(w.alice);
    a2 = await certify(w.carol);
    expect(await signingCaOf(`${w.alice.key}-cert.pub`)).toBe(oldKey);
    expect((await login(w.alice.key)).code).toBe(0);
  });

  test("stage: a new key file (0600 in a 0700 directory) published as a second line; the phase survives a crash", async () => {
    const r = await sshcad(["ca", "rotate", "stage", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const staged = JSON.parse(r.stdout) as Status;
    expect(staged.phase).toBe("staged");
    const next = staged.keys.find((k) => k.status === "next")!;
    newKey = next.fingerprint;
    const keyFile = join(daemon.dataDir, "ca", next.file!);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(daemon.dataDir, "ca")).mode & 0o777).toBe(0o700);
    expect(staged.signing).toBe(oldKey); // not signing yet

    // A crash right after the phase change loses nothing: the key set is in the state.
    await daemon.kill();
    daemon = await daemon.restart();
    pointAt(daemon);
    expect((await status()).phase).toBe("staged");
    const pub = (await w.bob.sshca(["ca", "pubkey"])).stdout.trim().split("\n");
    expect(pub).toHaveLength(2);
    expect(pub[0]).toMatch(/ sshca-user-ca$/);
    expect(pub[1]).toMatch(/ sshca-user-ca-next$/);
    expect(json<{ phase: string }>(await w.bob.sshca(["ca", "pubkey", "--json"])).phase).toBe("staged");
  });

  test("sshca doctor fails a host that lacks the next key, and passes once it was synced", async () => {
    const cfg = join(web1.dir, "sshd_config");
    const before = await w.bob.sshca(["doctor", "--sshd-config", cfg]);
    expect(before.code).toBe(1);
    expect(before.stdout).toMatch(
      new RegExp(
        `^fail\\s+TrustedUserCAKeys\\s+.* does not hold the next CA key staged for rotation.* ${escape(newKey)}`,
        "m",
      ),
    );
    await syncHost();
    const after = await w.bob.sshca(["doctor", "--sshd-config", cfg]);
    expect(after.code, after.stdout).toBe(0);
    expect(after.stdout).toMatch(/^ok\s+TrustedUserCAKeys\s+.* holds the CA key and the rotation's next SHA256:/m);
  });

  test("switch: the new key signs; during the overlap old- and new-key certificates both log in", async () => {
    const r = await sshcad(["ca", "rotate", "switch"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/phase switched/);
    const kg = await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", alice2()]);
    expect(kg.code).toBe(0);
    await certify(w.alice, alice2());
    expect(await signingCaOf(`${alice2()}-cert.pub`)).toBe(newKey);
    expect(await signingCaOf(`${w.carol.key}-cert.pub`)).toBe(oldKey);
    for (const key of [w.alice.key, w.carol.key, alice2()]) {
      const r2 = await login(key);
      expect(r2.code, `${key}: ${r2.stderr}`).toBe(0);
    }
    const pub = (await w.bob.sshca(["ca", "pubkey"])).stdout.trim().split("\n");
    expect(pub.map((l) => l.split(" ")[2])).toEqual(["sshca-user-ca", "sshca-user-ca-previous"]);
  });

  test("a revoked old-key certificate is refused (its serial listed under the old key); the others still log in", async () => {
    expect((await w.bob.sshca(["revoke", "--serial", a1, "--reason", "lost laptop"])).code).toBe(0);
    await syncKrl();
    const q = await run(tool("ssh-keygen"), ["-Q", "-f", krlFile, `${w.alice.key}-cert.pub`]);
    expect(q.stdout).toMatch(/REVOKED/);
    expect((await login(w.alice.key)).code).toBe(255);
    expect((await login(w.carol.key)).code).toBe(0);
    expect((await login(alice2())).code).toBe(0);
  });

  test("retire is refused while an old-key certificate is live, naming its serial, and changes nothing", async () => {
    const seq = auditRecords(daemon.dataDir).length;
    const r = await sshcad(["ca", "rotate", "retire"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`1 live certificate(s) still depend on ${oldKey}: serial ${a2}`);
    expect(r.stderr).not.toContain(a1); // revoked: no longer depends on the key
    expect((await status()).phase).toBe("switched");
    expect(auditRecords(daemon.dataDir).length).toBe(seq);
  });

  test("forced retirement: the KRL revokes the old key, so its certificates are refused even where it is still trusted", async () => {
    const r = await sshcad(["ca", "rotate", "retire", "--force", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Status;
    expect(s.phase).toBe("steady");
    expect(s.keys.find((k) => k.fingerprint === oldKey)?.status).toBe("retired");
    expect(s.published).toHaveLength(1);

    // The host still lists the old key in TrustedUserCAKeys; only its KRL is new.
    await syncKrl();
    expect((await run(tool("ssh-keygen"), ["-Q", "-f", krlFile, `${w.carol.key}-cert.pub`])).stdout).toMatch(/REVOKED/);
    expect((await login(w.carol.key)).code).toBe(255);
    // No serial of hers is listed: sshd refused the certificate because its CA key is revoked
    // (krl.c ssh_krl_check_key checks a certificate's signature key first).
    const carolFp = (await run(tool("ssh-keygen"), ["-lf", `${w.carol.key}.pub`])).stdout.split(" ")[1];
    expect(web1.log()).toContain(`ED25519-CERT ${carolFp} revoked by file ${krlFile}`);
    expect((await login(alice2())).code).toBe(0);
    const doctor = await w.bob.sshca(["doctor", "--sshd-config", join(web1.dir, "sshd_config")]);
    expect(doctor.stdout).toMatch(
      new RegExp(`^warn\\s+TrustedUserCAKeys\\s+.* still trusts the retired CA key ${escape(oldKey)}`, "m"),
    );

    // Synced: only the new key is trusted; still refused, the new key's certificate still works.
    await syncHost();
    expect((await w.bob.sshca(["ca", "pubkey"])).stdout.trim().split("\n")).toHaveLength(1);
    expect((await login(w.carol.key)).code).toBe(255);
    expect((await login(alice2())).code).toBe(0);
  });

  test("every phase is in the audit log", () => {
    const recs = auditRecords(daemon.dataDir).filter((r) => r.type.startsWith("ca.rotation_"));
    expect(recs.map((r) => r.type)).toEqual(["ca.rotation_staged", "ca.rotation_switched", "ca.rotation_retired"]);
    expect(recs.every((r) => r.actor === "admin" && r.fields.ca === "user")).toBe(true);
    expect(recs[0]!.fields).toMatchObject({ fingerprint: newKey, custody: "file" });
    expect(recs[1]!.fields).toMatchObject({ from: oldKey, to: newKey });
    expect(recs[2]!.fields).toMatchObject({ fingerprint: oldKey, forced: true, dependents: [a2] });
  });
});

describe("the host CA rotates the same way, also with no daemon running", () => {
  test("offline stage (under the data directory's lock), published once the daemon runs again", async () => {
    expect((await daemon.stop()).code).toBe(0);
    const before = json<Status>(await sshcad(["ca", "status", "--host", "--json"]));
    expect(before.phase).toBe("steady");
    const r = await sshcad(["ca", "rotate", "stage", "--host"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^host CA: phase staged/m);
    daemon = await daemon.restart();
    pointAt(daemon);
    const view = (await api(daemon, "GET", "/v1/ca/host")).body as { phase: string; keys: { status: string }[] };
    expect(view.phase).toBe("staged");
    expect(view.keys.map((k) => k.status)).toEqual(["current", "next"]);
    // The user CA is not touched by it.
    expect((await status()).phase).toBe("steady");
    const cancelled = await sshcad(["ca", "rotate", "cancel", "--host", "--json"]);
    expect(JSON.parse(cancelled.stdout).phase).toBe("steady");
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
