import { generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import forge from "node-forge";
import { SshcaError } from "../errors.js";
import { fsyncDir } from "../files/fsync-dir.js";
import { certFingerprint } from "./fingerprint.js";
import { certificateSerial } from "./serial.js";

/** What the HTTPS server needs, plus the CA fingerprint clients pin. */
export interface TlsMaterial {
  key: string;
  /** Server certificate followed by the CA certificate. */
  chain: string;
  caPem: string;
  fingerprint: string;
  created: { ca: boolean; server: boolean };
}

const CA_YEARS = 10;
const SERVER_DAYS = 397;
const RENEW_DAYS = 30;

interface KeyPair {
  pem: string;
  forgePrivate: forge.pki.rsa.PrivateKey;
  forgePublic: forge.pki.rsa.PublicKey;
}

/** RSA keys come from node:crypto (native, fast); node-forge only builds and signs the X.509. */
function rsaKeys(bits: number): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: bits });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  return {
    pem,
    forgePrivate: forge.pki.privateKeyFromPem(pem),
    forgePublic: forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }) as string),
  };
}

const serial = () => certificateSerial(randomBytes(16));

function caCertificate(keys: KeyPair, now: Date): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.forgePublic;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + CA_YEARS * 365 * 86400_000);
  const name = [
    { name: "commonName", value: "sshca TLS CA" },
    { name: "organizationName", value: "sshca" },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  // node-forge signs with SHA-1 unless told otherwise; OpenSSL 3 refuses SHA-1 CAs.
  cert.sign(keys.forgePrivate, forge.md.sha256.create());
  return cert;
}

function serverCertificate(
  keys: KeyPair,
  ca: forge.pki.Certificate,
  caKey: forge.pki.rsa.PrivateKey,
  sans: string[],
  now: Date,
) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.forgePublic;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + SERVER_DAYS * 86400_000);
  cert.setSubject([{ name: "commonName", value: sans[0] ?? "localhost" }]);
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: sans.map((s) => (isIP(s) ? { type: 7, ip: s } : { type: 2, value: s })),
    },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return cert;
}

/** Writes a file atomically with the given mode (keys 0600 whatever the umask). */
async function put(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function read(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** The SANs a server certificate has (DNS names and IPs). */
function sansOf(pem: string): string[] {
  const x = new X509Certificate(pem);
  return (x.subjectAltName ?? "")
    .split(", ")
    .map((s) => s.replace(/^(DNS|IP Address):/, ""))
    .filter(Boolean);
}

async function loadOrCreateCa(certPath: string, keyPath: string, now: Date, created: { ca: boolean }) {
  const pem = await read(certPath);
  const keyPem = await read(keyPath);
  if (pem !== undefined && keyPem !== undefined) return { pem, keyPem };
  if (pem !== undefined || keyPem !== undefined) {
    throw new SshcaError("config_invalid", `the TLS CA is incomplete (${certPath} and ${keyPath} belong together)`);
  }
  const keys = rsaKeys(3072);
  const caPem = forge.pki.certificateToPem(caCertificate(keys, now));
  await put(keyPath, keys.pem, 0o600);
  await put(certPath, caPem, 0o644);
  created.ca = true;
  return { pem: caPem, keyPem: keys.pem };
}

/**
 * The TLS CA and server certificate in `dir` (0700): created when missing, the server
 * certificate re-issued when it nears expiry or the configured names changed. The CA is never
 * replaced, so clients' pins stay valid.
 */
export async function ensureTlsMaterial(dir: string, sans: string[], now: Date): Promise<TlsMaterial> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const paths = {
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    cert: join(dir, "server.crt"),
    key: join(dir, "server.key"),
  };
  const created = { ca: false, server: false };
  const ca = await loadOrCreateCa(paths.caCert, paths.caKey, now, created);
  let certPem = await read(paths.cert);
  let keyPem = await read(paths.key);
  const stale =
    certPem === undefined ||
    keyPem === undefined ||
    created.ca ||
    Date.parse(new X509Certificate(certPem).validTo) - now.getTime() < RENEW_DAYS * 86400_000 ||
    sansOf(certPem).sort().join(",") !== [...sans].sort().join(",");
  if (stale || certPem === undefined || keyPem === undefined) {
    const keys = rsaKeys(2048);
    keyPem = keys.pem;
    const caCert = forge.pki.certificateFromPem(ca.pem);
    certPem = forge.pki.certificateToPem(
      serverCertificate(keys, caCert, forge.pki.privateKeyFromPem(ca.keyPem), sans, now),
    );
    await put(paths.key, keyPem, 0o600);
    await put(paths.cert, certPem, 0o644);
    created.server = true;
  }
  if (created.ca || created.server) await fsyncDir(dir);
  return {
    key: keyPem,
    chain: `${certPem.trim()}\n${ca.pem.trim()}\n`,
    caPem: ca.pem,
    fingerprint: certFingerprint(new X509Certificate(ca.pem).raw),
    created,
  };
}
