import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer, request as httpsRequest } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { api } from "../helpers/api.js";
import { auditRecords } from "../helpers/audit-files.js";
import { SSHCA, startDaemon, type TestDaemon, writeConfig } from "../helpers/daemon.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { run, start } from "../helpers/procs.js";
import { makeSkKey, skProvider } from "../helpers/sk.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";
import { blobFingerprint } from "../../src/auth/sshsig.js";
import { parseToken } from "../../src/auth/tokens.js";
import { ensureTlsMaterial } from "../../src/tls/material.js";

let daemon: TestDaemon;
let alice: Person;
let bob: Person;

beforeAll(async () => {
  daemon = await startDaemon({ configPath: writeConfig(e2eConfig()) });
  // People without tokens: alice's key is registered by the operator.
  alice = await makePerson("alice", daemon, "");
  bob = await makePerson("bob", daemon, "");
  delete alice.env.SSHCA_TOKEN;
  delete bob.env.SSHCA_TOKEN;
  const added = await daemon.sshcad(["user", "add", "alice", "--group", "dev", "--ssh-key", `${alice.key}.pub`]);
  expect(added.code, added.stderr).toBe(0);
  expect(added.stderr).toMatch(/Registered SSH key SHA256:\S+ for alice/);
  expect((await daemon.sshcad(["user", "add", "bob", "--group", "sre", "--ssh-key", `${bob.key}.pub`])).code).toBe(0);
});
afterAll(() => daemon?.stop());

describe("SSH-key sign-in", () => {
  test("with a key file: the daemon verifies the signed challenge and a session token is stored", async () => {
    expect((await alice.sshca(["whoami"])).code).toBe(1); // no token yet
    const r = await alice.sshca(["auth", "ssh", "--user", "alice", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ user: "alice", keyFingerprint: expect.stringMatching(/^SHA256:/) });
    expect(r.stdout).not.toContain("sshca_");
    const stored = JSON.parse(readFileSync(join(alice.home, ".config", "sshca", "config.json"), "utf8"));
    expect(stored.token).toMatch(/^sshca_/);
    expect((await alice.sshca(["whoami"])).stdout).toContain("alice (groups: dev)");
  });

  test("with the key only in ssh-agent (no private key on disk)", async () => {
    const sock = join(tempDir("agent"), "s");
    const agent = start(tool("ssh-agent"), ["-D", "-a", sock]);
    await agent.waitFor(/SSH_AUTH_SOCK/);
    try {
      const env = { ...bob.env, SSH_AUTH_SOCK: sock };
      expect((await run(tool("ssh-add"), [bob.key], { env })).code).toBe(0);
      rmSync(bob.key);
      const r = await run(
        process.execPath,
        [join(import.meta.dirname, "..", "..", "dist", "cli", "main.js"), "auth", "ssh", "--user", "bob", "--agent"],
        { env },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^Signed in as bob with SHA256:/);
    } finally {
      agent.proc.kill();
    }
  });

  test("with a security key (software, through SSH_SK_PROVIDER): a touch is required", async () => {
    const carol = await makePerson("carol", daemon, "", { SSH_SK_PROVIDER: await skProvider() });
    delete carol.env.SSHCA_TOKEN;
    const sk = await makeSkKey(join(carol.home, ".ssh"));
    const added = await daemon.sshcad(["user", "add", "carol", "--group", "dev", "--ssh-key", `${sk.key}.pub`]);
    expect(added.code, added.stderr).toBe(0);
    const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      run(process.execPath, [SSHCA, ...args], { env: { ...carol.env, ...extra } });

    const untouched = await cli(["auth", "ssh", "--user", "carol", "-i", sk.key], { SK_SOFT_NO_PRESENCE: "1" });
    expect(untouched.code).toBe(1);
    expect(untouched.stderr).toBe("sshca: SSH sign-in failed: the security key did not confirm user presence\n");

    const r = await cli(["auth", "ssh", "--user", "carol", "-i", sk.key, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const blob = Buffer.from(sk.pub.split(" ")[1]!, "base64");
    expect(JSON.parse(r.stdout)).toMatchObject({ user: "carol", keyFingerprint: blobFingerprint(blob) });
  });

  test("a key registered to someone else does not sign in", async () => {
    const r = await alice.sshca(["auth", "ssh", "--user", "bob"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sshca: SSH sign-in failed: key SHA256:\S+ is not registered for bob\n$/);
  });

  test("a challenge is single-use", async () => {
    const c = await api(daemon, "POST", "/v1/auth/challenge", { body: { user: "alice" } });
    expect(c.status).toBe(201);
    const dir = tempDir("replay");
    writeFileSync(join(dir, "m"), c.body.message);
    await run(tool("ssh-keygen"), ["-Y", "sign", "-f", alice.key, "-n", c.body.namespace, join(dir, "m")]);
    const signature = readFileSync(join(dir, "m.sig"), "utf8");
    const first = await api(daemon, "POST", "/v1/auth/ssh", { body: { challenge: c.body.challenge, signature } });
    expect(first.status).toBe(200);
    const replay = await api(daemon, "POST", "/v1/auth/ssh", { body: { challenge: c.body.challenge, signature } });
    expect(replay.status).toBe(401);
    expect(replay.body.error.message).toBe("unknown or expired sign-in challenge; ask for a new one");
  });

  test("a signed-in user registers another key; an admin revokes a token and it stops working at once", async () => {
    const other = join(tempDir("k2"), "id2");
    await run(tool("ssh-keygen"), ["-q", "-t", "ecdsa", "-N", "", "-f", other]);
    const added = json<{ fingerprint: string }>(await alice.sshca(["key", "add", "-i", other, "--json"]));
    const listed = json<{ keys: { fingerprint: string }[] }>(await alice.sshca(["key", "list", "--json"]));
    expect(listed.keys.map((k) => k.fingerprint)).toContain(added.fingerprint);

    const token = JSON.parse(readFileSync(join(alice.home, ".config", "sshca", "config.json"), "utf8")).token as string;
    const revoked = await daemon.sshcad(["token", "revoke", parseToken(token)!.id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const after = await alice.sshca(["whoami"]);
    expect(after.code).toBe(1);
    expect(after.stderr).toBe("sshca: this API token was revoked\n");
    const list = await daemon.sshcad(["token", "list", "--user", "alice", "--json"]);
    expect(JSON.parse(list.stdout).some((t: { revokedAt: string | null }) => t.revokedAt !== null)).toBe(true);
    expect(list.stdout).not.toContain(parseToken(token)!.secret);
  });
});

describe("the CLI protects its keys and tokens from a hostile or plain server", () => {
  test("it refuses to sign a challenge in another namespace or form", async () => {
    const { createServer } = await import("node:http");
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(201, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          challenge: "ch_aaaaaaaaaaaaaaaaaaaa",
          message: "tree 1234\nparent x\n",
          namespace: "git",
          expiresAt: new Date().toISOString(),
        }),
      );
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await alice.sshca(["--url", `http://127.0.0.1:${port}`, "auth", "ssh", "--user", "alice"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe("sshca: the server sent a sign-in challenge in an unexpected form; not signing it\n");
    } finally {
      server.close();
    }
  });

  test("it will not send a token over plain HTTP beyond loopback", async () => {
    const p = await makePerson("p", "http://ca.example.invalid:8443", `sshca_${"a".repeat(16)}_${"A".repeat(43)}`);
    const r = await p.sshca(["whoami"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "sshca: refusing to send the API token over plain HTTP to http://ca.example.invalid:8443; use https\n",
    );
  });

  test("a challenge relayed through another server (its own TLS CA) is not signed", async () => {
    // The relay is a real HTTPS server with a TLS CA of its own, which alice was led to pin; it
    // forwards every call to the real daemon, where alice's key is registered.
    const tls = await ensureTlsMaterial(join(tempDir("relay"), "tls"), ["127.0.0.1"], new Date());
    const daemonCa = readFileSync(join(daemon.dataDir, "tls", "ca.crt"));
    const target = new URL(daemon.url);
    const forwarded: string[] = [];
    const relay = createHttpsServer({ key: tls.key, cert: tls.chain }, (req, res) => {
      forwarded.push(`${req.method} ${req.url}`);
      const up = httpsRequest(
        {
          hostname: target.hostname,
          port: target.port,
          path: req.url,
          method: req.method,
          ca: daemonCa,
          headers: { ...req.headers, host: target.host },
        },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on("error", () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", () => r()));
    const url = `https://127.0.0.1:${(relay.address() as { port: number }).port}`;
    try {
      const env = { ...alice.env, XDG_CONFIG_HOME: join(tempDir("relay-cfg"), "cfg"), SSHCA_URL: url };
      const sshca = (args: string[]) => run(process.execPath, [SSHCA, ...args], { env });
      const boot = await sshca(["bootstrap", "--url", url, "--fingerprint", tls.fingerprint]);
      expect(boot.code, boot.stderr).toBe(0);
      const signedInBefore = auditRecords(daemon.dataDir).filter((r) => r.type === "auth.signed_in").length;

      const r = await sshca(["auth", "ssh", "--user", "alice"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        "sshca: the sign-in challenge was issued by another server than the one this CLI verified (is something relaying your sign-in?); not signing it\n",
      );
      expect(forwarded).toContain("POST /v1/auth/challenge");
      expect(forwarded).not.toContain("POST /v1/auth/ssh");
      expect(auditRecords(daemon.dataDir).filter((r) => r.type === "auth.signed_in")).toHaveLength(signedInBefore);

      // The same for registering a key: the proof is not signed for a relayed challenge.
      const token = (await daemon.sshcad(["token", "create", "alice"])).stdout.trim();
      const other = join(tempDir("relay-key"), "k");
      await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", other]);
      const add = await run(process.execPath, [SSHCA, "key", "add", "-i", other], {
        env: { ...env, SSHCA_TOKEN: token },
      });
      expect(add.code).toBe(1);
      expect(add.stderr).toBe(
        "sshca: the key-registration challenge was issued by another server than the one this CLI verified; not signing it\n",
      );
      expect(forwarded).toContain("POST /v1/keys/challenge");
      expect(forwarded).not.toContain("POST /v1/keys");
    } finally {
      relay.close();
    }
  });
});

describe("bootstrapped with --system-ca", () => {
  test("sign-in binds the TLS CA the connection was verified with", async () => {
    // NODE_EXTRA_CA_CERTS stands in for a system trust store that holds the daemon's TLS CA.
    const env = {
      ...alice.env,
      XDG_CONFIG_HOME: join(tempDir("sysca-cfg"), "cfg"),
      NODE_EXTRA_CA_CERTS: join(daemon.dataDir, "tls", "ca.crt"),
    };
    const sshca = (args: string[]) => run(process.execPath, [SSHCA, ...args], { env });
    expect((await sshca(["bootstrap", "--url", daemon.url, "--system-ca"])).code).toBe(0);
    const r = await sshca(["auth", "ssh", "--user", "alice"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Signed in as alice with SHA256:/);
  });
});
