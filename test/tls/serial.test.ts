import { generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { createSecureContext } from "node:tls";
import forge from "node-forge";
import { expect, test } from "vitest";
import { certificateSerial } from "../../src/tls/serial.js";

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
const forgeKey = forge.pki.privateKeyFromPem(keyPem);
const forgePub = forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }) as string);

function certWithSerial(serial: string): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePub;
  cert.serialNumber = serial;
  cert.validity.notBefore = new Date();
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: "commonName", value: "serial test" }]);
  cert.setIssuer([{ name: "commonName", value: "serial test" }]);
  cert.sign(forgeKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** Random draws chosen at the edges of the DER INTEGER encoding (X.690 8.3.2: minimal octets). */
const edges = [
  Buffer.alloc(16, 0x00),
  Buffer.concat([Buffer.from([0x00, 0x00, 0x7f]), Buffer.alloc(13, 0x11)]),
  Buffer.concat([Buffer.from([0x00, 0x00, 0x00, 0x01]), Buffer.alloc(12, 0x22)]),
  Buffer.concat([Buffer.from([0x00, 0x80]), Buffer.alloc(14, 0x33)]),
  Buffer.concat([Buffer.from([0x0f, 0x00]), Buffer.alloc(14, 0x44)]),
  Buffer.alloc(16, 0xff),
  Buffer.concat([Buffer.from([0x80]), Buffer.alloc(15, 0x00)]),
];

// Regression: node-forge strips one redundant leading zero octet from an INTEGER, not all of
// them, so a serial drawn with two leading zero octets (about 1 in 8,192) made a certificate
// OpenSSL refuses ("asn1 encoding routines::illegal padding"): sshcad failed to start on a new
// data directory, and did so once in CI.
test.each(edges.map((b) => [b.toString("hex").slice(0, 8), b] as const))(
  "a serial from random bytes %s… makes a certificate OpenSSL loads, positive and at most 20 octets",
  (_, random) => {
    const pem = certWithSerial(certificateSerial(random));
    const x = new X509Certificate(pem);
    expect(() => createSecureContext({ key: keyPem, cert: pem })).not.toThrow();
    // RFC 5280 4.1.2.2: positive, at most 20 octets; and enough of the draw is kept to be
    // unpredictable (CA/Browser Forum baseline: at least 64 bits from a CSPRNG).
    expect(x.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/);
    expect(BigInt(`0x${x.serialNumber}`)).toBeGreaterThan(0n);
  },
);

test("serials differ with the random bytes they come from", () => {
  const seen = new Set(Array.from({ length: 1000 }, () => certificateSerial(randomBytes(16))));
  expect(seen.size).toBe(1000);
});
