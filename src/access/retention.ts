import type { AccessRequest } from "./types.js";

/**
 * Has a request finished all its work, so that it may leave the live state (its history
 * stays in the audit log)? Ended requests go `keepSeconds` after their last change; issued
 * ones `keepSeconds` after their certificate expired. Pure.
 */
export function isFinished(req: AccessRequest, now: Date, keepSeconds: number): boolean {
  const keepMs = keepSeconds * 1000;
  switch (req.state) {
    case "denied":
    case "cancelled":
    case "expired":
      return now.getTime() >= Date.parse(req.updatedAt) + keepMs;
    case "issued":
    case "revoked":
      // A revoked serial stays in the KRL until the certificate would have expired anyway.
      return req.cert !== undefined && now.getTime() >= Date.parse(req.cert.validBefore) + keepMs;
    default:
      return false;
  }
}
