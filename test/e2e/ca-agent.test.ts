import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { keygen, startAgent, type TestAgent } from "../helpers/agent.js";
import { api } from "../helpers/api.js";
import { json } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { e2eConfig, LOGIN, startWorld, targetHost, type World } from "../helpers/scenario.js";
import { ssh, type TestSshd } from "../helpers/sshd.js";
import { tool } from "../helpers/tools.js";

/**
 * ca.signer: agent — the CA keys stay in a real ssh-agent (ssh-add), sshcad knows their public
 * halves only and asks the agent for every signature.
 */
let w: World;
let agent: TestAgent;
let web1: TestSshd | undefined;
let userCa: string;
let hostCa: string;

beforeAll(async () => {
  agent = await startAgent();
  userCa = await keygen("rsa", 3072);
  hostCa = await keygen("ed25519");
  await agent.add(userCa);
  await agent.add(hostCa);
  w = await startWorld(
    e2eConfig({
      extra: {
        ca: {
          signer: "agent",
          agentSocket: agent.socket,
          publicKeyFile: `${userCa}.pub`,
          host: { publicKeyFile: `${hostCa}.pub` },
        },
      },
    }),
  );
});
afterAll(async () => {
  await web1?.stop();
  await w?.daemon.stop();
  await agent?.stop();
});

/** Every regular file under `dir`, recursively. */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    const st = statSync(p);
    return st.isDirectory() ? filesUnder(p) : st.isFile() ? [p] : [];
  });

async function issue(): Promise<string> {
  const req = json<{ id: string }>(
    await w.alice.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "INC-7", "--no-wait", "--json"]),
  );
  expect((await w.bob.sshca(["approve", req.id])).code).toBe(0);
  return req.id;
}

describe("the CA key in an ssh-agent", () => {
  test("a certificate signed through the agent (RSA: rsa-sha2-512) logs in to a real sshd; no private key on disk", async () => {
    const ca = await w.bob.sshca(["ca", "pubkey"]);
    expect(ca.stdout.trim()).toBe(
      `${readFileSync(`${userCa}.pub`, "utf8").split(" ").slice(0, 2).join(" ")} sshca-user-ca`,
    );
    const id = await issue();
    const waited = await w.alice.sshca(["request", "wait", id, "--no-agent", "--json"]);
    expect(waited.code, waited.stderr).toBe(0);
    const l = await run(tool("ssh-keygen"), ["-L", "-f", `${w.alice.key}-cert.pub`]);
    expect(l.stdout).toMatch(/Signing CA: RSA SHA256:\S+ \(using rsa-sha2-512\)/);

    web1 = await targetHost(w.bob, "web-1");
    const r = await ssh({ port: web1.port, user: LOGIN, key: w.alice.key, command: "echo via-agent" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("via-agent");

    // The daemon never had the CA keys: no SSH private key anywhere under its data directory.
    for (const f of filesUnder(w.daemon.dataDir))
      expect(readFileSync(f).includes("OPENSSH PRIVATE KEY"), f).toBe(false);
    const ready = await api(w.daemon, "GET", "/readyz");
    expect(ready.status).toBe(200);
  });

  test("with the agent gone, /readyz says so and issuance answers 503; once it is back the certificate is issued", async () => {
    await agent.stop();
    const ready = await api(w.daemon, "GET", "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body.checks.caKey).toMatchObject({ ok: false, detail: expect.stringContaining("ssh-agent") });

    const req = json<{ id: string }>(
      await w.alice.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "INC-8", "--no-wait", "--json"]),
    );
    const approved = await w.bob.sshca(["approve", req.id]);
    expect(approved.code).toBe(1);
    expect(approved.stderr).toMatch(/could not be issued yet: the ssh-agent at \S+ cannot be used/);

    // The same socket again, with the keys: the sweep retries the approved request.
    agent = await startAgent(agent.socket);
    await agent.add(userCa);
    await agent.add(hostCa);
    const waited = await w.alice.sshca(["request", "wait", req.id, "--no-agent", "--json", "--timeout", "30s"]);
    expect(waited.code, waited.stderr).toBe(0);
    expect(JSON.parse(waited.stdout).state).toBe("issued");
    expect((await api(w.daemon, "GET", "/readyz")).status).toBe(200);
  });

  test("rotation with the agent: stage names a key the agent holds (refused otherwise), then it signs", async () => {
    const stranger = await keygen("ed25519");
    const refused = await w.daemon.sshcad(["ca", "rotate", "stage", "--public-key", `${stranger}.pub`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/does not hold the CA key SHA256:\S+ \(ssh-add it/);
    const noKey = await w.daemon.sshcad(["ca", "rotate", "stage"]);
    expect(noKey.stderr).toMatch(/add the next key to the agent first and name its public key: --public-key FILE/);

    const next = await keygen("ecdsa", 256);
    await agent.add(next);
    const staged = await w.daemon.sshcad(["ca", "rotate", "stage", "--public-key", `${next}.pub`, "--json"]);
    expect(staged.code, staged.stderr).toBe(0);
    expect(JSON.parse(staged.stdout)).toMatchObject({ phase: "staged", custody: "agent" });
    expect((await w.daemon.sshcad(["ca", "rotate", "switch"])).code).toBe(0);
    const id = await issue();
    expect((await w.alice.sshca(["request", "wait", id, "--no-agent"])).code).toBe(0);
    const l = await run(tool("ssh-keygen"), ["-L", "-f", `${w.alice.key}-cert.pub`]);
    expect(l.stdout).toMatch(/Signing CA: ECDSA SHA256:\S+ \(using ecdsa-sha2-nistp256\)/);
  });
});
