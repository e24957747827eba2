import type { AccessRequest } from "../access/types.js";
import type { RoleConfig } from "../config/schema.js";
import type { ScanTrigger } from "./types.js";

export interface DueScan {
  host: string;
  /** Where the result goes: the issue-time scan, or the after-access scan. */
  slot: "issue" | "after";
  trigger: ScanTrigger;
}

/**
 * Which scans a request needs now. Derived from the request alone (no separate schedule to keep
 * in sync), so after a restart an overdue scan is simply due at the first tick, and a scan
 * whose result is recorded is never due again. Pure.
 */
export function dueScans(req: AccessRequest, role: RoleConfig | undefined, now: Date): DueScan[] {
  const out: DueScan[] = [];
  const done = (host: string, slot: "issue" | "after") => req.scans?.[host]?.[slot] !== undefined;
  const gate = role?.scanOnIssue === "gate";
  if (req.state === "approved" && gate && req.gate?.status !== "passed" && !req.gate?.override) {
    for (const host of req.hosts) if (!done(host, "issue")) out.push({ host, slot: "issue", trigger: "issue" });
  }
  if (req.state === "issued" && req.cert) {
    const expired = now.getTime() >= Date.parse(req.cert.validBefore);
    for (const host of req.hosts) {
      // An issue-time scan that did not happen before expiry would describe the wrong moment.
      if (!expired && !gate && !done(host, "issue")) out.push({ host, slot: "issue", trigger: "issue" });
      if (expired && !done(host, "after")) out.push({ host, slot: "after", trigger: "expiry" });
    }
  }
  // Access ended early: scan now rather than at validBefore.
  if (req.state === "revoked" && req.cert) {
    for (const host of req.hosts) if (!done(host, "after")) out.push({ host, slot: "after", trigger: "revoke" });
  }
  return out;
}

/** Has a request had all the scans it will ever need (so it may leave the live state)? */
export function scansComplete(req: AccessRequest): boolean {
  if (req.state !== "issued" && req.state !== "revoked") return true;
  return req.hosts.every((h) => req.scans?.[h]?.after !== undefined);
}
