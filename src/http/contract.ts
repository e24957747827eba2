/**
 * The HTTP API contract: the JSON shapes sshcad sends and sshca reads. The CLI imports only
 * this file from src/. Field names are stable; add fields, never rename them.
 */

export type RequestStateName =
  "pending" | "approved" | "blocked" | "issued" | "revoked" | "denied" | "cancelled" | "expired";

export interface ApprovalView {
  approver: string;
  at: string;
  comment?: string;
  auto?: boolean;
  /** The second factor the approval carried (roles with stepUp). */
  factor?: { kind: "sk" | "totp" | "webauthn"; factor: string; userVerified?: boolean };
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
  /** Each approval must carry a second factor bound to the digest: which kinds the role accepts. */
  stepUp?: { methods: ("sk" | "totp" | "webauthn")[]; userVerification: boolean };
  approvals: ApprovalView[];
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  denial?: { by: string; at: string; reason: string };
  cancellation?: { by: string; at: string; reason?: string };
  revocation?: { by: string; at: string; reason: string; kind: "revoke" | "relinquish" };
  /** Present once issued. The certificate itself only for the requester. */
  certificate?: string;
  serial?: string;
  keyId?: string;
  validAfter?: string;
  validBefore?: string;
  /** Pre-issue scan gate: why a request is blocked, and who overrode it. */
  gate?: { status: "passed" | "blocked"; reason?: string; override?: { by: string; at: string; reason: string } };
  /** Scans per host: at issue, the latest during the window (watch), after access (see /v1/scans/:id for the ports). */
  scans?: Record<string, { issue?: ScanSummary; during?: ScanSummary; after?: ScanSummary }>;
}

export interface ScanSummary {
  id: string;
  trigger: string;
  outcome: string;
  at: string;
  open: { port: number; protocol: string; service?: string }[];
  error?: string;
}

export interface CreateRequestBody {
  role: string;
  hosts: string[];
  ttl?: string | number;
  reason: string;
  publicKey: string;
}

/**
 * A second factor bound to the request: a security-key signature of the approval message, a TOTP
 * code, or a WebAuthn assertion (the console) over the challenge from POST /v1/requests/:id/webauthn.
 */
export type FactorBody =
  | { kind: "sk"; signature: string }
  | { kind: "totp"; code: string }
  | { kind: "webauthn"; response: Record<string, unknown> };

export interface ApproveBody {
  digest: string;
  comment?: string;
  factor?: FactorBody;
}

export interface DenyBody {
  reason: string;
}

/** One CA key to trust now. */
export interface CaKeyView {
  /** "ssh-ed25519 AAAA..." without comment. */
  publicKey: string;
  fingerprint: string;
  /** current: signs; next: staged for a rotation; previous: signed certificates that may still be live. */
  status: "current" | "next" | "previous";
}

/** GET /v1/ca (the user CA) and GET /v1/ca/host (the host CA). */
export interface CaView {
  /** The signing key: "ssh-ed25519 AAAA..." (a TrustedUserCAKeys line). */
  publicKey: string;
  fingerprint: string;
  signatureAlgorithm: string;
  /** Where its rotation stands: steady, staged, switched, staged-with-previous. */
  phase: string;
  /** Every key to trust now (TrustedUserCAKeys lines, @cert-authority keys), the signing key first. */
  keys: CaKeyView[];
  /** Fingerprints of retired keys: trust them no longer (the KRL revokes them). */
  retired: string[];
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

/** GET /v1/host/whoami: which host a host credential speaks for. */
export interface HostWhoamiView {
  host: string;
  credentialId: string;
}

/** One login or logout made with an SSH certificate, as a target host's companion saw it in sshd's log. */
export interface HostSessionEventBody {
  /** Its number in the companion's stream (increasing; an event sent again is recorded once). */
  seq: number;
  kind: "opened" | "closed";
  /** When sshd logged it (the host's clock). */
  at: string;
  /** The account logged in to on the host. */
  login: string;
  from: string;
  port: number;
  /** The certificate's serial (decimal) and key id, and the fingerprint of the CA key that signed it. */
  serial: string;
  keyId: string;
  caFingerprint: string;
}

/** POST /v1/host/report: new events of the companion's stream (none: a heartbeat). */
export interface HostReportBody {
  stream: string;
  events: HostSessionEventBody[];
}

/** The answer: events up to `through` are recorded (the companion drops them). */
export interface HostReportView {
  host: string;
  through: number;
}

/** A login seen on a host (session.opened), and its logout when that was seen too. */
export interface ReportSession {
  host: string;
  login: string;
  from: string;
  port: number;
  serial: string;
  openedAt?: string;
  closedAt?: string;
}

/** A scan of the window: at issue, during (watch), after (expiry, revoke). `open` as "22/tcp (ssh)". */
export interface ReportScan {
  scan: string;
  host: string;
  trigger: string;
  outcome: string;
  at: string;
  open: string[];
  error?: string;
  /** What changed, when the scan found drift. */
  drift?: string;
}

/** Something that should not have happened: a finding.raised record, or drift found by a scan. */
export interface ReportFinding {
  /** revoked_certificate, expired_certificate, host_outside_request, foreign_certificate, host_silent, drift. */
  finding: string;
  at: string;
  host: string;
  detail: string;
}

/** GET /v1/reports/requests/:id: one access window on one timeline (sshca report ID). */
export interface ReportView {
  request: {
    id: string;
    requester: string;
    role: string;
    hosts: string[];
    principals: string[];
    reason: string;
    ttlSeconds: number;
    createdAt: string;
  };
  /** Where the request ended up (expired: a pending request that ran out, or a certificate past validBefore). */
  state: "pending" | "approved" | "issued" | "revoked" | "denied" | "cancelled" | "expired";
  approvals: {
    approver: string;
    at: string;
    comment?: string;
    factor?: string;
    userVerified?: boolean;
    auto?: boolean;
  }[];
  certificate?: {
    serial: string;
    keyId: string;
    principals: string[];
    validAfter: string;
    validBefore: string;
    issuedAt: string;
  };
  sessions: ReportSession[];
  scans: ReportScan[];
  ended?: {
    kind: "revoked" | "relinquished" | "expired" | "denied" | "cancelled";
    at: string;
    by?: string;
    reason?: string;
  };
  findings: ReportFinding[];
  timeline: { seq: number; time: string; type: string; actor: string; summary: string }[];
}

/** GET /v1/reports?since=7d: per user and host, for auditors (sshca report --since 7d). */
export interface ReportSummaryView {
  since: string;
  until: string;
  rows: { user: string; host: string; windows: number; logins: number; findings: number }[];
  findings: (ReportFinding & { request?: string; user?: string })[];
  /** More records matched than one summary reads: narrow the period. */
  truncated?: boolean;
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

/** GET /v1/audit: newest page first; each page oldest first; `cursor` (opaque) asks for the page before. */
export interface AuditPageView {
  records: AuditRecordView[];
  cursor?: string;
}

export interface AuditVerifyView {
  ok: boolean;
  records: number;
  segments: number;
  head: { seq: number; hash: string };
  problem?: { kind: string; seq?: number; segment: string; line: number; message: string };
}

export interface PortView {
  port: number;
  protocol: string;
  state: string;
  service?: string;
  product?: string;
  version?: string;
}

export interface ScanView {
  id: string;
  request?: string;
  host: string;
  address: string;
  trigger: "issue" | "watch" | "expiry" | "revoke" | "manual";
  startedAt: string;
  durationMs: number;
  nmapVersion: string;
  args: string[];
  outcome: "ok" | "failed" | "timeout";
  error?: string;
  ports: PortView[];
  extraPorts: { state: string; count: number }[];
  expectedPorts: number[];
  /** True when the drift below is worth an alert (changed during access, or open but not expected). */
  driftFound?: boolean;
  drift?: {
    newlyOpen: PortView[];
    newlyClosed: PortView[];
    serviceChanged: { before: PortView; after: PortView }[];
    unexpectedOpen: PortView[];
    expectedClosed: number[];
    baseline?: string;
  };
}

export interface OverrideBody {
  digest: string;
  reason: string;
  factor?: FactorBody;
}

/** A second factor as its owner sees it. */
export interface FactorView {
  id: string;
  kind: "sk" | "totp" | "webauthn";
  /** webauthn: the name given at registration. */
  name?: string;
  addedAt: string;
  confirmed: boolean;
  fingerprint?: string;
}

/** One access window of a requester (GET /v1/requests/:id/windows): an issued certificate and how it ended. */
export interface WindowView {
  request: string;
  role: string;
  hosts: string[];
  principals: string[];
  serial: string;
  issuedAt: string;
  validAfter: string;
  validBefore: string;
  approvers: string[];
  ended?: { kind: "revoke" | "relinquish"; by: string; at: string; reason: string };
  /** A scan after the window found the host's exposure changed. */
  drift: boolean;
}

/** GET /v1/console/session: who is signed in to the console, and the CSRF token for changes. */
export interface ConsoleSessionView {
  user: string;
  expiresAt: string;
  csrf: string;
  /** Signed in within the last 10 minutes (may add a second factor). */
  fresh: boolean;
}

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** Longest long-poll the server honours, in seconds. */
export const MAX_WAIT_SECONDS = 60;

/** Durations in the API ("ttl": "30m") use the same syntax as the config. */
export { formatDuration, parseDuration } from "../config/duration.js";

/** TLS CA fingerprints ("SHA256:<base64>") are what `sshca bootstrap --fingerprint` takes. */
export { certFingerprint, normaliseFingerprint } from "../tls/fingerprint.js";

/** GET /v1/krl answers a binary KRL (PROTOCOL.krl); clients check its magic before installing it. */
export { isKrl } from "../ca/krl.js";

/** GET /v1/auth/methods: how people sign in on this server. */
export interface AuthMethodsView {
  oidc: { issuer: string; required: boolean } | null;
  ssh: boolean;
  token: boolean;
}

/** The session a single sign-on yields (the token is shown once). */
export interface OidcSessionView {
  user: string;
  groups: string[];
  token: string;
  expiresAt: string;
}

/** POST /v1/auth/oidc/device: RFC 8628 section 3.2, as the CLI shows it. */
export interface DeviceStartView {
  flow: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  interval: number;
  expiresAt: string;
}

/** POST /v1/auth/oidc/device/poll. */
export type DevicePollView =
  { status: "pending" | "slow_down"; interval: number } | ({ status: "done" } & OidcSessionView);

/** GET /v1/known-hosts: the host CA's keys and the inventory names they vouch for. */
export interface KnownHostsView {
  /** Names and addresses of the inventory hosts (host certificate principals). */
  hosts: string[];
  /** The host CA keys to trust now (current first). */
  keys: CaKeyView[];
  retired: string[];
}

/** POST /v1/host/certificate: the certificate of one host key, and what is in it. */
export interface HostCertView {
  host: string;
  /** "ssh-ed25519-cert-v01@openssh.com AAAA..." (HostCertificate in sshd_config). */
  certificate: string;
  serial: string;
  principals: string[];
  validAfter: string;
  validBefore: string;
  caFingerprint: string;
}

/** Formatting of TrustedUserCAKeys and known_hosts lines (shared with the daemon). */
export { certAuthorityLines, knownHostsPatterns, trustedUserCaKeys } from "./trust-lines.js";
