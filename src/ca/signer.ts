import sshpk from "sshpk";
import { SshcaError } from "../errors.js";

/**
 * The one signer interface: whatever holds a CA private key and signs with it — a key file
 * sshcad reads (ca-key.ts), or an ssh-agent that holds the key, possibly in a PKCS#11 token
 * behind it (agent-signer.ts), so that the daemon never sees the key.
 */
export interface CaSigner {
  readonly publicKey: sshpk.Key;
  /** "ssh-ed25519 AAAA..." without comment (a TrustedUserCAKeys line). */
  readonly publicKeyLine: string;
  /** SHA256:... as ssh-keygen -l prints it. */
  readonly fingerprint: string;
  /** The SSH signature algorithm this CA signs with (never "ssh-rsa", i.e. SHA-1). */
  readonly signatureAlgorithm: string;
  /** Where the private key is. */
  readonly custody: "file" | "agent";
  /** The RFC 4253 / RFC 5656 / RFC 8332 signature blob over `data` (the to-be-signed certificate). */
  sign(data: Buffer): Promise<Buffer>;
}

/** The public parts every CA key is known by, in the forms the rest of sshcad uses. */
export interface CaPublicKey {
  publicKey: sshpk.Key;
  publicKeyLine: string;
  fingerprint: string;
}

/** "ssh-ed25519 AAAA..." (no comment) and SHA256 fingerprint of a public key. */
export function describeKey(publicKey: sshpk.Key): CaPublicKey {
  return {
    publicKey,
    publicKeyLine: publicKey.toString("ssh").split(" ").slice(0, 2).join(" "),
    fingerprint: publicKey.fingerprint("sha256").toString(),
  };
}

/** Parses one public key line ("type base64 [comment]"), as a CA key (no certificates). */
export function parseCaPublicKey(line: string): CaPublicKey {
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(line.trim(), "ssh");
  } catch (err) {
    throw new SshcaError("config_invalid", `not an OpenSSH public key: ${(err as Error).message}`);
  }
  signatureAlgorithmFor(key);
  return describeKey(key);
}

/**
 * The signature algorithm a CA key signs certificates with; refuses DSA and small RSA.
 * RSA signs with rsa-sha2-512 (RFC 8332): sshpk and plain agents default to SHA-1
 * ("ssh-rsa"), which OpenSSH >= 8.2 rejects.
 */
export function signatureAlgorithmFor(key: sshpk.Key): string {
  switch (key.type) {
    case "ed25519":
      return "ssh-ed25519";
    case "ecdsa": {
      const curve = key.curve ?? "";
      if (!["nistp256", "nistp384", "nistp521"].includes(curve))
        throw new SshcaError("config_invalid", `unsupported ECDSA curve ${curve}`);
      return `ecdsa-sha2-${curve}`;
    }
    case "rsa":
      if (key.size < 3072) {
        throw new SshcaError("config_invalid", `an RSA CA key needs at least 3072 bits (this one has ${key.size})`);
      }
      return "rsa-sha2-512";
    default:
      throw new SshcaError(
        "config_invalid",
        `a ${key.type.toUpperCase()} CA key is not supported; use Ed25519 or ECDSA`,
      );
  }
}
