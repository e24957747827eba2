import { existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startDaemon, type TestDaemon, writeConfig } from "../helpers/daemon.js";
import { makePerson } from "../helpers/people.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";

/**
 * Plain HTTP carries nothing that authenticates the server: a forged CA key, an empty KRL or a
 * relayed sign-in challenge would pass unnoticed. The CLI uses it only to a loopback IP address
 * literal or a unix socket — never to a name, not even one that resolves to loopback.
 */

const TOKEN = `sshca_${"a".repeat(16)}_${"A".repeat(43)}`;
const FORGED_CA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEAVn6OtcQU2ijBIK+y4ID4zCwHyNAzj+Qkv8UtrEu+X";

/** A plain-HTTP server on 127.0.0.1 that answers like a (hostile) sshcad and records what it was sent. */
let spy: Server;
let spyPort: number;
const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
let plain: TestDaemon;

beforeAll(async () => {
  spy = createServer((req, res) => {
    seen.push({ url: req.url ?? "", headers: req.headers });
    req.resume();
    if (req.url === "/v1/ca") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ publicKey: FORGED_CA, fingerprint: "SHA256:forged", signatureAlgorithm: "ssh-ed25519" }),
      );
    } else if (req.url === "/v1/krl") {
      // An empty KRL: it would un-revoke every certificate on a target host.
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const krl = Buffer.concat([Buffer.from("SSHKRL\n\0"), Buffer.alloc(36)]);
      krl.writeUInt32BE(1, 8); // format version 1
      res.end(krl);
    } else {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ user: "x", groups: [], requestableRoles: [], approvableRoles: [] }));
    }
  });
  await new Promise<void>((r) => spy.listen(0, "127.0.0.1", () => r()));
  spyPort = (spy.address() as AddressInfo).port;
  plain = await startDaemon({
    configPath: writeConfig(
      e2eConfig({ extra: { listen: { address: "127.0.0.1", port: 0, tls: { enabled: false } } } }),
    ),
  });
});
afterAll(async () => {
  spy?.close();
  await plain?.stop();
});

describe("plain HTTP only to a loopback IP address or a unix socket", () => {
  test.each([
    { name: "a name that only resolves to loopback", url: () => `http://localhost:${spyPort}` },
    { name: "a name that merely starts with 127.", url: () => "http://127.evil.example:8443" },
  ])("fail/the token is not sent to $name", async ({ url }) => {
    seen.length = 0;
    const p = await makePerson("p", url(), TOKEN);
    const r = await p.sshca(["whoami"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`sshca: refusing to send the API token over plain HTTP to ${url()}; use https\n`);
    expect(seen).toEqual([]);
  });

  test.each([
    { name: "ca pubkey (a forged CA key)", args: ["ca", "pubkey"] },
    { name: "krl fetch (an empty KRL)", args: ["krl", "fetch", "--out", "OUT"] },
    { name: "auth ssh (a sign-in challenge)", args: ["auth", "ssh", "--user", "p"] },
  ])("fail/$name is not taken from a plain-HTTP server reached by name", async ({ args }) => {
    seen.length = 0;
    const url = `http://localhost:${spyPort}`;
    const p = await makePerson("p", url, "");
    delete p.env.SSHCA_TOKEN;
    const out = join(tempDir("krl"), "revoked.krl");
    const r = await p.sshca(args.map((a) => (a === "OUT" ? out : a)));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `sshca: refusing plain HTTP to ${url}: without TLS only a loopback IP address (127.0.0.0/8, ::1) or a unix socket is trusted; use https\n`,
    );
    expect(r.stdout).not.toContain(FORGED_CA);
    expect(existsSync(out)).toBe(false);
    expect(seen).toEqual([]);
  });

  test.each(["http://localhost:8443", "http://127.evil.example:8443", "http://ca.example.com:8443"])(
    "fail/bootstrap refuses %s",
    async (url) => {
      const p = await makePerson("x", "http://127.0.0.1:9", "");
      const r = await p.sshca(["bootstrap", "--url", url]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        "sshca: plain http is only for a daemon on this machine's loopback IP address (127.0.0.0/8, ::1) or a unix socket; use https\n",
      );
      expect(existsSync(join(p.home, ".config", "sshca", "config.json"))).toBe(false);
    },
  );

  test("ok/a daemon serving plain HTTP on 127.0.0.1: bootstrap, token, CA key, KRL and SSH sign-in work", async () => {
    expect(plain.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const p = await makePerson("alice", "http://127.0.0.1:9", "");
    delete p.env.SSHCA_URL;
    delete p.env.SSHCA_TOKEN;
    const b = await p.sshca(["bootstrap", "--url", plain.url]);
    expect(b.code, b.stderr).toBe(0);
    const saved = JSON.parse(readFileSync(join(p.home, ".config", "sshca", "config.json"), "utf8"));
    expect(saved).toEqual({ url: plain.url });
    expect((await p.sshca(["ca", "pubkey"])).stdout).toMatch(/^ssh-ed25519 \S+ sshca-user-ca\n$/);
    const out = join(tempDir("krl"), "revoked.krl");
    expect((await p.sshca(["krl", "fetch", "--out", out])).code).toBe(0);
    const added = await plain.sshcad(["user", "add", "alice", "--group", "dev", "--ssh-key", `${p.key}.pub`]);
    expect(added.code, added.stderr).toBe(0);
    // The challenge says the daemon serves no TLS (tls=none), which is what this CLI verified.
    const signin = await p.sshca(["auth", "ssh", "--user", "alice"]);
    expect(signin.code, signin.stderr).toBe(0);
    expect((await p.sshca(["whoami"])).stdout).toContain("alice (groups: dev)");
  });
});
