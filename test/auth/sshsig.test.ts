import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { verifySshSignature, verifySshSignatureDetails } from "../../src/auth/sshsig.js";
import { sshMpint, sshString } from "../../src/ca/ssh-wire.js";
import { run } from "../helpers/procs.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

const NS = "sshca-auth";
const message = Buffer.from("sshca sign-in\nuser=alice\nchallenge=ch_x\n");

async function keygenSign(type: string[], msg = message, ns = NS): Promise<{ sig: string; pub: string }> {
  const dir = tempDir("sig");
  const key = join(dir, "id");
  await run(tool("ssh-keygen"), ["-q", ...type, "-N", "", "-f", key]);
  const file = join(dir, "msg");
  writeFileSync(file, msg);
  const r = await run(tool("ssh-keygen"), ["-Y", "sign", "-f", key, "-n", ns, file]);
  expect(r.code, r.stderr).toBe(0);
  return { sig: readFileSync(`${file}.sig`, "utf8"), pub: readFileSync(`${key}.pub`, "utf8") };
}

describe("ssh-keygen -Y sign signatures, verified by the daemon", () => {
  test.each([
    ["ed25519", ["-t", "ed25519"]],
    ["ecdsa-p256", ["-t", "ecdsa", "-b", "256"]],
    ["ecdsa-p384", ["-t", "ecdsa", "-b", "384"]],
    ["ecdsa-p521", ["-t", "ecdsa", "-b", "521"]],
    ["rsa-3072 (rsa-sha2-512)", ["-t", "rsa", "-b", "3072"]],
  ])("ok/%s", async (_name, type) => {
    const { sig, pub } = await keygenSign(type);
    const blob = verifySshSignature(sig, message, NS);
    expect(blob.toString("base64")).toBe(pub.split(" ")[1]);
  });

  test("fail/another message, another namespace, a corrupted signature", async () => {
    const { sig } = await keygenSign(["-t", "ed25519"]);
    expect(() => verifySshSignature(sig, Buffer.from("other"), NS)).toThrow(/does not verify/);
    expect(() => verifySshSignature(sig, message, "file")).toThrow(/namespace "sshca-auth", not "file"/);
    const lines = sig.split("\n");
    lines[2] = lines[2]!.replace(/[A-Za-z]/, (c) => (c === "A" ? "B" : "A"));
    expect(() => verifySshSignature(lines.join("\n"), message, NS)).toThrow();
    expect(() => verifySshSignature("hello", message, NS)).toThrow(/not an SSH signature/);
  });
});

/**
 * Security keys cannot run here, so these signatures are made the way an authenticator makes
 * them (PROTOCOL.u2f), and `ssh-keygen -Y verify` confirms they are well-formed before the
 * daemon's verifier is tested against them.
 */
describe("security-key (sk-*) signatures", () => {
  const application = Buffer.from("ssh:");
  const signedData = (ns: string, msg: Buffer) =>
    Buffer.concat([
      Buffer.from("SSHSIG"),
      sshString(ns),
      sshString(Buffer.alloc(0)),
      sshString("sha512"),
      sshString(createHash("sha512").update(msg).digest()),
    ]);
  const armor = (pubBlob: Buffer, sigBlob: Buffer, ns: string) => {
    const blob = Buffer.concat([
      Buffer.from("SSHSIG"),
      Buffer.from([0, 0, 0, 1]),
      sshString(pubBlob),
      sshString(ns),
      sshString(Buffer.alloc(0)),
      sshString("sha512"),
      sshString(sigBlob),
    ]);
    return `-----BEGIN SSH SIGNATURE-----\n${blob.toString("base64").replace(/(.{70})/g, "$1\n")}\n-----END SSH SIGNATURE-----\n`;
  };
  const authData = (flags: number, data: Buffer) =>
    Buffer.concat([
      createHash("sha256").update(application).digest(),
      Buffer.from([flags]),
      Buffer.from([0, 0, 0, 42]),
      createHash("sha256").update(data).digest(),
    ]);

  function ed25519Sk(flags: number) {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
    const type = "sk-ssh-ed25519@openssh.com";
    const pubBlob = Buffer.concat([sshString(type), sshString(raw), sshString(application)]);
    const sig = sign(null, authData(flags, signedData(NS, message)), privateKey);
    const sigBlob = Buffer.concat([sshString(type), sshString(sig), Buffer.from([flags]), Buffer.from([0, 0, 0, 42])]);
    return { line: `${type} ${pubBlob.toString("base64")}`, armored: armor(pubBlob, sigBlob, NS) };
  }

  function ecdsaSk(flags: number) {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" });
    const q = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
    const type = "sk-ecdsa-sha2-nistp256@openssh.com";
    const pubBlob = Buffer.concat([sshString(type), sshString("nistp256"), sshString(q), sshString(application)]);
    const rs = sign("sha256", authData(flags, signedData(NS, message)), { key: privateKey, dsaEncoding: "ieee-p1363" });
    const inner = Buffer.concat([sshMpint(rs.subarray(0, 32)), sshMpint(rs.subarray(32))]);
    const sigBlob = Buffer.concat([
      sshString(type),
      sshString(inner),
      Buffer.from([flags]),
      Buffer.from([0, 0, 0, 42]),
    ]);
    return { line: `${type} ${pubBlob.toString("base64")}`, armored: armor(pubBlob, sigBlob, NS) };
  }

  async function keygenVerifies(line: string, armored: string): Promise<boolean> {
    const dir = tempDir("skv");
    writeFileSync(join(dir, "allowed"), `alice ${line}\n`);
    writeFileSync(join(dir, "sig"), armored);
    const r = await run(
      tool("ssh-keygen"),
      ["-Y", "verify", "-f", join(dir, "allowed"), "-I", "alice", "-n", NS, "-s", join(dir, "sig")],
      {
        input: message.toString("utf8"),
      },
    );
    return r.code === 0;
  }

  test.each([
    ["sk-ssh-ed25519", ed25519Sk],
    ["sk-ecdsa-sha2-nistp256", ecdsaSk],
  ])("ok/%s with user presence (ssh-keygen -Y verify agrees)", async (_n, make) => {
    const s = make(0x01);
    expect(await keygenVerifies(s.line, s.armored)).toBe(true);
    expect(verifySshSignature(s.armored, message, NS).toString("base64")).toBe(s.line.split(" ")[1]);
  });

  test("fail/without user presence", () => {
    const s = ed25519Sk(0x00);
    expect(() => verifySshSignature(s.armored, message, NS)).toThrow(/user presence/);
  });

  const NO_UV = "the security key did not verify the user (PIN or biometric), which this role requires";
  describe.each([
    ["sk-ssh-ed25519", ed25519Sk],
    ["sk-ecdsa-sha2-nistp256", ecdsaSk],
  ])("verifySshSignatureDetails/%s", (_n, make) => {
    test.each([
      // name, flags signed by the key, requireUserVerification, expected details or error
      ["ok/UP", 0x01, false, { flags: 0x01, userPresent: true, userVerified: false, counter: 42 }],
      ["ok/UP+UV", 0x05, false, { flags: 0x05, userPresent: true, userVerified: true, counter: 42 }],
      ["ok/UP+UV, UV required", 0x05, true, { flags: 0x05, userPresent: true, userVerified: true, counter: 42 }],
      ["ok/UP+UV+ED bits kept as signed", 0x85, true, { flags: 0x85, userPresent: true, userVerified: true }],
      ["fail/UP, UV required", 0x01, true, NO_UV],
      ["fail/UV without UP", 0x04, false, "the security key did not confirm user presence"],
      ["fail/UV without UP, UV required", 0x04, true, "the security key did not confirm user presence"],
      ["fail/nothing", 0x00, false, "the security key did not confirm user presence"],
    ] as const)("%s", (_name, flags, requireUserVerification, expected) => {
      const s = make(flags);
      const check = () => verifySshSignatureDetails(s.armored, message, NS, { requireUserVerification });
      if (typeof expected === "string") {
        expect(check).toThrow(expected);
      } else {
        const d = check();
        expect(d.publicKey.toString("base64")).toBe(s.line.split(" ")[1]);
        expect(d.sk).toMatchObject(expected);
      }
    });
  });

  test("fail/a flags byte changed after signing does not verify (the flags are signed)", () => {
    const s = ed25519Sk(0x01);
    const blob = Buffer.from(s.armored.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
    // The flags byte sits 5 bytes from the end of the blob (flags, uint32 counter).
    blob[blob.length - 5] = 0x05;
    const forged = `-----BEGIN SSH SIGNATURE-----\n${blob.toString("base64")}\n-----END SSH SIGNATURE-----\n`;
    expect(() => verifySshSignatureDetails(forged, message, NS, { requireUserVerification: true })).toThrow(
      /does not verify/,
    );
  });
});

describe("verifySshSignatureDetails with plain keys", () => {
  test("ok/no sk details; fail/UV required: only a security key can verify the user", async () => {
    const { sig, pub } = await keygenSign(["-t", "ed25519"]);
    const d = verifySshSignatureDetails(sig, message, NS);
    expect(d.publicKey.toString("base64")).toBe(pub.split(" ")[1]);
    expect(d.sk).toBeUndefined();
    expect(() => verifySshSignatureDetails(sig, message, NS, { requireUserVerification: true })).toThrow(
      "this role requires a security key that verifies the user (PIN or biometric); a ssh-ed25519 key cannot",
    );
  });
});
