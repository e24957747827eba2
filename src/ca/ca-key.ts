import { createPrivateKey, type KeyObject, sign } from "node:crypto";
import sshpk from "sshpk";
import { SshcaError } from "../errors.js";
import { type CaSigner, describeKey, signatureAlgorithmFor } from "./signer.js";
import { sshMpint, sshString } from "./ssh-wire.js";

const ECDSA_HASH: Record<string, string> = {
  nistp256: "sha256",
  nistp384: "sha384",
  nistp521: "sha512",
};

/**
 * The key-file signer: parses an OpenSSH private key and signs natively with node:crypto.
 * Refuses DSA and small RSA; RSA signs with rsa-sha2-512.
 */
export function loadCaKey(pem: string | Buffer, passphrase?: string): CaSigner {
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
  const signatureAlgorithm = signatureAlgorithmFor(publicKey);
  const keyObject = toKeyObject(priv);
  let signFn: (data: Buffer) => Buffer;
  switch (priv.type) {
    case "ed25519":
      signFn = (data) => Buffer.concat([sshString(signatureAlgorithm), sshString(sign(null, data, keyObject))]);
      break;
    case "ecdsa": {
      const curve = priv.curve ?? "";
      const hash = ECDSA_HASH[curve]!;
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
    default:
      // RFC 8332: rsa-sha2-512 is a signature algorithm for the same ssh-rsa key.
      signFn = (data) => Buffer.concat([sshString(signatureAlgorithm), sshString(sign("sha512", data, keyObject))]);
  }
  return {
    ...describeKey(publicKey),
    signatureAlgorithm,
    custody: "file",
    sign: async (data) => signFn(data),
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
