import { X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import forge from "node-forge";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startDaemon, type TestDaemon, writeConfig } from "../helpers/daemon.js";
import { makePerson } from "../helpers/people.js";
import { e2eConfig } from "../helpers/scenario.js";

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
let a: TestDaemon;
let b: TestDaemon;

beforeAll(async () => {
  [a, b] = await Promise.all([
    startDaemon({ configPath: writeConfig(e2eConfig()) }),
    startDaemon({ configPath: writeConfig(e2eConfig()) }),
  ]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

describe("transport", () => {
  test("HTTPS by default: a TLS CA and server certificate with SHA-256, the configured SANs, keys 0600", () => {
    expect(a.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const dir = join(a.dataDir, "tls");
    expect(mode(dir)).toBe("700");
    expect(mode(join(dir, "ca.key"))).toBe("600");
    expect(mode(join(dir, "server.key"))).toBe("600");
    const ca = forge.pki.certificateFromPem(readFileSync(join(dir, "ca.crt"), "utf8"));
    const server = forge.pki.certificateFromPem(readFileSync(join(dir, "server.crt"), "utf8"));
    for (const c of [ca, server]) expect(forge.pki.oids[c.siginfo.algorithmOid]).toBe("sha256WithRSAEncryption");
    expect(ca.getExtension("basicConstraints")).toMatchObject({ cA: true });
    expect(
      (server.getExtension("subjectAltName") as { altNames: { value?: string; ip?: string }[] }).altNames.map(
        (n) => n.ip ?? n.value,
      ),
    ).toEqual(["localhost", "127.0.0.1"]);
    // Verified with node:crypto (OpenSSL), not with node-forge.
    const caX = new X509Certificate(readFileSync(join(dir, "ca.crt")));
    const serverX = new X509Certificate(readFileSync(join(dir, "server.crt")));
    expect(serverX.checkIssued(caX)).toBe(true);
    expect(serverX.verify(caX.publicKey)).toBe(true);
    expect(a.tlsFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  test("bootstrap pins the CA; a wrong fingerprint is refused", async () => {
    const token = await a.addUser("alice", ["dev"]);
    const wrong = await makePerson("alice", a.url, token);
    const r = await wrong.sshca(["bootstrap", "--url", a.url, "--fingerprint", b.tlsFingerprint!]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^sshca: refusing https://127\\.0\\.0\\.1:\\d+: its TLS CA is ${escape(a.tlsFingerprint!)}, not the pinned ${escape(b.tlsFingerprint!)}\\n$`,
      ),
    );
    const none = await wrong.sshca(["bootstrap", "--url", a.url]);
    expect(none.code).toBe(2);
    // Without a pin the daemon's own CA is not trusted at all.
    const untrusted = await wrong.sshca(["whoami"]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain("does not chain to the pinned CA");

    const right = await makePerson("alice", a, token);
    expect((await right.sshca(["whoami"])).stdout).toContain("alice");
  });

  test("the CLI refuses a server whose chain does not match the pin", async () => {
    const alice = await makePerson("alice", a, await a.addUser("alice2", ["dev"]));
    alice.env.SSHCA_URL = b.url; // same client, another daemon with its own TLS CA
    const r = await alice.sshca(["ca", "pubkey"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^sshca: refusing https:\/\/127\.0\.0\.1:\d+: its TLS certificate does not chain to the pinned CA/,
    );
  });

  test("the TLS CA survives restarts, so pins stay valid", async () => {
    const before = a.tlsFingerprint;
    await a.stop();
    a = await a.restart();
    expect(a.tlsFingerprint).toBe(before);
  });
});

describe("plain HTTP", () => {
  test("is refused in the config unless the daemon binds loopback or a unix socket", async () => {
    const cfg = e2eConfig({ extra: { listen: { address: "0.0.0.0", port: 0, tls: { enabled: false } } } });
    const r = await startDaemon({ configPath: writeConfig(cfg) }).catch((e: Error) => e);
    expect(String(r)).toContain(
      "listen.tls.enabled: plain HTTP (tls.enabled: false) is only allowed on a loopback address or a unix socket",
    );
  });

  test("the CLI will not pin a plain-HTTP URL off loopback", async () => {
    const p = await makePerson("x", a.url, "");
    const r = await p.sshca(["bootstrap", "--url", "http://ca.example.com:8443"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("plain http is only for a daemon on this machine's loopback");
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
