import { allow, type Decision, refuse } from "../domain/decision.js";
import type { HostStatus, PortResult, ScanRecord } from "../domain/scan.js";

/**
 * A host's exposure as scan-aware roles see it, after each scan (pure): the latest scan, and
 * drift that stays open until an approver marks it resolved. Drift opens when a scan after access
 * found a change (scan.drift), or any scan found a port open outside the host's expectedPorts.
 */
export function afterScan(
  prev: HostStatus | undefined,
  record: ScanRecord,
  driftSummary: string | undefined,
): HostStatus {
  const unexpectedOpen: PortResult[] =
    record.outcome === "ok"
      ? record.ports.filter((p) => p.state === "open" && !record.expectedPorts.includes(p.port))
      : [];
  const latest = {
    scan: record.id,
    at: record.startedAt,
    trigger: record.trigger,
    outcome: record.outcome,
    unexpectedOpen,
    ...(record.error ? { error: record.error } : {}),
  };
  const summary =
    driftSummary ??
    (unexpectedOpen.length
      ? `open but not expected ${unexpectedOpen.map((p) => `${p.port}/${p.protocol}${p.service ? ` (${p.service})` : ""}`).join(", ")}`
      : undefined);
  // Drift already open keeps its first sighting: that is what the resolver has to look at.
  const drift = prev?.drift ?? (summary ? { since: record.startedAt, scan: record.id, summary } : undefined);
  return { ...prev, latest, ...(drift ? { drift } : {}) };
}

/**
 * An approver marks a host's drift resolved, having looked at it. Only approvers of a role that
 * covers the host may (`mayResolve`); a comment says what they found.
 */
export function decideResolve(
  host: string,
  prev: HostStatus | undefined,
  who: string,
  mayResolve: boolean,
  comment: string,
  now: Date,
): Decision<HostStatus> {
  if (!mayResolve)
    return refuse("forbidden", `${who} may not resolve drift on ${host} (approvers of a role covering it may)`);
  if (!prev?.drift) {
    const last = prev?.resolved ? `; it was last resolved by ${prev.resolved.by} at ${prev.resolved.at}` : "";
    return refuse("conflict", `${host} has no unresolved drift${last}`);
  }
  const text = comment.trim();
  if (text === "") return refuse("bad_request", "resolving drift needs a comment saying what you found (--comment)");
  const { drift: _drift, ...rest } = prev;
  return allow({
    ...rest,
    resolved: { by: who, at: now.toISOString(), comment: text, scan: prev.drift.scan, summary: prev.drift.summary },
  });
}
