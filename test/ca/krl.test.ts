import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sshpk from "sshpk";
import { describe, expect, test } from "vitest";
import { isKrl, buildKrl } from "../../src/ca/krl.js";
import { run } from "../helpers/procs.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/** A CA and three certificates signed by ssh-keygen itself, serials 7, 8 and 2^63. */
async function fixture() {
  const dir = tempDir("krl");
  const kg = (args: string[]) => run(tool("ssh-keygen"), args);
  await kg(["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "ca")]);
  const certs: Record<string, string> = {};
  for (const serial of ["7", "8", "9223372036854775808"]) {
    const key = join(dir, `u${serial}`);
    await kg(["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const r = await kg([
      "-q",
      "-s",
      join(dir, "ca"),
      "-I",
      `id-${serial}`,
      "-n",
      "debug@web-1",
      "-z",
      serial,
      "-V",
      "-1m:+1h",
      `${key}.pub`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    certs[serial] = `${key}-cert.pub`;
  }
  const caBlob = sshpk.parseKey(readFileSync(join(dir, "ca.pub"), "utf8"), "ssh").toBuffer("rfc4253");
  return { dir, certs, caBlob };
}

const query = async (krl: string, cert: string) => (await run(tool("ssh-keygen"), ["-Q", "-f", krl, cert])).stdout;

describe("KRL (checked with ssh-keygen -Q)", () => {
  test("revokes exactly the listed serials of this CA", async () => {
    const { dir, certs, caBlob } = await fixture();
    const krl = join(dir, "revoked.krl");
    const bytes = buildKrl({
      sections: [{ caKeyBlob: caBlob, serials: [9223372036854775808n, 7n] }],
      revokedKeys: [],
      version: 1n,
      generatedAt: new Date(),
    });
    expect(isKrl(bytes)).toBe(true);
    writeFileSync(krl, bytes);
    expect(await query(krl, certs["7"]!)).toMatch(/REVOKED/);
    expect(await query(krl, certs["9223372036854775808"]!)).toMatch(/REVOKED/);
    expect(await query(krl, certs["8"]!)).toMatch(/: ok/);
  });

  test("an empty KRL is valid and revokes nothing; another CA's list does not apply", async () => {
    const { dir, certs } = await fixture();
    const other = await fixture();
    const empty = join(dir, "empty.krl");
    writeFileSync(
      empty,
      buildKrl({
        sections: [{ caKeyBlob: other.caBlob, serials: [] }],
        revokedKeys: [],
        version: 2n,
        generatedAt: new Date(),
      }),
    );
    expect(await query(empty, certs["7"]!)).toMatch(/: ok/);
    const foreign = join(dir, "foreign.krl");
    writeFileSync(
      foreign,
      buildKrl({
        sections: [{ caKeyBlob: other.caBlob, serials: [7n] }],
        revokedKeys: [],
        version: 3n,
        generatedAt: new Date(),
      }),
    );
    expect(await query(foreign, certs["7"]!)).toMatch(/: ok/);
  });

  test("isKrl refuses anything else", () => {
    expect(isKrl(Buffer.from("<html>oops</html>"))).toBe(false);
    expect(isKrl(Buffer.alloc(0))).toBe(false);
  });
});

describe("KRL over a CA key rotation (checked with ssh-keygen -Q)", () => {
  test("serials are listed under the key that signed them; a revoked CA key revokes all its certificates", async () => {
    const a = await fixture();
    const b = await fixture();
    const bytes = buildKrl({
      sections: [
        { caKeyBlob: a.caBlob, serials: [7n] },
        { caKeyBlob: b.caBlob, serials: [8n] },
      ],
      revokedKeys: [],
      version: 1n,
      generatedAt: new Date(),
    });
    const krl = join(a.dir, "two.krl");
    writeFileSync(krl, bytes);
    expect(await query(krl, a.certs["7"]!)).toMatch(/REVOKED/);
    expect(await query(krl, a.certs["8"]!)).toMatch(/: ok/);
    expect(await query(krl, b.certs["8"]!)).toMatch(/REVOKED/);
    expect(await query(krl, b.certs["7"]!)).toMatch(/: ok/);

    const retired = join(a.dir, "retired.krl");
    writeFileSync(
      retired,
      buildKrl({
        sections: [{ caKeyBlob: b.caBlob, serials: [8n] }],
        revokedKeys: [a.caBlob],
        version: 2n,
        generatedAt: new Date(),
      }),
    );
    // The revoked CA key itself, and every certificate it signed, listed by serial or not
    // (krl.c ssh_krl_check_key checks a certificate's CA key first, as sshd does).
    expect(await query(retired, join(a.dir, "ca.pub"))).toMatch(/REVOKED/);
    for (const serial of ["7", "8", "9223372036854775808"])
      expect(await query(retired, a.certs[serial]!)).toMatch(/REVOKED/);
    expect(await query(retired, join(b.dir, "ca.pub"))).toMatch(/: ok/);
    expect(await query(retired, b.certs["8"]!)).toMatch(/REVOKED/);
  });
});
