import { generateKeyPairSync, sign } from "node:crypto";
import sshpk from "sshpk";
import { loadCaKey } from "../src/ca/ca-key.js";
import { randomSerial } from "../src/ca/serial.js";
import { signCertificate } from "../src/ca/sign.js";
import { median } from "./lib.js";

/** Operations per second of `fn`, run for about `ms` milliseconds. */
function rate(fn: () => void, ms: number): number {
  for (let i = 0; i < 200; i++) fn(); // warm up
  let n = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  while (process.hrtime.bigint() - start < limit) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
  }
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Operations per second of the async `fn`, run one after another for about `ms` milliseconds. */
async function rateAsync(fn: () => Promise<unknown>, ms: number): Promise<number> {
  for (let i = 0; i < 200; i++) await fn(); // warm up
  let n = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  while (process.hrtime.bigint() - start < limit) {
    for (let i = 0; i < 50; i++) await fn();
    n += 50;
  }
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Certificates/s of the whole signing path against raw node:crypto Ed25519 signatures/s. */
export async function signingBench(rounds = 5, ms = 1500) {
  const { privateKey } = generateKeyPairSync("ed25519");
  const ca = loadCaKey(
    sshpk.parsePrivateKey(privateKey.export({ type: "pkcs8", format: "pem" }) as string, "pkcs8").toString("ssh"),
  );
  const subjectKey = sshpk.parseKey(
    generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }),
    "pem",
  );
  const raw = Buffer.alloc(300, 7);
  const certs: number[] = [];
  const sigs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Interleaved, so both see the same machine state.
    sigs.push(rate(() => sign(null, raw, privateKey), ms));
    certs.push(
      await rateAsync(() => {
        const now = Date.now();
        return signCertificate(
          {
            subjectKey,
            serial: randomSerial((n) => Buffer.alloc(n, 1)).bytes,
            keyId: "req=rq_bench;user=alice;role=debug;approvers=bob",
            principals: ["debug@web-1"],
            validAfter: new Date(now - 60_000),
            validBefore: new Date(now + 900_000),
            criticalOptions: {},
            extensions: ["permit-pty"],
          },
          ca,
        );
      }, ms),
    );
  }
  const ratios = certs.map((c, i) => c / sigs[i]!);
  return { certsPerSecond: median(certs), signaturesPerSecond: median(sigs), ratio: median(ratios) };
}
