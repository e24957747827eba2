import { createHash, createPublicKey, type KeyObject, verify } from "node:crypto";
import sshpk from "sshpk";

/**
 * Reads an OpenSSH certificate (PROTOCOL.certkeys) with its own wire parser and checks the CA
 * signature with node:crypto, independently of the library that built it. sshpk's
 * isSignedByKey only compares fingerprints, so it is not used for this.
 */
export interface ParsedCert {
  certType: string;
  serial: bigint;
  type: number;
  keyId: string;
  principals: string[];
  validAfter: Date;
  validBefore: Date;
  criticalOptions: Record<string, string>;
  extensions: string[];
  /** SHA256:... of the certified (subject) public key. */
  subjectFingerprint: string;
  /** The CA key blob (RFC 4253 public key encoding). */
  signatureKey: Buffer;
  signedBytes: Buffer;
  signature: Buffer;
}

class Reader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}
  get offset() {
    return this.off;
  }
  get atEnd() {
    return this.off === this.buf.length;
  }
  uint32(): number {
    if (this.off + 4 > this.buf.length) throw new Error("certificate is truncated");
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  uint64(): bigint {
    if (this.off + 8 > this.buf.length) throw new Error("certificate is truncated");
    const v = this.buf.readBigUInt64BE(this.off);
    this.off += 8;
    return v;
  }
  string(): Buffer {
    const len = this.uint32();
    if (this.off + len > this.buf.length) throw new Error("certificate is truncated");
    const v = this.buf.subarray(this.off, this.off + len);
    this.off += len;
    return v;
  }
}

const KEY_PARTS: Record<string, number> = {
  "ssh-ed25519-cert-v01@openssh.com": 1,
  "ecdsa-sha2-nistp256-cert-v01@openssh.com": 2,
  "ecdsa-sha2-nistp384-cert-v01@openssh.com": 2,
  "ecdsa-sha2-nistp521-cert-v01@openssh.com": 2,
  "ssh-rsa-cert-v01@openssh.com": 2,
};

export function parseCertificate(line: string): ParsedCert {
  const [typeName, b64] = line.trim().split(/\s+/);
  const parts = typeName ? KEY_PARTS[typeName] : undefined;
  if (!typeName || !b64 || parts === undefined) throw new Error("not an OpenSSH user certificate line");
  const blob = Buffer.from(b64, "base64");
  const r = new Reader(blob);
  if (r.string().toString() !== typeName) throw new Error("certificate type mismatch");
  r.string(); // nonce
  const keyStart = r.offset;
  for (let i = 0; i < parts; i++) r.string();
  const keyParts = blob.subarray(keyStart, r.offset);
  const serial = r.uint64();
  const type = r.uint32();
  const keyId = r.string().toString("utf8");
  const principals = readList(r.string()).map((b) => b.toString("utf8"));
  const validAfter = new Date(Number(r.uint64()) * 1000);
  const vb = r.uint64();
  const validBefore = vb >= 0xffffffffffffffffn ? new Date(8.64e15) : new Date(Number(vb) * 1000);
  const criticalOptions = Object.fromEntries(
    readPairs(r.string()).map(([k, v]) => [k, v.length ? new Reader(v).string().toString("utf8") : ""]),
  );
  const extensions = readPairs(r.string()).map(([k]) => k);
  r.string(); // reserved
  const signatureKey = r.string();
  const signedBytes = blob.subarray(0, r.offset);
  const signature = r.string();
  if (!r.atEnd) throw new Error("trailing bytes after the certificate signature");
  // The subject key as a plain public key blob: its type name followed by the same parts.
  const plainType = typeName.replace("-cert-v01@openssh.com", "");
  const subjectBlob = Buffer.concat([sshString(Buffer.from(plainType)), keyParts]);
  return {
    certType: typeName,
    serial,
    type,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    extensions,
    subjectFingerprint: `SHA256:${createHash("sha256").update(subjectBlob).digest("base64").replace(/=+$/, "")}`,
    signatureKey,
    signedBytes,
    signature,
  };
}

/** True when the certificate is signed by `caPublicKeyLine` ("ssh-ed25519 AAAA..."). */
export function isSignedBy(cert: ParsedCert, caPublicKeyLine: string): boolean {
  const caBlob = Buffer.from(caPublicKeyLine.trim().split(/\s+/)[1] ?? "", "base64");
  if (!caBlob.equals(cert.signatureKey)) return false;
  const sig = new Reader(cert.signature);
  const alg = sig.string().toString();
  const raw = sig.string();
  const key: KeyObject = createPublicKey(sshpk.parseKey(caPublicKeyLine, "ssh").toString("pkcs8"));
  switch (alg) {
    case "ssh-ed25519":
      return verify(null, cert.signedBytes, key, raw);
    case "rsa-sha2-256":
      return verify("sha256", cert.signedBytes, key, raw);
    case "rsa-sha2-512":
      return verify("sha512", cert.signedBytes, key, raw);
    case "ecdsa-sha2-nistp256":
    case "ecdsa-sha2-nistp384":
    case "ecdsa-sha2-nistp521": {
      const size = alg.endsWith("521") ? 66 : alg.endsWith("384") ? 48 : 32;
      const hash = alg.endsWith("521") ? "sha512" : alg.endsWith("384") ? "sha384" : "sha256";
      const inner = new Reader(raw);
      const rs = Buffer.concat([fixed(inner.string(), size), fixed(inner.string(), size)]);
      return verify(hash, cert.signedBytes, { key, dsaEncoding: "ieee-p1363" }, rs);
    }
    default:
      return false; // ssh-rsa (SHA-1) and anything unknown are not acceptable
  }
}

function readList(buf: Buffer): Buffer[] {
  const r = new Reader(buf);
  const out: Buffer[] = [];
  while (!r.atEnd) out.push(r.string());
  return out;
}

function readPairs(buf: Buffer): [string, Buffer][] {
  const r = new Reader(buf);
  const out: [string, Buffer][] = [];
  while (!r.atEnd) out.push([r.string().toString("utf8"), r.string()]);
  return out;
}

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** An mpint as a fixed-size unsigned big-endian integer. */
function fixed(mpint: Buffer, size: number): Buffer {
  let b = mpint;
  while (b.length > size && b[0] === 0) b = b.subarray(1);
  if (b.length > size) throw new Error("ECDSA signature component too large");
  return Buffer.concat([Buffer.alloc(size - b.length), b]);
}
