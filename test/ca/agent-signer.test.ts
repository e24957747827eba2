import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sshpk from "sshpk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isSignedBy, parseCertificate } from "../../cli/certificate.js";
import { AgentClient } from "../../src/ca/agent/client.js";
import { SSH_AGENT_RSA_SHA2_512 } from "../../src/ca/agent/protocol.js";
import { agentProblem, agentSigner } from "../../src/ca/agent-signer.js";
import { signCertificate } from "../../src/ca/sign.js";
import { verifySignatureBlob } from "../../src/ca/signature-check.js";
import { parseCaPublicKey } from "../../src/ca/signer.js";
import { keygen, startAgent, type TestAgent } from "../helpers/agent.js";
import { run } from "../helpers/procs.js";
import { LOGIN } from "../helpers/scenario.js";
import { ssh, startSshd } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

let agent: TestAgent;
const keys: Record<string, string> = {};

beforeAll(async () => {
  agent = await startAgent();
  keys.ed25519 = await keygen("ed25519");
  keys.ecdsa = await keygen("ecdsa", 384);
  keys.rsa = await keygen("rsa", 3072);
  for (const k of Object.values(keys)) await agent.add(k);
});
afterAll(() => agent?.stop());

const pub = (path: string) => parseCaPublicKey(readFileSync(`${path}.pub`, "utf8"));

/** A user key pair and a certificate for it, signed by `ca` through the agent. */
async function certify(caPath: string): Promise<{ key: string; cert: string }> {
  const key = join(tempDir("user"), "id_ed25519");
  expect((await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", key])).code).toBe(0);
  const now = Date.now();
  const cert = await signCertificate(
    {
      subjectKey: sshpk.parseKey(readFileSync(`${key}.pub`, "utf8"), "ssh"),
      serial: Buffer.from("0000000000001234", "hex"),
      keyId: "req=rq_agent;user=alice",
      principals: [`${LOGIN}@web-1`],
      validAfter: new Date(now - 60_000),
      validBefore: new Date(now + 600_000),
      criticalOptions: {},
      extensions: ["permit-pty"],
    },
    agentSigner(new AgentClient(agent.socket), pub(caPath)),
  );
  writeFileSync(`${key}-cert.pub`, `${cert}\n`);
  return { key, cert };
}

describe("signing through a real ssh-agent (the daemon never reads the key)", () => {
  test.each([
    { type: "ed25519", alg: "ssh-ed25519" },
    { type: "ecdsa", alg: "ecdsa-sha2-nistp384" },
    { type: "rsa", alg: "rsa-sha2-512" },
  ])("ok/$type CA key in the agent: ssh-keygen -L shows $alg, the signature verifies", async ({ type, alg }) => {
    const { key, cert } = await certify(keys[type]!);
    const l = await run(tool("ssh-keygen"), ["-L", "-f", `${key}-cert.pub`]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toContain(`(using ${alg})`);
    expect(l.stdout).toContain(
      `Signing CA: ${type === "ed25519" ? "ED25519" : type === "ecdsa" ? "ECDSA" : "RSA"} ${pub(keys[type]!).fingerprint}`,
    );
    expect(l.stdout).toContain("Serial: 4660");
    expect(isSignedBy(parseCertificate(cert), pub(keys[type]!).publicKeyLine)).toBe(true);
  });

  test("a real sshd accepts the certificate an RSA CA key signed through the agent (rsa-sha2-512)", async () => {
    const { key } = await certify(keys.rsa!);
    const sshd = await startSshd({
      trustedCaLine: pub(keys.rsa!).publicKeyLine,
      principals: { [LOGIN]: [`${LOGIN}@web-1`] },
    });
    try {
      const r = await ssh({ port: sshd.port, user: LOGIN, key, command: "echo agent-signed" });
      expect(r.code, r.stderr + sshd.log()).toBe(0);
      expect(r.stdout.trim()).toBe("agent-signed");
      expect(sshd.log()).toMatch(/Accepted publickey .* ID req=rq_agent;user=alice \(serial 4660\) CA RSA/);
    } finally {
      await sshd.stop();
    }
  });

  test("without SSH_AGENT_RSA_SHA2_512 the agent signs with SHA-1 (ssh-rsa), which the signature check refuses", async () => {
    const client = new AgentClient(agent.socket);
    const blob = pub(keys.rsa!).publicKey.toBuffer("rfc4253");
    const data = Buffer.from("to be signed");
    const sha1 = await client.sign(blob, data, 0);
    expect(sha1.subarray(4, 4 + 7).toString()).toBe("ssh-rsa");
    expect(verifySignatureBlob(blob, data, sha1)).toBe(false);
    const sha512 = await client.sign(blob, data, SSH_AGENT_RSA_SHA2_512);
    expect(sha512.subarray(4, 16).toString()).toBe("rsa-sha2-512");
    expect(verifySignatureBlob(blob, data, sha512)).toBe(true);
  });

  test("fail/a key the agent does not hold: signing is refused with a 503 naming the agent", async () => {
    const stranger = await keygen("ed25519");
    const signer = agentSigner(new AgentClient(agent.socket), pub(stranger));
    expect(await agentProblem(new AgentClient(agent.socket), pub(stranger))).toMatch(/does not hold the CA key/);
    await expect(signer.sign(Buffer.from("x"))).rejects.toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(/refused to sign \(is the CA key loaded\?\)/),
    });
  });

  test("fail/no agent on the socket: a 503 saying so, quickly", async () => {
    const client = new AgentClient(join(tempDir("none"), "missing.sock"));
    const started = Date.now();
    await expect(client.identities()).rejects.toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(/ENOENT \(is the agent running/),
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
