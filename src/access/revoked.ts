import type { AccessRequest, RevokedSerial } from "../domain/request.js";

/**
 * How long after validBefore a revoked serial stays in the KRL. sshd checks validity on its own
 * clock (PROTOCOL.certkeys), so a target host whose clock is behind still accepts a certificate
 * for a while after it expired on ours; the same 5 minutes of slack as the longest backdating
 * in use elsewhere (BLESS 2 min, step-ca 1 min) covers that with room.
 */
export const KRL_SKEW_MS = 5 * 60_000;

/** The KRL entry of a revoked request, or undefined for anything else. Pure. */
export function revokedEntry(req: AccessRequest): RevokedSerial | undefined {
  if (req.state !== "revoked" || !req.cert) return undefined;
  return { serial: req.cert.serial, validBefore: req.cert.validBefore, caFingerprint: req.cert.caFingerprint };
}

/** Must this serial still be in the KRL at `now`? Pure. */
export function stillRevocable(entry: RevokedSerial, now: Date): boolean {
  return Date.parse(entry.validBefore) + KRL_SKEW_MS > now.getTime();
}
