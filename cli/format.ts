import type { RequestView } from "../src/http/contract.js";

/** Human-readable renderings; --json bypasses these. */

const approvals = (r: RequestView) => `${r.approvals.length}/${r.approvalsRequired}`;

export function formatTtl(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

const ENDED = new Set(["denied", "cancelled", "expired", "revoked"]);

/** Has this request ended for good: refused, withdrawn, lapsed, revoked, or issued with its certificate expired? */
export function hasEnded(r: RequestView, now: Date): boolean {
  if (ENDED.has(r.state)) return true;
  return r.state === "issued" && r.validBefore !== undefined && Date.parse(r.validBefore) <= now.getTime();
}

export function requestTable(list: RequestView[], now: Date): string {
  const rows = [["ID", "STATE", "REQUESTER", "ROLE", "HOSTS", "TTL", "APPROVALS", "REASON"]];
  for (const r of list) {
    const state = hasEnded(r, now) ? `${r.state} (ended)` : r.state;
    rows.push([r.id, state, r.requester, r.role, r.hosts.join(","), formatTtl(r.ttlSeconds), approvals(r), r.reason]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}

export function describeRequest(r: RequestView): string {
  const lines = [
    `Request     ${r.id}  (${r.state})`,
    `Requester   ${r.requester}`,
    `Role        ${r.role}`,
    `Hosts       ${r.hosts.join(", ")}`,
    `Reason      ${r.reason}`,
    `Principals  ${r.principals.join(", ")}`,
    `Extensions  ${r.extensions.join(", ") || "(none)"}`,
  ];
  const opts = Object.entries(r.criticalOptions);
  if (opts.length) lines.push(`Options     ${opts.map(([k, v]) => `${k}=${v}`).join(", ")}`);
  lines.push(
    `TTL         ${formatTtl(r.ttlSeconds)}`,
    `Key         ${r.keyFingerprint}`,
    `Approvals   ${approvals(r)}${r.approvals.length ? ` (${r.approvals.map((a) => a.approver).join(", ")})` : ""}`,
    `Digest      ${r.digest}`,
    `Created     ${r.createdAt}`,
  );
  if (r.state === "pending") lines.push(`Expires     ${r.expiresAt}`);
  if (r.gate?.status === "blocked") lines.push(`Blocked     ${r.gate.reason ?? ""}`);
  if (r.gate?.override) lines.push(`Override    by ${r.gate.override.by}: ${r.gate.override.reason}`);
  for (const [host, s] of Object.entries(r.scans ?? {})) {
    const part = (label: string, x?: { id: string; outcome: string; open: { port: number; protocol: string }[] }) =>
      x
        ? `${label} ${x.id} ${x.outcome}${x.outcome === "ok" ? ` open ${x.open.map((p) => `${p.port}/${p.protocol}`).join(",") || "none"}` : ""}`
        : "";
    lines.push(
      `Scans       ${host}: ${[part("issue", s.issue), part("during", s.during), part("after", s.after)].filter(Boolean).join("; ")}`,
    );
  }
  if (r.denial) lines.push(`Denied      by ${r.denial.by}: ${r.denial.reason}`);
  if (r.cancellation) lines.push(`Cancelled   by ${r.cancellation.by}`);
  if (r.revocation?.kind === "relinquish") lines.push(`Relinquished by ${r.revocation.by}`);
  else if (r.revocation) lines.push(`Revoked     by ${r.revocation.by}: ${r.revocation.reason}`);
  if (r.serial) {
    lines.push(`Serial      ${r.serial}`, `Key ID      ${r.keyId}`, `Valid       ${r.validAfter} .. ${r.validBefore}`);
  }
  return lines.join("\n");
}
