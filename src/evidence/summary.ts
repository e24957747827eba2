import type { AuditRecord } from "../audit/record.js";
import type { ReportSummaryView } from "../http/contract.js";

/** The audit records a summary counts. */
export const SUMMARY_TYPES = ["certificate.issued", "session.opened", "finding.raised", "scan.drift"] as const;

/**
 * Per user and host over a period: access windows (certificates issued), logins the hosts
 * reported, findings (raised, and drift); and every finding listed. A finding with no request
 * (a certificate this CA did not issue, a silent host) counts under user "-". Pure.
 */
export function summarize(
  records: readonly AuditRecord[],
  period: { since: Date; until: Date },
): Omit<ReportSummaryView, "truncated"> {
  const rows = new Map<string, ReportSummaryView["rows"][number]>();
  const row = (user: string, host: string) => {
    const key = `${user}\u0000${host}`;
    let r = rows.get(key);
    if (!r) {
      r = { user, host, windows: 0, logins: 0, findings: 0 };
      rows.set(key, r);
    }
    return r;
  };
  const findings: ReportSummaryView["findings"] = [];
  for (const r of records) {
    const f = r.fields as Record<string, unknown>;
    const user = typeof f.requester === "string" ? f.requester : "-";
    const host = typeof f.host === "string" ? f.host : "-";
    if (r.type === "certificate.issued") {
      const hosts = Array.isArray(f.hosts) ? (f.hosts as unknown[]).filter((h) => typeof h === "string") : [];
      for (const h of hosts as string[]) row(user, h).windows++;
    } else if (r.type === "session.opened") {
      row(user, host).logins++;
    } else if (r.type === "finding.raised" || r.type === "scan.drift") {
      row(user, host).findings++;
      findings.push({
        finding: r.type === "scan.drift" ? "drift" : String(f.finding),
        at: r.time,
        host,
        detail: String(r.type === "scan.drift" ? f.summary : f.detail),
        ...(typeof f.request === "string" ? { request: f.request } : {}),
        ...(user !== "-" ? { user } : {}),
      });
    }
  }
  return {
    since: period.since.toISOString(),
    until: period.until.toISOString(),
    rows: [...rows.values()].sort((a, b) => a.user.localeCompare(b.user) || a.host.localeCompare(b.host)),
    findings,
  };
}
