/**
 * Throwaway TLS material for the test identity providers: a CA (the trust anchor a relying party
 * is given as `caFile`) and a server certificate for 127.0.0.1 and localhost signed by it.
 * Run by plain `node` (type stripping), so imports between test/idp files end in `.ts`.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import forge from "node-forge";
import { certificateSerial } from "../../src/tls/serial.ts";

export interface TestTls {
  /** The CA certificate (PEM file): the only thing a client should trust. */
  caFile: string;
  /** PEM: server certificate followed by the CA certificate. */
  chain: string;
  /** PEM: the server's private key. */
  key: string;
}

const DAY = 86_400_000;

function rsa(): { pem: string; priv: forge.pki.rsa.PrivateKey; pub: forge.pki.rsa.PublicKey } {
  // node:crypto makes the key (native, fast); node-forge only builds and signs the X.509.
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  return {
    pem,
    priv: forge.pki.privateKeyFromPem(pem),
    pub: forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }) as string),
  };
}

const serial = () => certificateSerial(randomBytes(16));

function certificate(
  pub: forge.pki.rsa.PublicKey,
  subject: forge.pki.CertificateField[],
  issuer: forge.pki.CertificateField[],
  extensions: object[],
  signer: forge.pki.rsa.PrivateKey,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = pub;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 5 * 60_000);
  cert.validity.notAfter = new Date(Date.now() + 30 * DAY);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  cert.setExtensions(extensions);
  // node-forge signs with SHA-1 unless told otherwise, and OpenSSL 3 refuses SHA-1 certificates.
  cert.sign(signer, forge.md.sha256.create());
  return cert;
}

/** Writes ca.crt, server.crt and server.key (0600) into dir and returns what a server needs. */
export function writeTestTls(dir: string): TestTls {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKeys = rsa();
  const caName = [{ name: "commonName", value: `sshca test IdP CA ${randomBytes(4).toString("hex")}` }];
  const ca = certificate(
    caKeys.pub,
    caName,
    caName,
    [
      { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
      { name: "subjectKeyIdentifier" },
    ],
    caKeys.priv,
  );
  const serverKeys = rsa();
  const server = certificate(
    serverKeys.pub,
    [{ name: "commonName", value: "127.0.0.1" }],
    caName,
    [
      { name: "basicConstraints", cA: false, critical: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      // Clients match the URL host against subjectAltName only (RFC 6125 6.4.4).
      {
        name: "subjectAltName",
        altNames: [
          { type: 7, ip: "127.0.0.1" },
          { type: 2, value: "localhost" },
        ],
      },
      { name: "authorityKeyIdentifier", keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
    ],
    caKeys.priv,
  );
  const caPem = forge.pki.certificateToPem(ca);
  const chain = forge.pki.certificateToPem(server) + caPem;
  const caFile = join(dir, "ca.crt");
  writeFileSync(caFile, caPem);
  writeFileSync(join(dir, "server.crt"), chain);
  writeFileSync(join(dir, "server.key"), serverKeys.pem, { mode: 0o600 });
  chmodSync(join(dir, "server.key"), 0o600);
  return { caFile, chain, key: serverKeys.pem };
}
