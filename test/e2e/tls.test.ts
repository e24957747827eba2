import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import forge from "node-forge";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { api } from "../helpers/api.js";
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

  test("bootstrap pins the CA; a wrong fingerprint is refused without showing the server's", async () => {
    const token = await a.addUser("alice", ["dev"]);
    const wrong = await makePerson("alice", a.url, token);
    const r = await wrong.sshca(["bootstrap", "--url", a.url, "--fingerprint", b.tlsFingerprint!]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^sshca: refusing https://127\\.0\\.0\\.1:\\d+: its TLS CA does not match the fingerprint ${escape(b.tlsFingerprint!)}; check it with the operator \\(sshcad prints it at start as "TLS CA SHA256:\\.\\.\\."\\)\\n$`,
      ),
    );
    // Echoing the server's fingerprint would invite pasting it without checking it.
    expect(r.stderr).not.toContain(a.tlsFingerprint!);
    const none = await wrong.sshca(["bootstrap", "--url", a.url]);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(
      "sshca: --fingerprint SHA256:... is required for https (the TLS CA fingerprint sshcad prints at start), or --system-ca for a server whose certificate this system already trusts\n",
    );
    // Without a pin the daemon's own CA is not trusted at all, and the CLI says what to do.
    const untrusted = await wrong.sshca(["whoami"]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toBe(
      `sshca: no TLS CA is pinned for ${a.url}: run sshca bootstrap --url ${a.url} --fingerprint SHA256:... (the TLS CA fingerprint sshcad prints at start)\n`,
    );

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

  test("NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment never overrides the pin", async () => {
    const alice = await makePerson("alice", a, await a.addUser("alice3", ["dev"]));
    alice.env.SSHCA_URL = b.url;
    alice.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
    for (const args of [["ca", "pubkey"], ["whoami"]]) {
      const r = await alice.sshca(args);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(
        /^sshca: refusing https:\/\/127\.0\.0\.1:\d+: its TLS certificate does not chain to the pinned CA/m,
      );
    }
  });

  test("without a pin the system CAs are used only after bootstrap --system-ca", async () => {
    // NODE_EXTRA_CA_CERTS adds a's TLS CA to Node's default trust, as a system CA would be.
    const extra = { NODE_EXTRA_CA_CERTS: join(a.dataDir, "tls", "ca.crt") };
    const p = await makePerson("alice", a.url, await a.addUser("alice4", ["dev"]), extra);
    const refused = await p.sshca(["whoami"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^sshca: no TLS CA is pinned for https:\/\/127\.0\.0\.1:\d+: run sshca bootstrap/);

    const both = await p.sshca(["bootstrap", "--url", a.url, "--system-ca", "--fingerprint", a.tlsFingerprint!]);
    expect(both.code).toBe(2);
    const boot = await p.sshca(["bootstrap", "--url", a.url, "--system-ca"]);
    expect(boot.code, boot.stderr).toBe(0);
    expect(boot.stderr).toMatch(/^Trusting the system's CAs for https:\/\/127\.0\.0\.1:\d+ \(no pin\); saved to /);
    const saved = JSON.parse(readFileSync(join(p.home, ".config", "sshca", "config.json"), "utf8"));
    expect(saved).toEqual({ url: a.url, systemCa: true });
    expect((await p.sshca(["whoami"])).stdout).toContain("alice4");

    // b's CA is in no trust store: still refused.
    p.env.SSHCA_URL = b.url;
    const other = await p.sshca(["whoami"]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain("its TLS certificate does not chain to");
  });

  test("the TLS CA survives restarts, so pins stay valid", async () => {
    const before = a.tlsFingerprint;
    await a.stop();
    a = await a.restart();
    expect(a.tlsFingerprint).toBe(before);
  });
});

describe("bootstrap says what went wrong on a first run", () => {
  test("http:// to a server that speaks HTTPS: says so and what to type", async () => {
    const p = await makePerson("x", "http://127.0.0.1:9", "");
    const port = new URL(a.url).port;
    const r = await p.sshca(["bootstrap", "--url", `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `sshca: http://127.0.0.1:${port} speaks HTTPS: run sshca bootstrap --url https://127.0.0.1:${port} --fingerprint SHA256:... (the TLS CA fingerprint sshcad prints at start)\n`,
    );
    expect(r.stderr).not.toContain(a.tlsFingerprint!);
    expect(existsSync(join(p.home, ".config", "sshca", "config.json"))).toBe(false);
  });

  test.each(["SHA256:abc", "9dX", "SHA256:" + "A".repeat(44)])(
    "a malformed --fingerprint %s is called malformed",
    async (fp) => {
      const p = await makePerson("x", "http://127.0.0.1:9", "");
      const r = await p.sshca(["bootstrap", "--url", a.url, "--fingerprint", fp]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `sshca: --fingerprint ${fp} is malformed: expected SHA256: and 43 base64 characters, as sshcad prints it (TLS CA SHA256:...)\n`,
      );
    },
  );

  test("the SSH CA fingerprint pasted instead of the TLS CA one: says exactly that, shows neither fingerprint of the server", async () => {
    const ssh = (await api(a, "GET", "/v1/ca")).body.fingerprint as string;
    expect(ssh).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const p = await makePerson("x", "http://127.0.0.1:9", "");
    const r = await p.sshca(["bootstrap", "--url", a.url, "--fingerprint", ssh]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `sshca: ${ssh} is the fingerprint of the SSH CA key (what sshca ca pubkey and /v1/ca show), not of the TLS CA; use the TLS CA fingerprint sshcad prints at start (TLS CA SHA256:...)\n`,
    );
    expect(r.stderr).not.toContain(a.tlsFingerprint!);
    expect(existsSync(join(p.home, ".config", "sshca", "config.json"))).toBe(false);
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
