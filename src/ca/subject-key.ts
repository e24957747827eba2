import sshpk from "sshpk";
import { fail } from "../errors.js";

/** A user's public key, parsed and checked, in the forms the CA needs. */
export interface SubjectKey {
  key: sshpk.Key;
  /** "ssh-ed25519 AAAA..." without the comment. */
  line: string;
  /** SHA256:... fingerprint, as ssh-keygen -l prints it. */
  fingerprint: string;
}

const MAX_KEY_LINE = 16 * 1024;

/**
 * Parses one OpenSSH public key line ("type base64 [comment]"). Refuses certificates,
 * DSA (OpenSSH removed it), RSA under 2048 bits and anything unparsable, with a message
 * a user can act on.
 */
export function parseSubjectKey(text: string): SubjectKey {
  const line = text.trim();
  if (line.length === 0) throw fail.badRequest("publicKey is empty");
  if (line.length > MAX_KEY_LINE) throw fail.badRequest("publicKey is too long");
  if (/[\r\n\0]/.test(line)) throw fail.badRequest("publicKey must be a single line");
  const type = line.split(/\s+/)[0] ?? "";
  if (type.includes("-cert-v01@openssh.com")) {
    throw fail.badRequest("publicKey is a certificate; send the plain public key (id_ed25519.pub)");
  }
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(line, "ssh");
  } catch {
    throw fail.badRequest('publicKey is not an OpenSSH public key (expected e.g. "ssh-ed25519 AAAA...")');
  }
  if (key.type === "dsa") throw fail.badRequest("DSA keys are not accepted; use Ed25519");
  if (key.type === "rsa" && key.size < 2048) {
    throw fail.badRequest(`RSA keys need at least 2048 bits (this one has ${key.size}); use Ed25519`);
  }
  if (!["ed25519", "ecdsa", "rsa"].includes(key.type)) {
    throw fail.badRequest(`unsupported key type ${key.type}`);
  }
  return {
    key,
    line: key.toString("ssh").split(" ").slice(0, 2).join(" "),
    fingerprint: key.fingerprint("sha256").toString(),
  };
}
