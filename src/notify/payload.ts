import type { AuditRecord } from "../audit/record.js";
import { formatDuration } from "../config/duration.js";
import type { Recipients } from "./recipients.js";

/** The JSON body sshcad POSTs to a webhook. `id` is the idempotency key: stable across retries and restarts. */
export interface WebhookPayload {
  id: string;
  event: string;
  seq: number;
  time: string;
  actor: string;
  fields: Record<string, unknown>;
  notify: Recipients;
  /** The audit record's hash, so a receiver can match the message to the audit log. */
  auditHash: string;
  summary: string;
  /**
   * The request's page in the web console (when console.url is configured). Deliberately a link,
   * never an approve button: approving from chat would skip the console's review and step-up.
   */
  link?: string;
}

/** The console page of the request a record is about, when the console's public URL is known. */
export function requestLink(record: AuditRecord, consoleUrl: string | undefined): string | undefined {
  const request = (record.fields as { request?: unknown }).request;
  if (!consoleUrl || typeof request !== "string" || !/^rq_[a-z2-7]{16}$/.test(request)) return undefined;
  return `${consoleUrl}/console/requests/${request}`;
}

export function buildPayload(
  hook: string,
  record: AuditRecord,
  notify: Recipients,
  consoleUrl?: string,
): WebhookPayload {
  const link = requestLink(record, consoleUrl);
  return {
    ...(link ? { link } : {}),
    id: `${hook}:${record.seq}`,
    event: record.type,
    seq: record.seq,
    time: record.time,
    actor: record.actor,
    fields: record.fields,
    notify,
    auditHash: record.hash,
    summary: summarize(record),
  };
}

interface OpenStageField {
  stage?: string;
  missing?: number;
  groups?: string[];
  bots?: string[];
  canClose?: string[];
}

/** "; still open: leads (1 more: dave, erin), security (1 more: frank)" from a record's openStages. */
function openText(f: Record<string, unknown>): string {
  if (!Array.isArray(f.openStages) || f.openStages.length === 0) return "";
  const parts = (f.openStages as OpenStageField[]).map((o) => {
    const who = [...(o.canClose ?? []), ...(o.bots ?? []).map((b) => `bot:${b}`)];
    return `${o.stage} (${o.missing} more${who.length ? `: ${who.join(", ")}` : ` from ${(o.groups ?? []).join(" or ")}`})`;
  });
  return `; still open: ${parts.join(", ")}`;
}

/** One human sentence per event, used as the Slack text and in the JSON payload. */
export function summarize(record: AuditRecord): string {
  const f = record.fields as Record<string, unknown>;
  const str = (k: string) =>
    typeof f[k] === "string" ? (f[k] as string) : Array.isArray(f[k]) ? (f[k] as string[]).join(", ") : "?";
  const access = formatDuration(Number(f.ttlSeconds ?? 0));
  switch (record.type) {
    case "request.created":
      // The access asked for and the time it waits for approval are two things: both are said.
      return `${record.actor} requests ${str("role")} on ${str("hosts")} for ${access} of access${f.start ? ` from ${str("start")}` : ""}; waits for approval until ${str("expiresAt")}: "${str("reason")}"${openText(f)}${f.reviewers ? `; suggested reviewers: ${str("reviewers")}` : ""}. Approve with: sshca approve ${str("request")}`;
    case "request.approved":
      return `${record.actor} approved ${str("request")} (${str("role")} for ${str("requester")})${f.stage ? ` for stage ${str("stage")}` : ""}, ${String(f.approvals)}/${String(f.approvalsRequired)} approvals${openText(f)}`;
    case "request.break_glass":
      return `BREAK-GLASS: ${record.actor} took ${str("role")} on ${str("hosts")} for ${access} without approval: "${str("reason")}". An approver must review it: sshca review ${str("request")} --comment "..."`;
    case "request.review_reminder":
      return `break-glass ${str("request")} (${str("role")} for ${str("requester")}: "${str("reason")}") still waits for its review: sshca review ${str("request")} --comment "..."`;
    case "request.reviewed":
      return `${record.actor} reviewed break-glass ${str("request")} (${str("role")} for ${str("requester")}): ${str("comment")}`;
    case "host.drift_resolved":
      return `${record.actor} marked the drift on ${str("host")} resolved (${str("summary")}): ${str("comment")}`;
    case "request.denied":
      return `${record.actor} denied ${str("request")} (${str("role")} for ${str("requester")}): ${str("reason")}`;
    case "certificate.issued":
      return `certificate issued to ${str("requester")} for ${str("role")} on ${str("hosts")} (serial ${str("serial")}, valid until ${str("validBefore")}), approved by ${str("approvers") || "auto-approval"}`;
    case "certificate.revoked":
      return `${record.actor} revoked certificate serial ${str("serial")} of ${str("requester")}`;
    case "auth.key_registered":
      return `${record.actor} registered sign-in key ${str("keyFingerprint")} for ${str("user")}${f.via ? ` (through ${str("via")})` : ""}; if that was not ${str("user")}, remove it: sshcad user key remove ${str("user")} ${str("keyFingerprint")}`;
    case "user.disabled":
      return `${record.actor} disabled ${str("user")}: no sign-in works; waiting requests ended${f.keepCertificates ? "" : ", live certificates revoked"}`;
    case "user.removed":
      return `${record.actor} removed ${str("user")}`;
    case "request.approval_withdrawn":
      return `the approval of ${str("approver")} on ${str("request")} (${str("role")} for ${str("requester")}) no longer counts: ${str("reason")}; ${String(f.approvals)}/${String(f.approvalsRequired)} approvals`;
    case "scan.drift":
      return `exposure of ${str("host")} changed during ${str("requester")}'s access (${str("request")}): ${str("summary")}`;
    case "finding.raised":
      return `FINDING ${str("finding")} on ${str("host")}: ${str("detail")}`;
    case "session.opened":
      return `${str("login")}@${str("host")} logged in from ${str("from")} with certificate serial ${str("serial")}${f.request ? ` (${str("request")}, ${str("requester")})` : ""}`;
    default:
      return `${record.type} by ${record.actor}`;
  }
}

/** A Slack incoming-webhook message (also understood by Mattermost and Rocket.Chat). */
export function slackMessage(p: WebhookPayload): { text: string } {
  const mention = p.notify.users.length ? ` (${p.notify.users.map((u) => `@${u}`).join(" ")})` : "";
  return { text: `[sshca] ${p.summary}${mention}${p.link ? `\n${p.link}` : ""}` };
}
