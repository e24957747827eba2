import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import sshpk from "sshpk";
import { describe, expect, test } from "vitest";
import { isSignedBy, parseCertificate } from "../../cli/certificate.js";
import { loadCaKey } from "../../src/ca/ca-key.js";
import { randomSerial } from "../../src/ca/serial.js";
import { type CertSpec, signCertificate } from "../../src/ca/sign.js";
import { run } from "../helpers/procs.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

type Gen = Parameters<typeof generateKeyPairSync>;
const opensshKey = (type: string, opts: object = {}) => {
  const { privateKey } = (generateKeyPairSync as (...a: Gen) => { privateKey: KeyObject })(
    type as Gen[0],
    opts as Gen[1],
  );
  return sshpk.parsePrivateKey(privateKey.export({ type: "pkcs8", format: "pem" }) as string, "pkcs8").toString("ssh");
};
const userKey = () => {
  const { publicKey } = generateKeyPairSync("ed25519");
  return sshpk.parseKey(publicKey.export({ type: "spki", format: "pem" }), "pem");
};
const now = new Date();
const spec = (over: Partial<CertSpec> = {}): CertSpec => ({
  subjectKey: userKey(),
  serial: Buffer.from("00000000000000ff", "hex"),
  keyId: "req=rq_x;user=alice",
  principals: ["debug@web-1"],
  validAfter: new Date(now.getTime() - 60_000),
  validBefore: new Date(now.getTime() + 600_000),
  criticalOptions: {},
  extensions: ["permit-pty"],
  ...over,
});

async function keygenL(cert: string): Promise<string> {
  const path = join(tempDir("cert"), "id-cert.pub");
  writeFileSync(path, `${cert}\n`);
  const r = await run(tool("ssh-keygen"), ["-L", "-f", path]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

describe("signing", () => {
  test.each([
    { name: "ed25519", key: () => opensshKey("ed25519"), alg: "ssh-ed25519" },
    {
      name: "ecdsa-p256",
      key: () => opensshKey("ec", { namedCurve: "P-256" }),
      alg: "ecdsa-sha2-nistp256",
    },
    {
      name: "ecdsa-p384",
      key: () => opensshKey("ec", { namedCurve: "P-384" }),
      alg: "ecdsa-sha2-nistp384",
    },
    {
      name: "ecdsa-p521",
      key: () => opensshKey("ec", { namedCurve: "P-521" }),
      alg: "ecdsa-sha2-nistp521",
    },
    {
      name: "rsa-3072 signs with rsa-sha2-512, never ssh-rsa",
      key: () => opensshKey("rsa", { modulusLength: 3072 }),
      alg: "rsa-sha2-512",
    },
  ])("ok/$name CA: ssh-keygen reads it and the signature verifies", async ({ key, alg }) => {
    const ca = loadCaKey(key());
    expect(ca.signatureAlgorithm).toBe(alg);
    const cert = await signCertificate(
      spec({
        criticalOptions: { "source-address": "10.0.0.0/8", "force-command": "/bin/true" },
        extensions: ["permit-pty", "permit-agent-forwarding"],
      }),
      ca,
    );
    const out = await keygenL(cert);
    expect(out).toContain(`(using ${alg})`);
    expect(out).toMatch(/Critical Options: \n\s+force-command \/bin\/true\n\s+source-address 10\.0\.0\.0\/8\n/);
    expect(out).toMatch(/Extensions: \n\s+permit-agent-forwarding\n\s+permit-pty\n/);
    expect(out).toContain("Serial: 255");
    expect(isSignedBy(parseCertificate(cert), ca.publicKeyLine)).toBe(true);
  });

  test("ECDSA signatures stay valid when r or s has leading zero bytes (1 in 256 signatures)", async () => {
    const ca = loadCaKey(opensshKey("ec", { namedCurve: "P-256" }));
    const s = spec();
    for (let i = 0; i < 1500; i++) {
      const parsed = parseCertificate(await signCertificate(s, ca));
      expect(isSignedBy(parsed, ca.publicKeyLine)).toBe(true);
    }
  });

  test("a certificate signed by another CA does not verify", async () => {
    const ca = loadCaKey(opensshKey("ed25519"));
    const other = loadCaKey(opensshKey("ed25519"));
    expect(isSignedBy(parseCertificate(await signCertificate(spec(), ca)), other.publicKeyLine)).toBe(false);
  });

  test.each([
    {
      name: "RSA CA under 3072 bits",
      key: () => opensshKey("rsa", { modulusLength: 2048 }),
      msg: /at least 3072 bits/,
    },
    {
      name: "DSA CA",
      key: () => opensshKey("dsa", { modulusLength: 2048, divisorLength: 256 }),
      msg: /DSA CA key is not supported/,
    },
    { name: "garbage", key: () => "not a key", msg: /cannot parse the CA key/ },
  ])("fail/$name is refused at load", ({ key, msg }) => {
    expect(() => loadCaKey(key())).toThrow(msg);
  });

  test.each([
    { name: "empty principals", over: { principals: [] }, msg: /no principals/ },
    { name: "comma in principal", over: { principals: ["a,b@web-1"] }, msg: /bad principal/ },
    { name: "zero serial", over: { serial: Buffer.alloc(8) }, msg: /non-zero/ },
    {
      name: "empty validity",
      over: { validBefore: new Date(now.getTime() - 120_000) },
      msg: /empty validity/,
    },
    { name: "newline in key id", over: { keyId: "a\nb" }, msg: /printable/ },
  ])("fail/refuses to sign with $name", async ({ over, msg }) => {
    const ca = loadCaKey(opensshKey("ed25519"));
    await expect(signCertificate(spec(over as Partial<CertSpec>), ca)).rejects.toThrow(msg);
  });

  test("serials are random 64-bit and never zero", () => {
    let calls = 0;
    const zeroFirst = (n: number) => (calls++ === 0 ? Buffer.alloc(n) : Buffer.alloc(n, 0xab));
    expect(randomSerial(zeroFirst).decimal).toBe(BigInt("0xabababababababab").toString());
    expect(calls).toBe(2);
  });
});
