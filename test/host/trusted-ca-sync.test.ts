import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sshpk from "sshpk";
import { describe, expect, test } from "vitest";
import { syncTrustedCaKeys } from "../../cli/host/sync.js";
import type { CaKeyView } from "../../src/http/contract.js";
import { tempDir } from "../helpers/tmp.js";

const line = () =>
  sshpk
    .parseKey(generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }), "pem")
    .toString("ssh")
    .split(" ")
    .slice(0, 2)
    .join(" ");
const key = (status: CaKeyView["status"], publicKey = line()) =>
  ({ publicKey, status, fingerprint: "SHA256:x" }) as unknown as CaKeyView;

describe("the companion's TrustedUserCAKeys sync", () => {
  test("ok/writes every key of the phase, signing key first, then leaves an equal file alone", async () => {
    const path = join(tempDir("trusted"), "trusted_user_ca_keys");
    const cur = key("current");
    const next = key("next");
    expect(await syncTrustedCaKeys(path, { keys: [cur, next] })).toBe(true);
    expect(readFileSync(path, "utf8")).toBe(`${cur.publicKey} sshca-user-ca\n${next.publicKey} sshca-user-ca-next\n`);
    expect(await syncTrustedCaKeys(path, { keys: [cur, next] })).toBe(false);
  });

  test.each([
    { name: "no keys at all", keys: () => [] },
    { name: "no signing key", keys: () => [key("next")] },
    { name: "a line that is not a key", keys: () => [key("current"), key("next", "ssh-ed25519 AAAA\ncommand=x")] },
    { name: "garbage base64", keys: () => [key("current", "ssh-ed25519 AAAAnotakey")] },
  ])("fail/$name: the old file stays", async ({ keys }) => {
    const path = join(tempDir("trusted"), "trusted_user_ca_keys");
    writeFileSync(path, "old\n");
    await expect(syncTrustedCaKeys(path, { keys: keys() })).rejects.toThrow(/left as it was/);
    expect(readFileSync(path, "utf8")).toBe("old\n");
  });
});
