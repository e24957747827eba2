/**
 * The HTTP API contract: the JSON shapes sshcad sends and sshca reads. The CLI imports only
 * this file from src/. Field names are stable; add fields, never rename them.
 */

export type RequestStateName = "pending" | "approved" | "issued" | "denied" | "cancelled" | "expired";

export interface ApprovalView {
  approver: string;
  at: string;
  comment?: string;
  auto?: boolean;
}

export interface RequestView {
  id: string;
  state: RequestStateName;
  version: number;
  requester: string;
  role: string;
  hosts: string[];
  reason: string;
  principals: string[];
  extensions: string[];
  criticalOptions: Record<string, string>;
  ttlSeconds: number;
  keyFingerprint: string;
  digest: string;
  approvalsRequired: number;
  approvals: ApprovalView[];
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  denial?: { by: string; at: string; reason: string };
  cancellation?: { by: string; at: string };
  /** Present once issued. The certificate itself only for the requester. */
  certificate?: string;
  serial?: string;
  keyId?: string;
  validAfter?: string;
  validBefore?: string;
}

export interface CreateRequestBody {
  role: string;
  hosts: string[];
  ttl?: string | number;
  reason: string;
  publicKey: string;
}

export interface ApproveBody {
  digest: string;
  comment?: string;
}

export interface DenyBody {
  reason: string;
}

export interface CaView {
  /** The TrustedUserCAKeys line, "ssh-ed25519 AAAA...". */
  publicKey: string;
  fingerprint: string;
  signatureAlgorithm: string;
}

export interface WhoamiView {
  user: string;
  groups: string[];
  requestableRoles: string[];
  approvableRoles: string[];
  admin: boolean;
  auditor: boolean;
}

export interface PrincipalsView {
  host: string;
  /** Login user -> lines of /etc/ssh/auth_principals/<login> on that host. */
  principals: Record<string, string[]>;
}

export interface AuditRecordView {
  seq: number;
  time: string;
  actor: string;
  type: string;
  fields: Record<string, unknown>;
  prev: string;
  hash: string;
}

export interface AuditVerifyView {
  ok: boolean;
  records: number;
  segments: number;
  head: { seq: number; hash: string };
  problem?: { kind: string; seq?: number; segment: string; line: number; message: string };
}

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** Longest long-poll the server honours, in seconds. */
export const MAX_WAIT_SECONDS = 60;

/** Durations in the API ("ttl": "30m") use the same syntax as the config. */
export { formatDuration, parseDuration } from "../config/duration.js";
