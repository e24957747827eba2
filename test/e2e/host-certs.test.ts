import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { SSHCAD } from "../helpers/daemon.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { e2eConfig, LOGIN } from "../helpers/scenario.js";
import { startSshd, type TestSshd } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * Host certificates end to end: a target host gets its host key certified with its host
 * credential (sshca host cert), sshd presents it, and a user's real ssh with
 * StrictHostKeyChecking=yes, set up only from sshca known-hosts / ssh-config / krl fetch --hosts,
 * connects with no prompt, and refuses an uncertified host, a certificate naming another host,
 * and a revoked certificate.
 */
let api: InProc;
let alice: Person;
let bob: Person;
const sshds: TestSshd[] = [];
const hostTokens: Record<string, string> = {};

/** A host credential of `host`, made as an admin makes it: `sshcad host credential create HOST`. */
async function hostCredential(host: string): Promise<{ token: string; credentialId: string }> {
  const r = await sshcad(["host", "credential", "create", host, "--ttl", "1d", "--json"]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { token: string; credentialId: string };
}

/** A public key line (any key will do where the refusal comes first). */
const pub = () => readFileSync(`${alice.key}.pub`, "utf8").trim();

/** Every audit record of the in-process daemon, from its segment files. */
const auditOf = (p: InProc) => Promise.resolve(auditRecords(p.daemon.core.paths.dataDir));

/** The target host's side: a host key, and `sshca host cert` with the host's credential. */
async function hostKey(): Promise<string> {
  const key = join(tempDir("hostkey"), "ssh_host_ed25519_key");
  expect((await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", key])).code).toBe(0);
  return key;
}
const hostCert = (host: string, args: string[]) =>
  run(process.execPath, [join(SSHCAD, "..", "..", "cli", "main.js"), "host", "cert", ...args], {
    env: { PATH: process.env.PATH, HOME: tempDir("hosthome"), SSHCA_URL: api.url, SSHCA_TOKEN: hostTokens[host] },
  });
const sshcad = (args: string[]) =>
  run(process.execPath, [
    SSHCAD,
    "--config",
    api.daemon.core.configPath,
    "--data-dir",
    api.daemon.core.paths.dataDir,
    ...args,
  ]);

/** An sshd for web-1's logins presenting `key` (and its certificate, if given). */
async function targetSshd(key: string, cert?: string): Promise<TestSshd> {
  const ca = await bob.sshca(["ca", "pubkey"]);
  const principals = json<{ principals: Record<string, string[]> }>(
    await bob.sshca(["principals", "--host", "web-1", "--json"]),
  ).principals;
  const d = await startSshd({
    trustedCaLine: ca.stdout.trim(),
    principals,
    hostKey: key,
    ...(cert ? { hostCertificate: cert } : {}),
  });
  sshds.push(d);
  return d;
}

/** Alice's ~/.ssh, set up from sshca only, and her ssh to `name` reaching 127.0.0.1:`port`. */
const files = () => ({
  knownHosts: join(alice.home, ".ssh", "sshca_known_hosts"),
  hostKrl: join(alice.home, ".ssh", "sshca_revoked_host_keys.krl"),
});
async function userSetup(): Promise<string> {
  const f = files();
  expect((await alice.sshca(["known-hosts", "--out", f.knownHosts])).code).toBe(0);
  expect((await alice.sshca(["krl", "fetch", "--hosts", "--out", f.hostKrl])).code).toBe(0);
  const snippet = await alice.sshca([
    "ssh-config",
    "-i",
    alice.key,
    "--known-hosts",
    f.knownHosts,
    "--host-krl",
    f.hostKrl,
  ]);
  expect(snippet.code, snippet.stderr).toBe(0);
  return snippet.stdout;
}
async function sshAs(name: string, port: number, snippet: string, extra: string[] = []) {
  const cfg = join(tempDir("sshcfg"), "config");
  // The user's own host entry (name -> address and port), then sshca's snippet.
  writeFileSync(
    cfg,
    `Host ${name}\n    HostName 127.0.0.1\n    Port ${port}\n    IdentityAgent none\n    IdentitiesOnly yes\n\n${snippet}`,
  );
  return run(tool("ssh"), [
    "-F",
    cfg,
    "-T",
    ...["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"],
    ...extra,
    `${LOGIN}@${name}`,
    "echo in",
  ]);
}

beforeAll(async () => {
  const config = e2eConfig({ extra: { scanning: { enabled: false } } }) as { hosts: Record<string, object> };
  // Each host its own loopback address: ssh checks a host certificate against the name it
  // connects to after HostName (or HostKeyAlias), so two hosts sharing one would vouch for each other.
  config.hosts["web-1"] = { address: "127.0.0.1", aliases: ["web-1.example.test"] };
  config.hosts["web-2"] = { address: "127.0.0.2" };
  config.hosts["db-1"] = { address: "127.0.0.3" };
  api = await startInProc(config);
  alice = await makePerson("alice", api.url, await api.token("alice", ["dev"]));
  bob = await makePerson("bob", api.url, await api.token("bob", ["sre"]));
  hostTokens["web-1"] = (await hostCredential("web-1")).token;
  hostTokens["web-2"] = (await hostCredential("web-2")).token;
  // Alice's user certificate for web-1 (the login itself; the host side is what is tested here).
  const req = json<{ id: string }>(
    await alice.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "r", "--no-wait", "--json"]),
  );
  expect((await bob.sshca(["approve", req.id])).code).toBe(0);
  expect((await alice.sshca(["request", "wait", req.id, "--no-agent"])).code).toBe(0);
}, 60_000);
afterAll(async () => {
  for (const d of sshds) await d.stop();
  await api?.daemon.stop();
});

describe("host certificates with a real sshd and ssh -o StrictHostKeyChecking=yes", () => {
  let web1Key: string;
  let web1: TestSshd;

  test("sshca host cert: a host certificate for the host's names and address, 30 days, signed by the host CA", async () => {
    web1Key = await hostKey();
    const r = await hostCert("web-1", ["--key", `${web1Key}.pub`, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).results[0]).toMatchObject({ action: "renewed", reason: "no certificate yet" });
    // ssh-keygen prints local time: in UTC, so that a daylight-saving change within the 30 days
    // does not move the span by an hour.
    const l = await run(tool("ssh-keygen"), ["-L", "-f", `${web1Key}-cert.pub`], {
      env: { ...process.env, TZ: "UTC" },
    });
    expect(l.stdout).toContain("ssh-ed25519-cert-v01@openssh.com host certificate");
    expect(l.stdout).toMatch(/Principals: \n\s+web-1\n\s+127\.0\.0\.1\n\s+web-1\.example\.test\n/);
    expect(l.stdout).toContain('Key ID: "host=web-1"');
    const hostCa = json<{ fingerprint: string }>(await alice.sshca(["--url", api.url, "ca", "pubkey", "--json"]));
    const view = (await api.call("GET", "/v1/ca/host")).body as { fingerprint: string };
    expect(view.fingerprint).not.toBe(hostCa.fingerprint); // a CA of its own, not the user CA
    expect(l.stdout).toContain(`Signing CA: ED25519 ${view.fingerprint}`);
    const m = /Valid: from (\S+) to (\S+)/.exec(l.stdout)!;
    const days = (Date.parse(`${m[2]!}Z`) - Date.parse(`${m[1]!}Z`)) / 86400_000;
    expect(days).toBeGreaterThan(30);
    expect(days).toBeLessThan(30.01);
  });

  test("a user set up from sshca connects to the certified host with no prompt", async () => {
    web1 = await targetSshd(web1Key, `${web1Key}-cert.pub`);
    const snippet = await userSetup();
    expect(snippet).toMatch(
      /^Match host web-1,127\.0\.0\.1,web-1\.example\.test,web-2,127\.0\.0\.2,db-1,127\.0\.0\.3$/m,
    );
    const before = readFileSync(files().knownHosts, "utf8");
    expect(before).toMatch(/^@cert-authority web-1,127\.0\.0\.1,.*\[web-1\]:\*.* ssh-ed25519 \S+ sshca-host-ca$/m);
    const r = await sshAs("web-1", web1.port, snippet);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("in");
    expect(r.stderr).toBe("");
    expect(readFileSync(files().knownHosts, "utf8")).toBe(before); // nothing learnt on first use
  });

  test("refused: a host whose key is not certified", async () => {
    const plain = await targetSshd(await hostKey());
    const r = await sshAs("web-2", plain.port, await userSetup());
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Host key verification failed/);
  });

  test("refused: a host presenting a certificate that names another host", async () => {
    const key = await hostKey();
    expect((await hostCert("web-2", ["--key", `${key}.pub`])).code).toBe(0);
    // web-2's certificate (web-2, 127.0.0.2) on what the user reaches as web-1 (127.0.0.1).
    const imposter = await targetSshd(key, `${key}-cert.pub`);
    const snippet = await userSetup();
    const r = await sshAs("web-1", imposter.port, snippet);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Certificate invalid: name is not a listed principal/);
    expect(r.stderr).toMatch(/Host key verification failed/);
    // The same certificate is good for the host it names.
    const right = await sshAs("web-1", imposter.port, snippet, ["-o", "HostKeyAlias=web-2"]);
    expect(right.stderr).not.toMatch(/Host key verification failed|Certificate invalid/);
  });

  test("a revoked host certificate is refused once the user has the host KRL; a renewed one works again", async () => {
    const revoked = await sshcad(["host", "cert", "revoke", "--host", "web-1", "--reason", "host key leaked"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stderr).toMatch(/^Revoked host certificate \d+ of web-1$/m);
    const snippet = await userSetup();
    const r = await sshAs("web-1", web1.port, snippet);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/revoked/i);

    // Still valid on its own clock, so a plain run keeps it; a renewal with a reload serves a new one.
    const kept = await hostCert("web-1", ["--key", `${web1Key}.pub`]);
    expect(kept.stdout).toMatch(/^kept .*-cert\.pub: valid until/m);
    const renewed = await hostCert("web-1", [
      "--key",
      `${web1Key}.pub`,
      "--renew-before",
      "31d",
      "--reload-sshd",
      "--sshd-pid-file",
      web1.pidFile,
    ]);
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(renewed.stdout).toMatch(/^renewed .*\(it ends soon\): serial \d+/m);
    const serial = /serial (\d+)/.exec(renewed.stdout)![1]!;
    await web1.proc.waitFor(/Received SIGHUP; restarting\.\r?\n[\s\S]*Server listening on/, 10_000);
    const again = await sshAs("web-1", web1.port, snippet, ["-v"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`serial ${serial} ID "host=web-1"`);
  });
});

describe("host certificate signing refuses what it must, and changes nothing then", () => {
  test.each([
    { name: "no credential", token: () => undefined, body: () => ({ publicKey: "x" }), status: 401 },
    { name: "a person's token", token: () => alice.env.SSHCA_TOKEN, body: () => ({ publicKey: "x" }), status: 403 },
    {
      name: "a host naming another host",
      token: () => hostTokens["web-1"],
      body: () => ({ publicKey: pub(), host: "web-2" }),
      status: 400,
    },
    {
      name: "a certificate instead of a key",
      token: () => hostTokens["web-1"],
      body: () => ({ publicKey: readFileSync(`${alice.key}-cert.pub`, "utf8") }),
      status: 400,
    },
    {
      name: "not a key",
      token: () => hostTokens["web-1"],
      body: () => ({ publicKey: "ssh-ed25519 !!!" }),
      status: 400,
    },
  ])("fail/$name: $status", async ({ token, body, status }) => {
    const before = api.snapshot();
    const t = token();
    const r = await api.call("POST", "/v1/host/certificate", { body: body(), ...(t ? { token: t } : {}) });
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(r.body.error.message).not.toMatch(/at |\.ts:/);
    const after = api.snapshot();
    expect(after.state).toBe(before.state);
  });

  test("the host credential is the one way a host signs in: a revoked one is refused, and it opens no user route", async () => {
    const c = await hostCredential("db-1");
    const key = await hostKey();
    const ok = await api.call("POST", "/v1/host/certificate", {
      token: c.token,
      body: { publicKey: readFileSync(`${key}.pub`, "utf8") },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toMatchObject({ host: "db-1", principals: ["db-1", "127.0.0.3"] });
    // The companion's routes and host certificates take the same credential.
    expect((await api.call("GET", "/v1/host/whoami", { token: c.token })).body).toMatchObject({ host: "db-1" });
    for (const [method, path] of [
      ["GET", "/v1/known-hosts"],
      ["GET", "/v1/requests"],
      ["GET", "/v1/whoami"],
    ] as const) {
      const r = await api.call(method, path, { token: c.token });
      expect(r.status, `${method} ${path}`).toBe(403);
    }
    expect((await sshcad(["host", "credential", "revoke", c.credentialId])).code).toBe(0);
    const before = api.snapshot();
    const after = await api.call("POST", "/v1/host/certificate", {
      token: c.token,
      body: { publicKey: readFileSync(`${key}.pub`, "utf8") },
    });
    expect(after.status).toBe(401);
    expect(api.snapshot().state).toBe(before.state);
  });

  test("every host certificate is audited under the host's name; revocations under the admin", async () => {
    const recs = await auditOf(api);
    const issued = recs.filter((r) => r.type === "host.certificate_issued");
    expect(issued.length).toBeGreaterThanOrEqual(3);
    expect(issued[0]).toMatchObject({
      actor: "host:web-1",
      fields: { host: "web-1", principals: ["web-1", "127.0.0.1", "web-1.example.test"], keyId: "host=web-1" },
    });
    expect(recs.find((r) => r.type === "host.certificate_revoked")).toMatchObject({
      actor: "admin",
      fields: { host: "web-1", reason: "host key leaked" },
    });
  });
});

describe("the host CA rotates without a prompt for anyone", () => {
  test("known-hosts carries the next key once staged; after the switch hosts renew onto the new key", async () => {
    const key = await hostKey();
    expect((await hostCert("web-1", ["--key", `${key}.pub`])).code).toBe(0);
    const oldCa = ((await api.call("GET", "/v1/ca/host")).body as { fingerprint: string }).fingerprint;
    expect((await sshcad(["ca", "rotate", "stage", "--host"])).code).toBe(0);
    const kh = await alice.sshca(["known-hosts"]);
    const lines = kh.stdout.split("\n").filter((l) => l.startsWith("@cert-authority"));
    expect(lines.map((l) => l.split(" ").at(-1))).toEqual(["sshca-host-ca", "sshca-host-ca-next"]);

    // Not yet switched: the certificate is kept.
    expect((await hostCert("web-1", ["--key", `${key}.pub`])).stdout).toMatch(/^kept /m);
    expect((await sshcad(["ca", "rotate", "switch", "--host"])).code).toBe(0);
    const renewed = await hostCert("web-1", ["--key", `${key}.pub`]);
    expect(renewed.stdout).toMatch(/^renewed .*\(the host CA signs with another key now \(rotation\)\)/m);
    const view = (await api.call("GET", "/v1/ca/host")).body as { fingerprint: string };
    const l = await run(tool("ssh-keygen"), ["-L", "-f", `${key}-cert.pub`]);
    expect(l.stdout).toContain(`Signing CA: ED25519 ${view.fingerprint}`);

    // A user who refreshed known hosts at the stage connects to the renewed host with no prompt.
    const d = await targetSshd(key, `${key}-cert.pub`);
    const r = await sshAs("web-1", d.port, await userSetup());
    expect(r.code, r.stderr).toBe(0);

    // The old host CA key still has live certificates of hosts that did not renew yet (web-1's
    // first key, web-2's); the one this host renewed away from no longer counts.
    const live = (await sshcad(["host", "cert", "list", "--json"])).stdout;
    const old = (
      JSON.parse(live) as { serial: string; caFingerprint: string; keyFingerprint: string; revocation?: unknown }[]
    ).filter((c) => c.caFingerprint === oldCa && !c.revocation);
    const keyFp = (await run(tool("ssh-keygen"), ["-lf", `${key}.pub`])).stdout.split(" ")[1];
    const superseded = old.filter((c) => c.keyFingerprint === keyFp).map((c) => c.serial);
    expect(superseded).toHaveLength(1);
    const retire = await sshcad(["ca", "rotate", "retire", "--host"]);
    expect(retire.code).toBe(1);
    expect(retire.stderr).toContain(`${old.length - 1} live certificate(s) still depend on ${oldCa}`);
    expect(retire.stderr).not.toContain(superseded[0]!);
  });
});
