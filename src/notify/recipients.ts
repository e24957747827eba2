import type { AuditRecord } from "../audit/record.js";
import { DAEMON_ACTORS } from "../config/names.js";
import type { Config } from "../config/schema.js";

/** Who a notification is for: people (user names) and the groups they were reached through. */
export interface Recipients {
  users: string[];
  groups: string[];
  /** Approvers the requester suggested: told first (they lead `users`). */
  suggested?: string[];
}

interface RequestFields {
  requester?: string;
  role?: string;
  approvers?: string[];
  approvals?: number;
  approvalsRequired?: number;
  /** The stages still open and who can close each (request.created, request.approved). */
  openStages?: { groups?: string[]; canClose?: string[] }[];
  reviewers?: string[];
}

/** Actors that are the daemon itself, not a person to tell. */
const SYSTEM_ACTORS = new Set<string>(DAEMON_ACTORS);

const ACCOUNT_EVENTS = new Set([
  "auth.factor_added",
  "auth.factor_removed",
  "auth.key_registered",
  "auth.key_removed",
  "user.disabled",
  "user.enabled",
  "user.removed",
]);

/**
 * Approvers are told when a request waits for them; everyone involved (the requester, the
 * approvers who approved, and whoever denied or revoked it) when it is issued, denied, revoked
 * or drifts. Pure: group members come from `membersOf`.
 */
export function recipientsFor(
  record: AuditRecord,
  config: Config,
  membersOf: (groups: readonly string[]) => string[],
): Recipients {
  const f = record.fields as RequestFields;
  const role = f.role !== undefined && Object.hasOwn(config.roles, f.role) ? config.roles[f.role] : undefined;
  const approvedBy = f.approvers ?? [];
  // Changes to who may sign in: the person concerned and every admin hear of them, so a key
  // added with a stolen token, or an account switched off, does not go unnoticed.
  if (ACCOUNT_EVENTS.has(record.type)) {
    const admins = config.rights.admin;
    const person = (record.fields as { user?: unknown }).user;
    const users = [...new Set([...(typeof person === "string" ? [person] : []), ...membersOf(admins)])];
    return { users, groups: [...admins] };
  }
  // A finding (a login that should not have happened, a silent host) is for the admins and
  // auditors, and for the person whose certificate it was.
  if (record.type === "finding.raised") {
    const groups = [...new Set([...config.rights.admin, ...config.rights.audit])];
    const users = [...new Set([...(typeof f.requester === "string" ? [f.requester] : []), ...membersOf(groups)])];
    return { users, groups };
  }
  const waiting =
    record.type === "request.created" ||
    record.type === "request.approval_withdrawn" ||
    (record.type === "request.approved" && (f.approvals ?? 0) < (f.approvalsRequired ?? 1));
  // A withdrawn approver (cut off) is not told; the requester and those who approved already neither.
  const skip = new Set([f.requester, ...approvedBy, (record.fields as { approver?: string }).approver]);
  if (waiting && Array.isArray(f.openStages)) {
    // Those who can close a stage still open, the suggested reviewers first.
    const open = f.openStages;
    const people = [...new Set(open.flatMap((o) => o.canClose ?? []))].filter((u) => !skip.has(u)).sort();
    const suggested = (f.reviewers ?? []).filter((u) => people.includes(u));
    const users = [...suggested, ...people.filter((u) => !suggested.includes(u))];
    const groups = [...new Set(open.flatMap((o) => o.groups ?? []))];
    return { users, groups, ...(suggested.length ? { suggested } : {}) };
  }
  if (waiting && role && !role.autoApprove) {
    return { users: membersOf(role.approvers).filter((u) => !skip.has(u)), groups: [...role.approvers] };
  }
  // Break-glass: everyone who could have approved and every auditor, at once; reminders while
  // its review is open go to those who may review it.
  if (record.type === "request.break_glass" || record.type === "request.review_reminder") {
    const groups = [
      ...new Set([...(role?.approvers ?? []), ...(record.type === "request.break_glass" ? config.rights.audit : [])]),
    ];
    return { users: membersOf(groups).filter((u) => u !== f.requester), groups };
  }
  if (record.type === "request.reviewed") {
    const users = [...new Set([f.requester, ...membersOf(config.rights.audit)].filter((u): u is string => !!u))];
    return { users, groups: [...config.rights.audit] };
  }
  if (["certificate.issued", "request.denied", "certificate.revoked", "scan.drift"].includes(record.type)) {
    const by =
      (record.type === "request.denied" || record.type === "certificate.revoked") && !SYSTEM_ACTORS.has(record.actor)
        ? [record.actor]
        : [];
    const involved = [f.requester, ...approvedBy, ...by];
    const users = [...new Set(involved.filter((u): u is string => typeof u === "string"))];
    return { users, groups: [] };
  }
  return { users: [], groups: [] };
}
