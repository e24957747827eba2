import type { AccessRequest } from "../domain/request.js";
import type { RoleConfig } from "../config/schema.js";
import type { ScanTrigger } from "../domain/scan.js";

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
  // Break-glass issues at once: its hosts are scanned at issue, as with scanOnIssue: record.
  const gate = role?.scanOnIssue === "gate" && req.breakGlass === undefined;
  if (req.state === "approved" && gate && req.gate?.status !== "passed" && !req.gate?.override) {
    for (const host of req.hosts) if (!done(host, "issue")) out.push({ host, slot: "issue", trigger: "issue" });
  }
  if (req.state === "issued" && req.cert) {
    const expired = now.getTime() >= Date.parse(req.cert.validBefore);
    // A scheduled window's hosts are scanned when it begins, not when it was approved.
    const begun = req.start === undefined || now.getTime() >= Date.parse(req.start);
    for (const host of req.hosts) {
      // An issue-time scan that did not happen before expiry would describe the wrong moment.
      if (!expired && begun && !gate && !done(host, "issue")) out.push({ host, slot: "issue", trigger: "issue" });
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

/**
 * When dueScans next has something for this request, so the scheduler can wait for it rather
 * than look at every live request each tick: 0 when something is due now (not the clock's
 * value, which may step back), the end of the certificate when only the after-access scan is
 * left, undefined when nothing will be due. Pure.
 */
export function nextScanAt(req: AccessRequest, role: RoleConfig | undefined, now: Date): number | undefined {
  if (dueScans(req, role, now).length > 0) return 0;
  if (!req.cert) return undefined;
  // Besides now, time enters dueScans only through the start of a scheduled window and the end
  // of the certificate.
  const start = req.start === undefined ? undefined : Date.parse(req.start);
  if (start !== undefined && start > now.getTime() && dueScans(req, role, new Date(start)).length > 0) return start;
  const end = Date.parse(req.cert.validBefore);
  return end > now.getTime() && dueScans(req, role, new Date(end)).length > 0 ? end : undefined;
}
