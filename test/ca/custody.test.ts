import { chmodSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { createCaKeyIfMissing, createRotationKey, readCaKey } from "../../src/ca/custody.js";
import { run } from "../helpers/procs.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

describe("CA key files", () => {
  test("a rotation key: 0600 in a 0700 directory, named by its fingerprint, never over an existing file", async () => {
    const dir = join(tempDir("cakeys"), "ca");
    const a = await createRotationKey(dir, "ca_key", "ed25519", "sshca user CA");
    const b = await createRotationKey(dir, "ca_key", "ed25519", "sshca user CA");
    expect(a.file).toMatch(/^ca_key-[0-9a-f]{12}$/);
    expect(b.file).not.toBe(a.file);
    expect(statSync(a.path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(`${a.path}.pub`).mode & 0o777).toBe(0o644);
    const signer = await readCaKey(a.path);
    expect(readFileSync(`${a.path}.pub`, "utf8")).toContain(signer.publicKeyLine);
    // The existing key is left alone when asked to create one where it is.
    const before = readFileSync(a.path);
    expect(await createCaKeyIfMissing(a.path, "ed25519")).toBe(false);
    expect(readFileSync(a.path).equals(before)).toBe(true);
  });

  test("with a CA passphrase a rotation key is encrypted like ssh-keygen -N would (ssh-keygen reads it with it)", async () => {
    const dir = join(tempDir("cakeys"), "ca");
    const k = await createRotationKey(dir, "ca_key", "ed25519", "sshca user CA", "correct horse");
    await expect(readCaKey(k.path)).rejects.toThrow(/encrypted/);
    const signer = await readCaKey(k.path, "correct horse");
    const y = await run(tool("ssh-keygen"), ["-y", "-P", "correct horse", "-f", k.path]);
    expect(y.code, y.stderr).toBe(0);
    expect(y.stdout.trim().split(" ").slice(0, 2).join(" ")).toBe(signer.publicKeyLine);
    expect((await run(tool("ssh-keygen"), ["-y", "-P", "wrong", "-f", k.path])).code).not.toBe(0);
  });

  test("a key file group or others can read is refused", async () => {
    const dir = join(tempDir("cakeys"), "ca");
    const k = await createRotationKey(dir, "ca_key", "ed25519", "x");
    chmodSync(k.path, 0o640);
    await expect(readCaKey(k.path)).rejects.toThrow(/accessible by group or others/);
  });
});
