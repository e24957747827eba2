import type { AccessRequest } from "../domain/request.js";
import type { Config, RoleConfig } from "../config/schema.js";
import type { ScanTrigger } from "../domain/scan.js";

export interface DueScan {
  host: string;
  /** Where the result goes: the issue-time scan, the latest during the window, or the after-access scan. */
  slot: "issue" | "during" | "after";
  trigger: ScanTrigger;
}

/** How often a host is watched during a request's window, in seconds: the role's or the host's `watch`, the shorter. */
export type WatchOf = (host: string) => number | undefined;

/** The watch intervals of a request's hosts under a config. */
export function watchOf(config: Pick<Config, "hosts">, role: RoleConfig | undefined): WatchOf {
  return (host) => {
    const own = Object.hasOwn(config.hosts, host) ? config.hosts[host]!.watch : undefined;
    const all = [role?.watch, own].filter((v): v is number => v !== undefined);
    return all.length > 0 ? Math.min(...all) : undefined;
  };
}

/**
 * When the next watch scan of `host` falls due: an interval after the latest scan of the window
 * (the issue-time scan, then each watch scan), or undefined when the certificate ends first (the
 * after-access scan covers that) or the host is not watched.
 */
function nextWatch(req: AccessRequest, host: string, watch: WatchOf): number | undefined {
  const every = watch(host);
  const last = req.scans?.[host]?.during ?? req.scans?.[host]?.issue;
  if (every === undefined || !req.cert || !last) return undefined;
  const at = Date.parse(last.at) + every * 1000;
  return Number.isFinite(at) && at < Date.parse(req.cert.validBefore) ? at : undefined;
}

/**
 * Which scans a request needs now. Derived from the request alone (no separate schedule to keep
 * in sync), so after a restart an overdue scan is simply due at the first tick, and a scan
 * whose result is recorded is never due again. Pure.
 */
export function dueScans(
  req: AccessRequest,
  role: RoleConfig | undefined,
  now: Date,
  watch: WatchOf = () => undefined,
): DueScan[] {
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
      // Watching counts from the issue-time scan, so a scheduled window is watched once it begins.
      const next = expired ? undefined : nextWatch(req, host, watch);
      if (next !== undefined && now.getTime() >= next) out.push({ host, slot: "during", trigger: "watch" });
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
 * value, which may step back), else the earliest of the start of a scheduled window (when its
 * issue-time scans wait for it), the next watch scans and the end of the certificate (when the
 * after-access scan is left), undefined when nothing will be due. Pure.
 */
export function nextScanAt(
  req: AccessRequest,
  role: RoleConfig | undefined,
  now: Date,
  watch: WatchOf = () => undefined,
): number | undefined {
  if (dueScans(req, role, now, watch).length > 0) return 0;
  if (!req.cert) return undefined;
  // Before a scheduled window begins there is no issue-time scan, so no watch either: its start
  // is the next time. Afterwards time enters dueScans through the watches and the certificate's end.
  const start = req.start === undefined ? undefined : Date.parse(req.start);
  if (start !== undefined && start > now.getTime() && dueScans(req, role, new Date(start)).length > 0) return start;
  const end = Date.parse(req.cert.validBefore);
  if (end <= now.getTime()) return undefined;
  const times: number[] = [];
  if (dueScans(req, role, new Date(end), watch).length > 0) times.push(end);
  if (req.state === "issued") {
    for (const host of req.hosts) {
      const next = nextWatch(req, host, watch);
      if (next !== undefined) times.push(next);
    }
  }
  return times.length > 0 ? Math.min(...times) : undefined;
}
