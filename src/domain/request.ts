import type { ScanRef } from "./scan.js";

/** The domain of access requests: plain data, stored in the live state and sent over the API. */

/** Second factors for step-up approvals: a FIDO key through ssh-keygen, TOTP, or WebAuthn in the console. */
export type FactorKind = "sk" | "totp" | "webauthn";

/** Who is calling, after authentication. */
export interface Identity {
  user: string;
  groups: readonly string[];
}

/**
 * pending   waiting for approvals
 * approved  approvals complete; the certificate is being issued (after the pre-issue scan for
 *           roles with scanOnIssue: gate, or once a failed issuance is retried)
 * blocked   the pre-issue scan found unexpected open ports or failed; an approver may override
 * issued    certificate signed and delivered to the requester
 * revoked   certificate revoked (or relinquished by its owner) before it expired; in the KRL
 * denied | cancelled | expired   ended before issuance
 */
export type RequestState =
  "pending" | "approved" | "blocked" | "issued" | "revoked" | "denied" | "cancelled" | "expired";

export interface Approval {
  /** A user name, or "bot:NAME" for an approver bot's yes. */
  approver: string;
  at: string;
  /** The request digest the approver saw and approved. */
  digest: string;
  comment?: string;
  /** True when the role's autoApprove switch stood in for a person. */
  auto?: boolean;
  /** The second factor the approval carried (roles with stepUp), checked against this digest. */
  factor?: { kind: FactorKind; factor: string; userVerified?: boolean };
  /** The approver's groups when they approved: which stages they could count for (see stages.ts). */
  groups?: string[];
  /** The stage this approval counts for (recomputed on every approval; see stages.ts). */
  stage?: string;
  /** An approver bot's name, when its yes is this approval. */
  bot?: string;
}

/**
 * One approval stage: `count` distinct approvers from `groups` (a person counts for one stage
 * only, the requester for none). Bots named here may approve too, but never as the only approval
 * of the stage unless `botAlone` says so. A role without stages has one, named "approvers".
 */
export interface StageRule {
  name: string;
  groups: string[];
  count: number;
  bots?: string[];
  botAlone?: boolean;
  /** Why sshcad added this stage to the request (a host's scan: see scan-aware.ts). */
  because?: string;
}

/** An approver bot's answer, kept with the request (the full exchange is in the audit log). */
export interface BotAnswer {
  at: string;
  answer: "approve" | "decline" | "error";
  comment?: string;
  error?: string;
}

/** A break-glass request is issued at once and waits for an approver's review afterwards. */
export type BreakGlassReview = { status: "open" } | { status: "done"; by: string; at: string; comment: string };

/** What was signed, once issued. */
export interface IssuedCert {
  certificate: string;
  /** 64-bit serial as a decimal string (JSON numbers cannot hold it). */
  serial: string;
  keyId: string;
  validAfter: string;
  validBefore: string;
  caFingerprint: string;
}

/** Exactly what the certificate will contain; the digest is computed over this. */
export interface Grant {
  role: string;
  hosts: string[];
  principals: string[];
  extensions: string[];
  criticalOptions: Record<string, string>;
  ttlSeconds: number;
  approvalsRequired: number;
  autoApprove: boolean;
  pendingTtlSeconds: number;
  /** The requester's reason, trimmed. */
  reason: string;
  /** The role asks each approval for a second factor (see step-up.ts); not part of the digest. */
  stepUp?: { methods: FactorKind[]; userVerification: boolean };
  /** The approval stages this request must pass (empty: auto-approved or break-glass). */
  stages: StageRule[];
  /** Issued at once without approval, reviewed afterwards (the role's breakGlass). */
  breakGlass?: boolean;
  /** The certificate is revoked when the first session with it closes (the role's singleUse). */
  singleUse?: boolean;
  /** A scheduled window: the certificate is valid from here (ISO time); part of the digest. */
  start?: string;
}

/**
 * A revoked certificate as the KRL needs it, kept in its own live-state collection so that it
 * stays in the KRL for as long as the certificate could be accepted, independent of how long
 * its request stays (requests.keepFinished).
 */
export interface RevokedSerial {
  /** 64-bit serial as a decimal string. */
  serial: string;
  validBefore: string;
  caFingerprint: string;
}

/** How a certificate ended early. */
export type RevocationKind = "revoke" | "relinquish" | "single-use";

export interface AccessRequest {
  id: string;
  /** Increases on every change; long-polling clients wait for it to move. */
  version: number;
  state: RequestState;
  requester: string;
  role: string;
  hosts: string[];
  reason: string;
  publicKey: string;
  keyFingerprint: string;
  ttlSeconds: number;
  principals: string[];
  extensions: string[];
  criticalOptions: Record<string, string>;
  approvalsRequired: number;
  autoApprove: boolean;
  /** Each approval needs a second factor bound to the digest (the role's rule when asked). */
  stepUp?: { methods: FactorKind[]; userVerification: boolean };
  digest: string;
  createdAt: string;
  updatedAt: string;
  /** A pending request expires at this time. */
  expiresAt: string;
  approvals: Approval[];
  denial?: { by: string; at: string; reason: string };
  cancellation?: { by: string; at: string; reason?: string };
  cert?: IssuedCert;
  /**
   * Revoked by an approver or admin, relinquished early by the requester, or ended by the close of
   * the first session of a single-use certificate.
   */
  revocation?: { by: string; at: string; reason: string; kind: RevocationKind };
  /**
   * Scans of each host: at issue, the latest while the certificate is live (roles or hosts with
   * `watch`; each one is in the audit log), and after access (expiry, revocation).
   */
  scans?: Record<string, { issue?: ScanRef; during?: ScanRef; after?: ScanRef }>;
  /** The pre-issue scan gate (roles with scanOnIssue: gate). */
  gate?: { status: "passed" | "blocked"; reason?: string; override?: { by: string; at: string; reason: string } };
  /** The approval stages (absent on requests made before stages existed: one stage of the role's approvers). */
  stages?: StageRule[];
  /** A scheduled window: the certificate is valid from this time (approvals may come before). */
  start?: string;
  /** Break-glass: issued without approval; open until an approver reviews it. */
  breakGlass?: { review: BreakGlassReview; remindedAt?: string };
  /** People the requester suggested as approvers (told first). */
  reviewers?: string[];
  /** Access lasts one session: revoked when the first session with the certificate closes. */
  singleUse?: boolean;
  /** Approver bots' answers, by bot name. */
  bots?: Record<string, BotAnswer>;
}

/** What an approver's second factor proved, after its signature or code was checked. */
export interface FactorEvidence {
  kind: FactorKind;
  /** The enrolled factor's id. */
  factor: string;
  /** sk and webauthn: the authenticator verified the user (PIN, biometric), flag 0x04 (UV). */
  userVerified?: boolean;
}
