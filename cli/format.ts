import type { RequestView, StageView } from "../src/http/contract.js";

/** Human-readable renderings; --json bypasses these. */

const approvals = (r: RequestView) => `${r.approvals.length}/${r.approvalsRequired}`;

/** "leads 1/1 (dave); security 0/1" */
export function stagesLine(r: RequestView): string {
  return (r.stages ?? [])
    .map(
      (s) => `${s.name} ${s.count - s.missing}/${s.count}${s.approvedBy.length ? ` (${s.approvedBy.join(", ")})` : ""}`,
    )
    .join("; ");
}

/** What each open stage still needs and who can close it: "security: 1 more from security (sam, ada)". */
export function openStagesText(r: RequestView): string {
  return (r.stages ?? [])
    .filter((s: StageView) => !s.met)
    .map((s) => {
      const who = [...s.canClose, ...s.bots.map((b) => `bot:${b}`)];
      return `${s.name}: ${s.missing} more from ${s.groups.join(" or ")}${who.length ? ` (${who.join(", ")})` : ""}${s.because ? ` because ${s.because}` : ""}`;
    })
    .join("; ");
}

/** The access a request grants, as its own thing: "15m" or "15m from 2026-...". */
export function accessText(r: RequestView): string {
  return `${formatTtl(r.ttlSeconds)}${r.start ? ` from ${r.start}` : " once issued"}`;
}

/** Break-glass review state, for the list and show. */
export function reviewText(r: RequestView): string {
  const review = r.breakGlass?.review;
  if (!review) return "";
  return review.status === "open" ? "awaiting review" : `reviewed by ${review.by}`;
}

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
  const rows = [["ID", "STATE", "REQUESTER", "ROLE", "HOSTS", "ACCESS", "WAITS UNTIL", "APPROVALS", "REASON"]];
  for (const r of list) {
    const review = reviewText(r);
    const state = `${hasEnded(r, now) ? `${r.state} (ended)` : r.state}${r.breakGlass ? ` break-glass${review ? `, ${review}` : ""}` : ""}`;
    // The pending lifetime only means something while it waits for people.
    const waits = r.state === "pending" || r.state === "blocked" ? r.expiresAt : "-";
    const access = `${formatTtl(r.ttlSeconds)}${r.start ? ` from ${r.start}` : ""}`;
    rows.push([r.id, state, r.requester, r.role, r.hosts.join(","), access, waits, approvals(r), r.reason]);
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
    // The access and the pending lifetime are different things, and are shown as such.
    `Access      ${accessText(r)}${r.singleUse ? ", one session (single use)" : ""}`,
    `Key         ${r.keyFingerprint}`,
    `Approvals   ${approvals(r)}${r.approvals.length ? ` (${r.approvals.map((a) => `${a.approver}${a.stage && (r.stages?.length ?? 0) > 1 ? ` for ${a.stage}` : ""}`).join(", ")})` : ""}`,
  );
  if ((r.stages?.length ?? 0) > 1 || r.stages?.some((s) => s.because || s.bots.length))
    lines.push(`Stages      ${stagesLine(r)}`);
  const open = r.state === "pending" ? openStagesText(r) : "";
  if (open) lines.push(`Still open  ${open}`);
  if (r.reviewers?.length) lines.push(`Reviewers   ${r.reviewers.join(", ")} (suggested)`);
  for (const [bot, b] of Object.entries(r.bots ?? {}))
    lines.push(
      `Bot         ${bot}: ${b.answer}${b.comment ? ` ("${b.comment}")` : ""}${b.error ? ` (${b.error})` : ""}`,
    );
  lines.push(`Digest      ${r.digest}`, `Created     ${r.createdAt}`);
  if (r.state === "pending") lines.push(`Waits until ${r.expiresAt} for approvals (then it expires)`);
  if (r.breakGlass) {
    const review = r.breakGlass.review;
    lines.push(
      review.status === "open"
        ? `Break-glass issued without approval; awaiting review: sshca review ${r.id} --comment "..."`
        : `Break-glass reviewed by ${review.by} at ${review.at}: ${review.comment}`,
    );
  }
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
  else if (r.revocation?.kind === "single-use") lines.push(`Used up     ${r.revocation.reason}`);
  else if (r.revocation) lines.push(`Revoked     by ${r.revocation.by}: ${r.revocation.reason}`);
  if (r.serial) {
    lines.push(`Serial      ${r.serial}`, `Key ID      ${r.keyId}`, `Valid       ${r.validAfter} .. ${r.validBefore}`);
  }
  return lines.join("\n");
}
