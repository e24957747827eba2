import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { sshString } from "../../src/ca/ssh-wire.js";

/**
 * A security key made in software for API-level tests: signatures laid out as an authenticator
 * makes them (PROTOCOL.u2f, PROTOCOL.sshsig), with the flags the test chooses (0x01 user
 * present, 0x04 user verified). test/auth/sshsig.test.ts shows ssh-keygen -Y verify accepts them.
 */
export function syntheticSkKey(application = "ssh:"): {
  line: string;
  sign: (message: string | Buffer, namespace: string, flags?: number) => string;
} {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
  const type = "sk-ssh-ed25519@openssh.com";
  const app = Buffer.from(application);
  const pubBlob = Buffer.concat([sshString(type), sshString(raw), sshString(app)]);
  let counter = 0;
  return {
    line: `${type} ${pubBlob.toString("base64")}`,
    sign: (message, namespace, flags = 0x01) => {
      const signed = Buffer.concat([
        Buffer.from("SSHSIG"),
        sshString(namespace),
        sshString(Buffer.alloc(0)),
        sshString("sha512"),
        sshString(createHash("sha512").update(message).digest()),
      ]);
      const count = Buffer.alloc(4);
      count.writeUInt32BE(++counter);
      const authData = Buffer.concat([
        createHash("sha256").update(app).digest(),
        Buffer.from([flags]),
        count,
        createHash("sha256").update(signed).digest(),
      ]);
      const sig = sign(null, authData, privateKey);
      const sigBlob = Buffer.concat([sshString(type), sshString(sig), Buffer.from([flags]), count]);
      const blob = Buffer.concat([
        Buffer.from("SSHSIG"),
        Buffer.from([0, 0, 0, 1]),
        sshString(pubBlob),
        sshString(namespace),
        sshString(Buffer.alloc(0)),
        sshString("sha512"),
        sshString(sigBlob),
      ]);
      return `-----BEGIN SSH SIGNATURE-----\n${blob.toString("base64").replace(/(.{70})/g, "$1\n")}\n-----END SSH SIGNATURE-----\n`;
    },
  };
}
