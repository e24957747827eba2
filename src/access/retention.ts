import type { AccessRequest } from "../domain/request.js";

/**
 * When a request will have finished all its work, so that it may leave the live state (its
 * history stays in the audit log): ended requests `keepSeconds` after their last change,
 * issued ones `keepSeconds` after their certificate expired. Undefined while it is still
 * waiting for people, for its certificate, or (break-glass) for its review. Pure.
 */
export function finishesAt(req: AccessRequest, keepSeconds: number): number | undefined {
  const keepMs = keepSeconds * 1000;
  // A break-glass request stays until an approver has reviewed it.
  if (req.breakGlass?.review.status === "open") return undefined;
  switch (req.state) {
    case "denied":
    case "cancelled":
    case "expired":
      return Date.parse(req.updatedAt) + keepMs;
    case "issued":
    case "revoked":
      // Kept for the after-access scan and for people reading it; its serial stays in the KRL
      // through the revoked collection (src/access/revoked.ts), however soon this goes.
      return req.cert === undefined ? undefined : Date.parse(req.cert.validBefore) + keepMs;
    default:
      return undefined;
  }
}

export function isFinished(req: AccessRequest, now: Date, keepSeconds: number): boolean {
  const at = finishesAt(req, keepSeconds);
  return at !== undefined && now.getTime() >= at;
}

/**
 * When the sweep next has something to do for a request: expire it when its approval window
 * closes, retry the issuance of an approved one right away (its first attempt failed or is
 * still running), or let it leave the live state once finished. Pure.
 */
export function sweepAt(req: AccessRequest, keepSeconds: number): number | undefined {
  switch (req.state) {
    case "pending":
    case "blocked":
      return Date.parse(req.expiresAt);
    case "approved":
      return 0;
    default:
      return finishesAt(req, keepSeconds);
  }
}
