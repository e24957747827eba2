import { createPublicKey } from "node:crypto";
import { fail, SshcaError } from "../errors.js";
import { SshReader } from "./ssh-reader.js";
import { blobFingerprint } from "./sshsig.js";

/** Security-key public key types (PROTOCOL.u2f), which sshpk cannot read. */
export const SK_ED25519 = "sk-ssh-ed25519@openssh.com";
export const SK_ECDSA = "sk-ecdsa-sha2-nistp256@openssh.com";

const malformed = (why: string) => fail.badRequest(`publicKey is malformed (${why})`);

/** An uncompressed NIST P-256 point (SEC1: 0x04 || x || y) that lies on the curve. */
function checkP256Point(q: Buffer): void {
  if (q.length !== 65 || q[0] !== 4) throw malformed("the ECDSA key is not an uncompressed P-256 point");
  try {
    createPublicKey({
      key: {
        kty: "EC",
        crv: "P-256",
        x: q.subarray(1, 33).toString("base64url"),
        y: q.subarray(33).toString("base64url"),
      },
      format: "jwk",
    });
  } catch {
    throw malformed("the ECDSA key is not a point on P-256");
  }
}

/**
 * Parses a security-key public key line. PROTOCOL.u2f gives the blob exactly:
 *   string "sk-ssh-ed25519@openssh.com", string key (32 bytes), string application
 *   string "sk-ecdsa-sha2-nistp256@openssh.com", string "nistp256", string Q, string application
 * Anything else (a missing or truncated field, a wrong size, trailing bytes) is a 400; the blob
 * is read with bounds checks throughout. Returns the line without its comment and the
 * SHA256 fingerprint of the blob.
 */
export function parseSecurityKey(type: string, base64: string): { line: string; fingerprint: string } {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) throw malformed("its key is not base64");
  const blob = Buffer.from(base64, "base64");
  const r = new SshReader(blob);
  try {
    if (r.text() !== type) throw malformed("its type does not match its blob");
    if (type === SK_ECDSA) {
      if (r.text() !== "nistp256") throw malformed("an sk-ecdsa key must be on curve nistp256");
      checkP256Point(r.string());
    } else if (r.string().length !== 32) {
      throw malformed("an Ed25519 key has 32 bytes");
    }
    if (r.string().length === 0) throw malformed("the application is empty");
  } catch (err) {
    if (err instanceof SshcaError) throw err;
    throw malformed("the key is truncated");
  }
  if (!r.atEnd) throw malformed("trailing bytes after the key");
  return { line: `${type} ${base64}`, fingerprint: blobFingerprint(blob) };
}
