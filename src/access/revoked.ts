import type { AccessRequest, RevokedSerial } from "../domain/request.js";

/**
 * How long after validBefore a revoked serial stays in the KRL. sshd checks validity on its own
 * clock (PROTOCOL.certkeys), so a target host whose clock is behind still accepts a certificate
 * for a while after it expired on ours; the same 5 minutes of slack as the longest backdating
 * in use elsewhere (BLESS 2 min, step-ca 1 min) covers that with room.
 */
export const KRL_SKEW_MS = 5 * 60_000;

/**
 * How long after validBefore a revoked serial stays in the live state before the sweep removes
 * it (for every replica, and so from every replica's KRL). The sweep runs on whichever replica
 * holds its lease and decides on that replica's own clock: with only KRL_SKEW_MS to spare, a
 * replica whose clock ran more than 5 minutes fast removed revocations while the certificates
 * were still valid on the hosts' clocks. An hour is far beyond any skew NTP leaves, and costs
 * only an hour's worth of expired revoked serials more in the state.
 */
export const REVOKED_KEEP_MS = 60 * 60_000;

/** The KRL entry of a revoked request, or undefined for anything else. Pure. */
export function revokedEntry(req: AccessRequest): RevokedSerial | undefined {
  if (req.state !== "revoked" || !req.cert) return undefined;
  return { serial: req.cert.serial, validBefore: req.cert.validBefore, caFingerprint: req.cert.caFingerprint };
}

/** Must this serial still be in the KRL at `now`? Pure. */
export function stillRevocable(entry: RevokedSerial, now: Date): boolean {
  return Date.parse(entry.validBefore) + KRL_SKEW_MS > now.getTime();
}

/** May the sweep remove this revoked serial from the live state at `now`? Pure. */
export function prunableRevoked(entry: RevokedSerial, now: Date): boolean {
  return Date.parse(entry.validBefore) + REVOKED_KEEP_MS <= now.getTime();
}
