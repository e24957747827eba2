import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { SshReader } from "./ssh-wire.js";

/**
 * Verification of a plain SSH signature blob (RFC 4253 6.6: string algorithm, string signature)
 * against a public key blob, with node:crypto. Used on what an ssh-agent hands back before it
 * goes into a certificate: a signature by another key, or one with SHA-1 ("ssh-rsa", which
 * OpenSSH >= 8.2 refuses), never reaches a client.
 */

const CURVES: Record<string, { crv: string; hash: string; size: number }> = {
  nistp256: { crv: "P-256", hash: "sha256", size: 32 },
  nistp384: { crv: "P-384", hash: "sha384", size: 48 },
  nistp521: { crv: "P-521", hash: "sha512", size: 66 },
};

const b64url = (b: Buffer) => b.toString("base64url");

function strip(b: Buffer): Buffer {
  let x = b;
  while (x.length > 1 && x[0] === 0) x = x.subarray(1);
  return x;
}

/** (mpint r, mpint s) -> fixed-width r||s for dsaEncoding "ieee-p1363" (RFC 5656 3.1.2). */
function p1363(inner: Buffer, size: number): Buffer {
  const r = new SshReader(inner);
  const fix = (b: Buffer) => {
    const x = strip(b);
    if (x.length > size) throw new Error("ECDSA component too large");
    return Buffer.concat([Buffer.alloc(size - x.length), x]);
  };
  return Buffer.concat([fix(r.string()), fix(r.string())]);
}

/** The node:crypto key of an SSH public key blob (Ed25519, ECDSA, RSA). */
export function keyObjectOf(keyBlob: Buffer): { type: string; key: KeyObject; curve?: string } {
  const r = new SshReader(keyBlob);
  const type = r.text();
  switch (type) {
    case "ssh-ed25519":
      return {
        type,
        key: createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64url(r.string()) }, format: "jwk" }),
      };
    case "ecdsa-sha2-nistp256":
    case "ecdsa-sha2-nistp384":
    case "ecdsa-sha2-nistp521": {
      const curve = r.text();
      const c = CURVES[curve];
      const q = r.string();
      if (!c || q[0] !== 4 || `ecdsa-sha2-${curve}` !== type) throw new Error(`unsupported EC key ${type}`);
      const half = (q.length - 1) / 2;
      const key = createPublicKey({
        key: { kty: "EC", crv: c.crv, x: b64url(q.subarray(1, 1 + half)), y: b64url(q.subarray(1 + half)) },
        format: "jwk",
      });
      return { type, key, curve };
    }
    case "ssh-rsa": {
      const e = r.string();
      const n = r.string();
      return {
        type,
        key: createPublicKey({ key: { kty: "RSA", e: b64url(strip(e)), n: b64url(strip(n)) }, format: "jwk" }),
      };
    }
    default:
      throw new Error(`unsupported key type ${type}`);
  }
}

/**
 * True when `signature` (an SSH signature blob) is a signature over `data` by the key `keyBlob`
 * with one of the algorithms OpenSSH accepts for certificates; `ssh-rsa` (SHA-1) never is.
 */
export function verifySignatureBlob(keyBlob: Buffer, data: Buffer, signature: Buffer): boolean {
  try {
    const { type, key, curve } = keyObjectOf(keyBlob);
    const s = new SshReader(signature);
    const alg = s.text();
    const raw = s.string();
    if (!s.atEnd) return false;
    switch (type) {
      case "ssh-ed25519":
        return alg === type && verify(null, data, key, raw);
      case "ssh-rsa": {
        // RFC 8332: rsa-sha2-256 and rsa-sha2-512 are signature algorithms of an ssh-rsa key.
        const hash = alg === "rsa-sha2-512" ? "sha512" : alg === "rsa-sha2-256" ? "sha256" : undefined;
        return hash !== undefined && verify(hash, data, key, raw);
      }
      default: {
        const c = CURVES[curve ?? ""]!;
        return alg === type && verify(c.hash, data, { key, dsaEncoding: "ieee-p1363" }, p1363(raw, c.size));
      }
    }
  } catch {
    return false;
  }
}
