import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import sshpk from "sshpk";
import { expect, test } from "vitest";
import { loadCaKey } from "../../src/ca/ca-key.js";
import { buildKrl } from "../../src/ca/krl.js";
import { KrlService } from "../../src/ca/krl-service.js";
import { tempDir } from "../helpers/tmp.js";

test("concurrent KRL rebuilds never leave an older list on disk than the last one asked for", async () => {
  const { privateKey } = generateKeyPairSync("ed25519");
  const ca = loadCaKey(
    sshpk.parsePrivateKey(privateKey.export({ type: "pkcs8", format: "pem" }) as string, "pkcs8").toString("ssh"),
  );
  const path = join(tempDir("krl"), "revoked.krl");
  let serials: bigint[] = [];
  const now = new Date();
  const caKeyBlob = ca.publicKey.toBuffer("rfc4253");
  const krl = new KrlService({
    content: () => ({ sections: [{ caKeyBlob, serials }], revokedKeys: [] }),
    paths: [path],
    now: () => now,
    log: pino({ level: "silent" }),
  });
  const runs: Promise<void>[] = [];
  for (let i = 1n; i <= 50n; i++) {
    serials = [...serials, i];
    runs.push(krl.rebuild());
  }
  await Promise.all(runs);
  const want = buildKrl({
    sections: [{ caKeyBlob, serials }],
    revokedKeys: [],
    version: BigInt(now.getTime()),
    generatedAt: now,
  });
  expect(readFileSync(path).equals(want)).toBe(true);
});
