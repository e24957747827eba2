import { createHash, createPublicKey, type KeyObject, verify } from "node:crypto";
import { sshString } from "../ca/ssh-wire.js";
import { SshReader } from "./ssh-reader.js";

/**
 * Verification of `ssh-keygen -Y sign` signatures (PROTOCOL.sshsig), done by the daemon itself:
 * plain Ed25519, ECDSA and RSA (rsa-sha2-256/512) keys, and security keys (sk-ssh-ed25519,
 * sk-ecdsa-sha2-nistp256, PROTOCOL.u2f) with user presence required and, when asked, user
 * verification.
 */

const MAGIC = Buffer.from("SSHSIG");

export interface SshSignature {
  publicKey: Buffer;
  namespace: string;
  hashAlgorithm: string;
  signature: Buffer;
}

/** Parses the armored "-----BEGIN SSH SIGNATURE-----" block. */
export function parseSshSignature(armored: string): SshSignature {
  const m = /-----BEGIN SSH SIGNATURE-----([\s\S]+?)-----END SSH SIGNATURE-----/.exec(armored);
  if (!m) throw new Error("not an SSH signature (expected -----BEGIN SSH SIGNATURE-----)");
  const blob = Buffer.from(m[1]!.replace(/\s+/g, ""), "base64");
  const r = new SshReader(blob);
  if (!r.bytes(6).equals(MAGIC)) throw new Error("bad SSHSIG magic");
  if (r.uint32() !== 1) throw new Error("unsupported SSHSIG version");
  const publicKey = r.string();
  const namespace = r.text();
  r.string(); // reserved
  const hashAlgorithm = r.text();
  const signature = r.string();
  if (!r.atEnd) throw new Error("trailing bytes after the SSH signature");
  return { publicKey, namespace, hashAlgorithm, signature };
}

/** SHA256:... of an SSH public key blob, as ssh-keygen -l prints it. */
export function blobFingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

const CURVES: Record<string, { crv: string; hash: string; size: number }> = {
  nistp256: { crv: "P-256", hash: "sha256", size: 32 },
  nistp384: { crv: "P-384", hash: "sha384", size: 48 },
  nistp521: { crv: "P-521", hash: "sha512", size: 66 },
};

const b64url = (b: Buffer) => b.toString("base64url");
const ed25519Key = (pk: Buffer) =>
  createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64url(pk) }, format: "jwk" });
function ecKey(curve: string, q: Buffer): KeyObject {
  const c = CURVES[curve];
  if (!c || q[0] !== 4) throw new Error(`unsupported EC point on ${curve}`);
  const half = (q.length - 1) / 2;
  return createPublicKey({
    key: { kty: "EC", crv: c.crv, x: b64url(q.subarray(1, 1 + half)), y: b64url(q.subarray(1 + half)) },
    format: "jwk",
  });
}
/** (mpint r, mpint s) -> fixed-width r||s for dsaEncoding "ieee-p1363". */
function p1363(inner: Buffer, size: number): Buffer {
  const r = new SshReader(inner);
  const fix = (b: Buffer) => {
    let x = b;
    while (x.length > size && x[0] === 0) x = x.subarray(1);
    if (x.length > size) throw new Error("ECDSA component too large");
    return Buffer.concat([Buffer.alloc(size - x.length), x]);
  };
  return Buffer.concat([fix(r.string()), fix(r.string())]);
}

/**
 * What a security key reported with its signature (PROTOCOL.u2f "SSH U2F signatures": the
 * flags byte and counter it signed, as in CTAP2 authenticator data).
 */
export interface SkSignatureInfo {
  /** The flags byte as signed. */
  flags: number;
  /** Flag 0x01: the user touched the key. */
  userPresent: boolean;
  /** Flag 0x04: the key verified the user itself (PIN or biometric). */
  userVerified: boolean;
  /** The key's signature counter (uint32). */
  counter: number;
}

export interface VerifiedSshSignature {
  /** The signing key's blob (the caller checks it is registered). */
  publicKey: Buffer;
  /** Present for security-key (sk-*) signatures only. */
  sk?: SkSignatureInfo;
}

export interface VerifySshSignatureOptions {
  /**
   * Refuse signatures without user verification (flag 0x04), as sshd's `verify-required`
   * (sshd_config(5) PubkeyAuthOptions, authorized_keys(5)) does. Only a security key can
   * verify the user, so plain keys are refused too.
   */
  requireUserVerification?: boolean;
}

/** PROTOCOL.u2f / CTAP2 authenticator-data flag bits. */
const SK_USER_PRESENT = 0x01;
const SK_USER_VERIFIED = 0x04;

/**
 * Checks that `armored` is a signature of `message` in `namespace` by the key whose blob it
 * carries. Returns that key's blob (the caller checks it is registered); throws with a reason.
 * Security-key signatures must show user presence.
 */
export function verifySshSignature(armored: string, message: Buffer, namespace: string): Buffer {
  return verifySshSignatureDetails(armored, message, namespace).publicKey;
}

/**
 * verifySshSignature, also returning what a security key reported (presence, verification,
 * counter) and, with `requireUserVerification`, refusing signatures without user verification.
 * The flags are checked only once the signature that covers them has verified.
 */
export function verifySshSignatureDetails(
  armored: string,
  message: Buffer,
  namespace: string,
  options: VerifySshSignatureOptions = {},
): VerifiedSshSignature {
  const sig = parseSshSignature(armored);
  if (sig.namespace !== namespace) throw new Error(`signature is for namespace "${sig.namespace}", not "${namespace}"`);
  if (sig.hashAlgorithm !== "sha256" && sig.hashAlgorithm !== "sha512")
    throw new Error(`unsupported hash ${sig.hashAlgorithm}`);
  const signed = Buffer.concat([
    MAGIC,
    sshString(namespace),
    sshString(Buffer.alloc(0)),
    sshString(sig.hashAlgorithm),
    sshString(createHash(sig.hashAlgorithm).update(message).digest()),
  ]);
  const key = new SshReader(sig.publicKey);
  const keyType = key.text();
  const s = new SshReader(sig.signature);
  const sigType = s.text();
  const raw = s.string();
  let ok: boolean;
  let sk: SkSignatureInfo | undefined;
  switch (keyType) {
    case "ssh-ed25519":
      ok = sigType === "ssh-ed25519" && verify(null, signed, ed25519Key(key.string()), raw);
      break;
    case "ecdsa-sha2-nistp256":
    case "ecdsa-sha2-nistp384":
    case "ecdsa-sha2-nistp521": {
      const curve = key.text();
      const c = CURVES[curve]!;
      ok =
        sigType === keyType &&
        verify(c.hash, signed, { key: ecKey(curve, key.string()), dsaEncoding: "ieee-p1363" }, p1363(raw, c.size));
      break;
    }
    case "ssh-rsa": {
      // RFC 8332 names; "ssh-rsa" (SHA-1) signatures are not accepted.
      const hash = sigType === "rsa-sha2-512" ? "sha512" : sigType === "rsa-sha2-256" ? "sha256" : undefined;
      const e = key.string();
      const n = key.string();
      const rsa = createPublicKey({ key: { kty: "RSA", e: b64url(strip(e)), n: b64url(strip(n)) }, format: "jwk" });
      if ((rsa.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
        throw new Error("RSA keys under 2048 bits are not accepted");
      ok = hash !== undefined && verify(hash, signed, rsa, raw);
      break;
    }
    case "sk-ssh-ed25519@openssh.com":
    case "sk-ecdsa-sha2-nistp256@openssh.com": {
      // PROTOCOL.u2f: the authenticator signs SHA256(application) || flags || counter || SHA256(data).
      const ed = keyType.startsWith("sk-ssh-ed25519");
      const curve = ed ? "" : key.text();
      const pk = key.string();
      const application = key.string();
      const flags = s.byte();
      const counter = s.bytes(4);
      sk = {
        flags,
        userPresent: (flags & SK_USER_PRESENT) !== 0,
        userVerified: (flags & SK_USER_VERIFIED) !== 0,
        counter: counter.readUInt32BE(0),
      };
      const toSign = Buffer.concat([
        createHash("sha256").update(application).digest(),
        Buffer.from([flags]),
        counter,
        createHash("sha256").update(signed).digest(),
      ]);
      ok =
        sigType === keyType &&
        (ed
          ? verify(null, toSign, ed25519Key(pk), raw)
          : verify("sha256", toSign, { key: ecKey(curve, pk), dsaEncoding: "ieee-p1363" }, p1363(raw, 32)));
      break;
    }
    default:
      throw new Error(`unsupported key type ${keyType}`);
  }
  if (!ok) throw new Error("the signature does not verify");
  if (sk && !sk.userPresent) throw new Error("the security key did not confirm user presence");
  if (options.requireUserVerification) {
    if (!sk)
      throw new Error(
        `this role requires a security key that verifies the user (PIN or biometric); a ${keyType} key cannot`,
      );
    if (!sk.userVerified)
      throw new Error("the security key did not verify the user (PIN or biometric), which this role requires");
  }
  return sk ? { publicKey: sig.publicKey, sk } : { publicKey: sig.publicKey };
}

function strip(b: Buffer): Buffer {
  let x = b;
  while (x.length > 1 && x[0] === 0) x = x.subarray(1);
  return x;
}
