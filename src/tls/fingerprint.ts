import { createHash } from "node:crypto";

/** "SHA256:<base64, no padding>" of a certificate's DER bytes (the OpenSSH style). */
export function certFingerprint(der: Buffer): string {
  return `SHA256:${createHash("sha256").update(der).digest("base64").replace(/=+$/, "")}`;
}

/**
 * Normalises a fingerprint a user typed: "SHA256:<base64>", or 64 hex digits with or without
 * colons (as `openssl x509 -fingerprint -sha256` prints it). Undefined when it is neither.
 */
export function normaliseFingerprint(text: string): string | undefined {
  const t = text.trim();
  const b64 = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(t);
  if (b64) return `SHA256:${b64[1]}`;
  const hex = t.replace(/^(sha256[:=])/i, "").replace(/:/g, "");
  if (/^[0-9a-fA-F]{64}$/.test(hex)) return `SHA256:${Buffer.from(hex, "hex").toString("base64").replace(/=+$/, "")}`;
  return undefined;
}
