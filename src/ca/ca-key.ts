import { createPrivateKey, type KeyObject, sign } from "node:crypto";
import sshpk from "sshpk";
import { SshcaError } from "../errors.js";
import { sshMpint, sshString } from "./ssh-wire.js";

/**
 * A loaded CA key: its public half (for certificates and TrustedUserCAKeys) and a native
 * signer that returns the SSH signature blob over the to-be-signed certificate bytes.
 */
export interface CaKey {
  readonly publicKey: sshpk.Key;
  /** "ssh-ed25519 AAAA..." without comment. */
  readonly publicKeyLine: string;
  /** SHA256:... as ssh-keygen -l prints it. */
  readonly fingerprint: string;
  /** The SSH signature algorithm name this CA signs with. */
  readonly signatureAlgorithm: string;
  /** Signs `data` with node:crypto; returns the RFC 4253 / RFC 5656 / RFC 8332 signature blob. */
  readonly sign: (data: Buffer) => Buffer;
}

const ECDSA_HASH: Record<string, string> = {
  nistp256: "sha256",
  nistp384: "sha384",
  nistp521: "sha512",
};

/** Parses an OpenSSH private key and prepares native signing. Refuses DSA and small RSA. */
export function loadCaKey(pem: string | Buffer, passphrase?: string): CaKey {
  let priv: sshpk.PrivateKey;
  try {
    priv = sshpk.parsePrivateKey(pem, "auto", passphrase === undefined ? {} : { passphrase });
  } catch (err) {
    const encrypted = /encrypted|passphrase/i.test((err as Error).message);
    throw new SshcaError(
      "config_invalid",
      encrypted
        ? "the CA key is encrypted: provide its passphrase (SSHCAD_CA_PASSPHRASE_FILE or the systemd credential ca-passphrase)"
        : `cannot parse the CA key: ${(err as Error).message}`,
    );
  }
  const publicKey = priv.toPublic();
  const keyObject = toKeyObject(priv);
  let signatureAlgorithm: string;
  let signFn: (data: Buffer) => Buffer;
  switch (priv.type) {
    case "ed25519":
      signatureAlgorithm = "ssh-ed25519";
      signFn = (data) => Buffer.concat([sshString(signatureAlgorithm), sshString(sign(null, data, keyObject))]);
      break;
    case "ecdsa": {
      const curve = priv.curve ?? "";
      const hash = ECDSA_HASH[curve];
      if (hash === undefined) throw new SshcaError("config_invalid", `unsupported ECDSA curve ${curve}`);
      signatureAlgorithm = `ecdsa-sha2-${curve}`;
      const half = curve === "nistp521" ? 66 : curve === "nistp384" ? 48 : 32;
      // RFC 5656 3.1.2: the blob holds r and s as mpints. sshpk derives the curve name from
      // the length of r, which is wrong whenever r has leading zero bytes, so encode it here.
      signFn = (data) => {
        const rs = sign(hash, data, { key: keyObject, dsaEncoding: "ieee-p1363" });
        const inner = Buffer.concat([sshMpint(rs.subarray(0, half)), sshMpint(rs.subarray(half))]);
        return Buffer.concat([sshString(signatureAlgorithm), sshString(inner)]);
      };
      break;
    }
    case "rsa":
      if (priv.size < 3072) {
        throw new SshcaError("config_invalid", `an RSA CA key needs at least 3072 bits (this one has ${priv.size})`);
      }
      // sshpk would sign with SHA-1 ("ssh-rsa"), which OpenSSH >= 8.2 rejects. RFC 8332:
      // rsa-sha2-512 is a signature algorithm for the same ssh-rsa key.
      signatureAlgorithm = "rsa-sha2-512";
      signFn = (data) => Buffer.concat([sshString(signatureAlgorithm), sshString(sign("sha512", data, keyObject))]);
      break;
    default:
      throw new SshcaError(
        "config_invalid",
        `a ${priv.type.toUpperCase()} CA key is not supported; use Ed25519 or ECDSA`,
      );
  }
  return {
    publicKey,
    publicKeyLine: publicKey.toString("ssh").split(" ").slice(0, 2).join(" "),
    fingerprint: publicKey.fingerprint("sha256").toString(),
    signatureAlgorithm,
    sign: signFn,
  };
}

/** sshpk PrivateKey -> node:crypto KeyObject (sshpk's PKCS#8 for Ed25519 is not OpenSSL's). */
function toKeyObject(priv: sshpk.PrivateKey): KeyObject {
  if (priv.type === "ed25519") {
    // sshpk's typings do not describe per-algorithm parts; Ed25519 has A (public) and k (seed).
    const parts = priv.part as unknown as Record<"A" | "k", { data: Buffer }>;
    const seed = parts.k.data.subarray(0, 32);
    const pub = parts.A.data;
    return createPrivateKey({
      key: {
        kty: "OKP",
        crv: "Ed25519",
        d: seed.toString("base64url"),
        x: pub.toString("base64url"),
      },
      format: "jwk",
    });
  }
  return createPrivateKey(priv.toString("pkcs8"));
}
