import type { AuditRecord } from "../audit/record.js";
import type { ReportFinding, ReportScan, ReportSession, ReportView } from "../http/contract.js";

/**
 * One access window on one timeline, built from its audit records alone (the request may have
 * left the live state long ago): who asked and why, each approval with its comment and second
 * factor, the certificate, every login and logout the hosts reported, every scan (at issue,
 * during, after) with its port differences, how it ended, and the findings. Pure: `now` decides
 * whether an unrevoked certificate has expired yet.
 */

type Fields = Record<string, unknown>;
const str = (f: Fields, k: string): string | undefined => (typeof f[k] === "string" ? (f[k] as string) : undefined);
const strs = (f: Fields, k: string): string[] =>
  Array.isArray(f[k]) ? (f[k] as unknown[]).filter((x): x is string => typeof x === "string") : [];
const num = (f: Fields, k: string): number | undefined => (typeof f[k] === "number" ? (f[k] as number) : undefined);

/** Open ports of a scan record as "22/tcp (ssh)". */
function openPorts(f: Fields): string[] {
  const ports = Array.isArray(f.ports) ? (f.ports as Fields[]) : [];
  return ports
    .filter((p) => p.state === "open")
    .map((p) => `${String(p.port)}/${String(p.protocol)}${typeof p.service === "string" ? ` (${p.service})` : ""}`);
}

/** One line about a record, for the timeline. */
export function recordLine(r: AuditRecord): string {
  const f = r.fields as Fields;
  switch (r.type) {
    case "request.created":
      return `${r.actor} asked for ${str(f, "role")} on ${strs(f, "hosts").join(", ")}: "${str(f, "reason") ?? ""}"`;
    case "request.approved":
      return `${r.actor} approved (${String(f.approvals)}/${String(f.approvalsRequired)})${str(f, "comment") ? `: "${str(f, "comment")}"` : ""}`;
    case "request.auto_approved":
      return "approved by the role's autoApprove setting";
    case "request.denied":
      return `${r.actor} denied: "${str(f, "reason") ?? ""}"`;
    case "certificate.issued":
      return `certificate serial ${str(f, "serial")} issued, valid ${str(f, "validAfter")} .. ${str(f, "validBefore")}`;
    case "certificate.fetched":
      return `${r.actor} fetched the certificate`;
    case "certificate.revoked":
      return `${str(f, "kind") === "relinquish" ? "relinquished" : "revoked"} by ${r.actor}: "${str(f, "reason") ?? ""}"`;
    case "session.opened":
      return `${str(f, "login")}@${str(f, "host")} logged in from ${str(f, "from")} port ${String(f.port)}`;
    case "session.closed":
      return `${str(f, "login")}@${str(f, "host")} logged out (from ${str(f, "from")} port ${String(f.port)})`;
    case "scan.started":
      return `scan ${str(f, "scan")} of ${str(f, "host")} started (${str(f, "trigger")})`;
    case "scan.finished":
      return `scan ${str(f, "scan")} of ${str(f, "host")} (${str(f, "trigger")}): open ${openPorts(f).join(", ") || "none"}`;
    case "scan.failed":
      return `scan ${str(f, "scan")} of ${str(f, "host")} (${str(f, "trigger")}) ${str(f, "outcome")}: ${str(f, "error") ?? ""}`;
    case "scan.drift":
      return `DRIFT on ${str(f, "host")} (${str(f, "trigger")}): ${str(f, "summary")}`;
    case "finding.raised":
      return `FINDING ${str(f, "finding")}: ${str(f, "detail")}`;
    default:
      return `${r.type} by ${r.actor}`;
  }
}

/** The report of request `id` from its audit records (oldest first). */
export function buildReport(id: string, records: readonly AuditRecord[], now: Date): ReportView {
  const created = records.find((r) => r.type === "request.created");
  const cf = (created?.fields ?? {}) as Fields;
  const report: ReportView = {
    request: {
      id,
      requester: str(cf, "requester") ?? "",
      role: str(cf, "role") ?? "",
      hosts: strs(cf, "hosts"),
      principals: strs(cf, "principals"),
      reason: str(cf, "reason") ?? "",
      ttlSeconds: num(cf, "ttlSeconds") ?? 0,
      createdAt: created?.time ?? "",
    },
    state: "pending",
    approvals: [],
    sessions: [],
    scans: [],
    findings: [],
    timeline: records.map((r) => ({ seq: r.seq, time: r.time, type: r.type, actor: r.actor, summary: recordLine(r) })),
  };
  const open = new Map<string, ReportSession>();
  const scans = new Map<string, ReportScan>();
  for (const r of records) {
    const f = r.fields as Fields;
    switch (r.type) {
      case "request.approved": {
        const factor = f.factor as { kind?: string; userVerified?: boolean } | undefined;
        report.approvals.push({
          approver: r.actor,
          at: r.time,
          ...(str(f, "comment") ? { comment: str(f, "comment")! } : {}),
          ...(factor?.kind ? { factor: factor.kind, ...(factor.userVerified ? { userVerified: true } : {}) } : {}),
        });
        report.state = "approved";
        break;
      }
      case "request.auto_approved":
        report.approvals.push({ approver: "auto-approve", at: r.time, auto: true });
        report.state = "approved";
        break;
      case "request.denied":
      case "request.cancelled":
      case "request.expired":
        report.state = r.type.slice("request.".length) as "denied" | "cancelled" | "expired";
        report.ended = {
          kind: report.state,
          at: r.time,
          by: r.actor,
          ...(str(f, "reason") ? { reason: str(f, "reason")! } : {}),
        };
        break;
      case "certificate.issued":
        report.state = "issued";
        report.certificate = {
          serial: str(f, "serial") ?? "",
          keyId: str(f, "keyId") ?? "",
          principals: strs(f, "principals"),
          validAfter: str(f, "validAfter") ?? "",
          validBefore: str(f, "validBefore") ?? "",
          issuedAt: r.time,
        };
        break;
      case "certificate.revoked": {
        const kind = str(f, "kind") === "relinquish" ? "relinquished" : "revoked";
        report.state = "revoked";
        report.ended = { kind, at: r.time, by: r.actor, ...(str(f, "reason") ? { reason: str(f, "reason")! } : {}) };
        break;
      }
      case "session.opened": {
        const s: ReportSession = {
          host: str(f, "host") ?? "",
          login: str(f, "login") ?? "",
          from: str(f, "from") ?? "",
          port: num(f, "port") ?? 0,
          serial: str(f, "serial") ?? "",
          openedAt: str(f, "at") ?? r.time,
        };
        report.sessions.push(s);
        open.set(`${s.host} ${s.from} ${s.port} ${s.serial}`, s);
        break;
      }
      case "session.closed": {
        const key = `${str(f, "host")} ${str(f, "from")} ${String(num(f, "port"))} ${str(f, "serial")}`;
        const s = open.get(key);
        if (s) {
          s.closedAt = str(f, "at") ?? r.time;
          open.delete(key);
        } else {
          // A logout whose login came before the companion reported (or another stream): shown alone.
          report.sessions.push({
            host: str(f, "host") ?? "",
            login: str(f, "login") ?? "",
            from: str(f, "from") ?? "",
            port: num(f, "port") ?? 0,
            serial: str(f, "serial") ?? "",
            closedAt: str(f, "at") ?? r.time,
          });
        }
        break;
      }
      case "scan.finished":
      case "scan.failed": {
        const s: ReportScan = {
          scan: str(f, "scan") ?? "",
          host: str(f, "host") ?? "",
          trigger: str(f, "trigger") ?? "",
          outcome: str(f, "outcome") ?? (r.type === "scan.failed" ? "failed" : "ok"),
          at: str(f, "startedAt") ?? r.time,
          open: openPorts(f),
          ...(str(f, "error") ? { error: str(f, "error")! } : {}),
        };
        report.scans.push(s);
        scans.set(s.scan, s);
        break;
      }
      case "scan.drift": {
        const summary = str(f, "summary") ?? "";
        const s = scans.get(str(f, "scan") ?? "");
        if (s) s.drift = summary;
        report.findings.push({
          finding: "drift",
          at: r.time,
          host: str(f, "host") ?? "",
          detail: `${str(f, "trigger") === "watch" ? "during the window" : `at ${str(f, "trigger")}`}: ${summary}`,
        });
        break;
      }
      case "finding.raised": {
        const finding: ReportFinding = {
          finding: str(f, "finding") ?? "",
          at: r.time,
          host: str(f, "host") ?? "",
          detail: str(f, "detail") ?? "",
        };
        report.findings.push(finding);
        break;
      }
      default:
        break;
    }
  }
  if (report.state === "issued" && report.certificate && Date.parse(report.certificate.validBefore) <= now.getTime()) {
    report.state = "expired";
    report.ended = { kind: "expired", at: report.certificate.validBefore };
  }
  return report;
}
