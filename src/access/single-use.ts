import { allow, type Decision, refuse } from "../domain/decision.js";
import type { AccessRequest } from "../domain/request.js";

/**
 * Single use (roles with singleUse): access lasts one session. When the host companion reports
 * that the first SSH session opened with the certificate closed (a session.closed audit record,
 * joined to its request by serial), the certificate is revoked; the caller audits it, publishes
 * the KRL, and the post-access scan follows from the revoked state. Pure.
 */

/** What a session.closed record says, as far as single use needs it. */
export interface SessionClosed {
  /** The request the serial was issued for (absent for a certificate sshcad does not know). */
  request?: string;
  serial: string;
  host: string;
  /** When the session closed, as the host saw it. */
  at: string;
  /** The audit record's sequence number. */
  seq: number;
}

/** Reads a session.closed record's fields; undefined when they are not what the companion writes. */
export function sessionClosedOf(seq: number, fields: Record<string, unknown>): SessionClosed | undefined {
  const { request, serial, host, at } = fields;
  if (typeof serial !== "string" || typeof host !== "string" || typeof at !== "string") return undefined;
  return { ...(typeof request === "string" ? { request } : {}), serial, host, at, seq };
}

/**
 * Ends a single-use certificate at the close of its first session, or says why this close ends
 * nothing (not single use, another certificate, already ended). A certificate past validBefore
 * needs no revocation.
 */
export function decideSingleUse(req: AccessRequest | undefined, ev: SessionClosed, now: Date): Decision<AccessRequest> {
  if (!req) return refuse("not_found", `no live request for serial ${ev.serial}`);
  if (!req.singleUse) return refuse("conflict", `request ${req.id} is not single use`);
  if (req.cert?.serial !== ev.serial)
    return refuse("conflict", `serial ${ev.serial} is not the certificate of request ${req.id}`);
  if (req.state !== "issued")
    return refuse(
      "conflict",
      `request ${req.id} is ${req.state}; its first session already ended it, or it ended otherwise`,
    );
  if (now.getTime() >= Date.parse(req.cert.validBefore))
    return refuse("conflict", `certificate serial ${ev.serial} already expired at ${req.cert.validBefore}`);
  const at = now.toISOString();
  return allow({
    ...req,
    state: "revoked",
    version: req.version + 1,
    updatedAt: at,
    revocation: {
      by: "sshcad",
      at,
      reason: `single use: its first session, on ${ev.host}, closed at ${ev.at}`,
      kind: "single-use",
    },
  });
}
