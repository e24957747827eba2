import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { SshReader } from "../../src/auth/ssh-reader.js";
import { parseSshSignature, verifySshSignature, verifySshSignatureDetails } from "../../src/auth/sshsig.js";
import { run } from "../helpers/procs.js";
import { makeSkKey, type SkKey, type SkKeyOptions } from "../helpers/sk.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * The software security key (test/fixtures/sk-soft) driven by the real ssh-keygen: keys made by
 * `ssh-keygen -t ed25519-sk`, signatures by `ssh-keygen -Y sign`, checked by `ssh-keygen -Y
 * verify` and by the daemon's own verifier (src/auth/sshsig.ts).
 */

const NS = "sshca-auth";
const message = Buffer.from("sshca sign-in\nuser=alice\nchallenge=ch_sk\n");

async function newKey(opts: SkKeyOptions = {}): Promise<SkKey & { dir: string }> {
  const dir = tempDir("sk");
  return { ...(await makeSkKey(dir, opts)), dir };
}

/** `ssh-keygen -Y sign` with the key's environment plus `extra` (the SK_SOFT_* switches). */
async function keygenSign(k: SkKey & { dir: string }, extra: NodeJS.ProcessEnv = {}) {
  const file = join(k.dir, `msg-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, message);
  const r = await run(tool("ssh-keygen"), ["-Y", "sign", "-n", NS, "-f", k.key, file], { env: { ...k.env, ...extra } });
  return { ...r, sig: r.code === 0 ? readFileSync(`${file}.sig`, "utf8") : "" };
}

async function sign(k: SkKey & { dir: string }, extra: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await keygenSign(k, extra);
  expect(r.code, r.stderr).toBe(0);
  return r.sig;
}

/** `ssh-keygen -vv -Y verify` against an allowed-signers file holding the key. */
async function keygenVerify(k: SkKey & { dir: string }, armored: string) {
  const allowed = join(k.dir, "allowed_signers");
  writeFileSync(allowed, `alice ${k.pub}\n`);
  const sigFile = join(k.dir, "verify.sig");
  writeFileSync(sigFile, armored);
  return run(tool("ssh-keygen"), ["-vv", "-Y", "verify", "-f", allowed, "-I", "alice", "-n", NS, "-s", sigFile], {
    input: message.toString("utf8"),
  });
}

/** The flags byte and counter inside the SSHSIG signature blob (PROTOCOL.u2f signature encoding). */
function skFields(armored: string): { type: string; flags: number; counter: number } {
  const r = new SshReader(parseSshSignature(armored).signature);
  const type = r.text();
  r.string(); // the Ed25519 signature, or (mpint r, mpint s)
  return { type, flags: r.byte(), counter: r.uint32() };
}

const blobOf = (pub: string) => pub.split(" ")[1];

describe("sk-soft: a software security key for the real ssh-keygen", () => {
  test.each([["ed25519-sk" as const], ["ecdsa-sk" as const]])(
    "ok/%s: ssh-keygen -Y sign, ssh-keygen -Y verify and the daemon agree",
    async (type) => {
      const k = await newKey({ type });
      expect(k.pub).toMatch(
        type === "ed25519-sk" ? /^sk-ssh-ed25519@openssh\.com / : /^sk-ecdsa-sha2-nistp256@openssh\.com /,
      );
      const armored = await sign(k);
      const v = await keygenVerify(k, armored);
      expect(v.code, v.stderr).toBe(0);
      expect(v.stdout).toMatch(/Good "sshca-auth" signature for alice/);
      expect(v.stderr).toMatch(/signature details: counter = \d+, flags = 0x01/);
      expect(skFields(armored)).toMatchObject({ type: k.pub.split(" ")[0], flags: 0x01 });
      expect(verifySshSignature(armored, message, NS).toString("base64")).toBe(blobOf(k.pub));
      // The daemon checks the signed flags, not just the bytes: another message does not verify.
      expect(() => verifySshSignature(armored, Buffer.from("other"), NS)).toThrow(/does not verify/);
    },
  );

  test("fail/SK_SOFT_NO_PRESENCE=1: ssh-keygen -Y verify accepts it (flags 0x00 only at -vv), the daemon refuses", async () => {
    const k = await newKey();
    const armored = await sign(k, { SK_SOFT_NO_PRESENCE: "1" });
    expect(skFields(armored).flags).toBe(0x00);
    // OpenSSH 9.2's -Y verify does not look at the flags at all (only sshd enforces presence).
    const v = await keygenVerify(k, armored);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/Good "sshca-auth" signature/);
    expect(v.stderr).toMatch(/signature details: counter = \d+, flags = 0x00/);
    expect(() => verifySshSignature(armored, message, NS)).toThrow("the security key did not confirm user presence");
  });

  test("ok/SK_SOFT_VERIFIED=1 sets the user-verified flag (0x04) in the signature", async () => {
    const k = await newKey();
    const armored = await sign(k, { SK_SOFT_VERIFIED: "1" });
    expect(skFields(armored).flags).toBe(0x05);
    expect((await keygenVerify(k, armored)).code).toBe(0);
    expect(verifySshSignatureDetails(armored, message, NS, { requireUserVerification: true }).sk).toMatchObject({
      userPresent: true,
      userVerified: true,
    });
  });

  test("ok/SK_SOFT_COUNTER_FILE counts one up per signature, across ssh-keygen runs", async () => {
    const k = await newKey();
    const counterFile = join(k.dir, "counter");
    const a = skFields(await sign(k, { SK_SOFT_COUNTER_FILE: counterFile })).counter;
    const b = verifySshSignatureDetails(await sign(k, { SK_SOFT_COUNTER_FILE: counterFile }), message, NS).sk!.counter;
    expect([a, b]).toEqual([1, 2]);
    expect(readFileSync(counterFile, "utf8").trim()).toBe("2");
  });

  describe("verify-required keys (ssh-keygen -O verify-required)", () => {
    test("ok/ssh-keygen asks for the PIN and the key reports user verification", async () => {
      const k = await newKey({ verifyRequired: true });
      // An askpass that also records the prompt it was shown.
      const prompts = join(k.dir, "prompts");
      const askpass = join(k.dir, "askpass-recording");
      writeFileSync(askpass, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${prompts}'\nexec '${k.env.SSH_ASKPASS}'\n`, {
        mode: 0o700,
      });
      const r = await keygenSign(k, { SSH_ASKPASS: askpass });
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(prompts, "utf8")).toMatch(/^Enter PIN for ED25519-SK key: $/m);
      expect(skFields(r.sig).flags).toBe(0x05);
      const d = verifySshSignatureDetails(r.sig, message, NS, { requireUserVerification: true });
      expect(d.publicKey.toString("base64")).toBe(blobOf(k.pub));
    });

    test("fail/no PIN: the key refuses to sign, ssh-keygen -Y sign fails", async () => {
      const k = await newKey({ verifyRequired: true });
      const empty = join(k.dir, "askpass-empty");
      writeFileSync(empty, "#!/bin/sh\necho\n", { mode: 0o700 });
      const r = await keygenSign(k, { SSH_ASKPASS: empty });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/incorrect passphrase supplied/);
    });

    test("fail/an authenticator that signs without verifying (SK_SOFT_VERIFIED=0) is refused when UV is required", async () => {
      const k = await newKey({ verifyRequired: true });
      const armored = await sign(k, { SK_SOFT_VERIFIED: "0" });
      expect(skFields(armored).flags).toBe(0x01);
      expect(verifySshSignature(armored, message, NS).toString("base64")).toBe(blobOf(k.pub));
      expect(() => verifySshSignatureDetails(armored, message, NS, { requireUserVerification: true })).toThrow(
        "the security key did not verify the user (PIN or biometric), which this role requires",
      );
    });
  });
});

describe("verifySshSignatureDetails over software-key signatures", () => {
  test.each([
    // name, SK_SOFT_* switches, requireUserVerification, expected flags or error
    ["ok/presence, UV not required", {}, false, { userPresent: true, userVerified: false }],
    ["ok/presence + UV, UV required", { SK_SOFT_VERIFIED: "1" }, true, { userPresent: true, userVerified: true }],
    ["ok/presence + UV, UV not required", { SK_SOFT_VERIFIED: "1" }, false, { userPresent: true, userVerified: true }],
    ["fail/presence only, UV required", {}, true, /did not verify the user \(PIN or biometric\)/],
    ["fail/no presence", { SK_SOFT_NO_PRESENCE: "1" }, false, /did not confirm user presence/],
    ["fail/UV but no presence, UV required", { SK_SOFT_NO_PRESENCE: "1", SK_SOFT_VERIFIED: "1" }, true, /presence/],
  ] as const)("%s", async (_name, extra, requireUserVerification, expected) => {
    const k = await newKey();
    const armored = await sign(k, extra);
    const check = () => verifySshSignatureDetails(armored, message, NS, { requireUserVerification });
    if (expected instanceof RegExp) expect(check).toThrow(expected);
    else expect(check().sk).toMatchObject(expected);
  });
});
