import type { ReportSummaryView, ReportView } from "../src/http/contract.js";

/** Human renderings of access reports; --json bypasses these. */

const table = (rows: string[][]) => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
};

function findingsBlock(findings: ReportView["findings"]): string[] {
  if (findings.length === 0) return ["No findings."];
  return [
    `FINDINGS (${findings.length}):`,
    ...findings.map((f) => `  ${f.at}  ${f.finding} on ${f.host || "-"}: ${f.detail}`),
  ];
}

/** sshca report ID */
export function formatReport(r: ReportView): string {
  const q = r.request;
  const out = [
    `Access report for ${q.id}  (${r.state})`,
    `Requested   ${q.createdAt} by ${q.requester}: role ${q.role} on ${q.hosts.join(", ")} for ${Math.round(q.ttlSeconds / 60)}m`,
    `Reason      ${JSON.stringify(q.reason)}`,
  ];
  if (r.approvals.length === 0) out.push("Approvals   none");
  for (const a of r.approvals) {
    const extra = [
      a.comment !== undefined ? `comment ${JSON.stringify(a.comment)}` : "",
      a.factor ? `second factor ${a.factor}${a.userVerified ? " (user verified)" : ""}` : "",
    ].filter(Boolean);
    out.push(
      `Approved    ${a.at} by ${a.auto ? "the role's autoApprove" : a.approver}${extra.length ? `; ${extra.join("; ")}` : ""}`,
    );
  }
  if (r.certificate) {
    const c = r.certificate;
    out.push(
      `Certificate serial ${c.serial}, principals ${c.principals.join(", ")}`,
      `            valid ${c.validAfter} .. ${c.validBefore}; key id ${c.keyId}`,
    );
  }
  out.push(`Logins      ${r.sessions.length === 0 ? "none reported" : ""}`.trimEnd());
  for (const s of r.sessions) {
    out.push(
      `  ${s.login}@${s.host} from ${s.from} port ${s.port}: ${s.openedAt ? `in ${s.openedAt}` : "login not seen"}, ${s.closedAt ? `out ${s.closedAt}` : "logout not seen"}`,
    );
  }
  out.push(`Scans       ${r.scans.length === 0 ? "none" : ""}`.trimEnd());
  for (const s of r.scans) {
    const what = s.outcome === "ok" ? `open ${s.open.join(", ") || "none"}` : `${s.outcome}: ${s.error ?? ""}`;
    out.push(`  ${s.at}  ${s.host}  ${s.trigger.padEnd(6)}  ${what}${s.drift ? `  DRIFT: ${s.drift}` : ""}`);
  }
  if (r.ended) {
    const e = r.ended;
    out.push(
      `Ended       ${e.kind} at ${e.at}${e.by ? ` by ${e.by}` : ""}${e.reason ? `: ${JSON.stringify(e.reason)}` : ""}`,
    );
  }
  out.push("Timeline");
  for (const t of r.timeline) out.push(`  ${t.time}  ${t.summary}`);
  out.push(...findingsBlock(r.findings));
  return out.join("\n");
}

/** sshca report --since 7d */
export function formatSummary(s: ReportSummaryView): string {
  const out = [`Access from ${s.since} to ${s.until}`];
  if (s.rows.length === 0) out.push("no access windows, logins or findings");
  else
    out.push(
      table([
        ["USER", "HOST", "WINDOWS", "LOGINS", "FINDINGS"],
        ...s.rows.map((r) => [r.user, r.host, String(r.windows), String(r.logins), String(r.findings)]),
      ]),
    );
  if (s.truncated) out.push("(more records matched than one summary reads: narrow the period with --until)");
  out.push(
    ...findingsBlock(s.findings).map((line, i) => {
      const f = i > 0 ? s.findings[i - 1] : undefined;
      return f?.request ? `${line} (${f.request}${f.user ? `, ${f.user}` : ""})` : line;
    }),
  );
  return out.join("\n");
}
