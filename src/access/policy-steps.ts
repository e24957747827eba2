import type { AccessRequest, BotAnswer } from "../domain/request.js";
import { markReminded } from "./break-glass.js";
import type { Step } from "./issuance.js";
import type { SessionClosed } from "./single-use.js";
import { botActor, type OpenStage } from "./stages.js";
import { autoApprove, decideBotApproval, recordBotAnswer } from "./transitions.js";

/**
 * The audit steps of the approval policy's changes, built from decisions already made (pure): the
 * access service commits them. Every record names what it decided on, so the audit log and the
 * webhooks tell the whole story without the live state.
 */

/** request.created: what is asked, the pending lifetime (distinct from the access), the stages still open. */
export function createdStep(req: AccessRequest, actor: string, open: OpenStage[] | undefined): Step {
  return {
    req,
    from: null,
    type: "request.created",
    actor,
    fields: {
      hosts: req.hosts,
      principals: req.principals,
      ttlSeconds: req.ttlSeconds,
      reason: req.reason,
      keyFingerprint: req.keyFingerprint,
      digest: req.digest,
      approvalsRequired: req.approvalsRequired,
      // How long it waits for approvals; the access is ttlSeconds (from start when scheduled).
      expiresAt: req.expiresAt,
      ...(req.start ? { start: req.start } : {}),
      ...(req.reviewers ? { reviewers: req.reviewers } : {}),
      ...(req.breakGlass ? { breakGlass: true } : {}),
      ...(req.singleUse ? { singleUse: true } : {}),
      ...(open ? { openStages: open } : {}),
    },
  };
}

/**
 * A request issued without people: the role's autoApprove switch, or break-glass (announced to
 * every approver, named in `reviewers`, and every auditor). Never silent: its own audit record.
 */
export function issueNowStep(
  req: AccessRequest,
  kind: "auto-approve" | "break-glass",
  actor: string,
  at: Date,
  reviewers: string[],
): Step {
  if (kind === "auto-approve")
    return {
      req: autoApprove(req, at),
      type: "request.auto_approved",
      actor: "sshcad",
      fields: { digest: req.digest },
    };
  return {
    req: { ...req, state: "approved", version: req.version + 1, updatedAt: at.toISOString() },
    type: "request.break_glass",
    actor,
    fields: { digest: req.digest, hosts: req.hosts, reason: req.reason, ttlSeconds: req.ttlSeconds, reviewers },
  };
}

/** The fields of a request.approved record (a person's or a bot's). */
export function approvedFields(request: AccessRequest, stage: string, open: OpenStage[]): Record<string, unknown> {
  return {
    digest: request.digest,
    approvals: request.approvals.length,
    approvalsRequired: request.approvalsRequired,
    approvers: request.approvals.map((a) => a.approver),
    stage,
    openStages: open,
  };
}

/** What an approver bot said (see src/bots/). */
export interface BotOutcome {
  answer: "approve" | "decline" | "error";
  comment?: string;
  error?: string;
  durationMs: number;
}

/**
 * A bot's answer, audited whatever it was (request.bot_answered), and its yes as an approval by
 * bot:NAME when a stage takes it; `complete` when that met every stage.
 */
export function botSteps(
  base: AccessRequest,
  bot: string,
  outcome: BotOutcome,
  now: Date,
  open: (req: AccessRequest) => OpenStage[],
): { steps: Step[]; approved?: { request: AccessRequest; complete: boolean } } {
  const answer: BotAnswer = {
    at: now.toISOString(),
    answer: outcome.answer,
    ...(outcome.comment ? { comment: outcome.comment } : {}),
    ...(outcome.error ? { error: outcome.error } : {}),
  };
  const answered = recordBotAnswer(base, bot, answer, now);
  const actor = botActor(bot);
  const decided = outcome.answer === "approve" ? decideBotApproval(answered, bot, outcome.comment, now) : undefined;
  const steps: Step[] = [
    {
      req: answered,
      from: base,
      type: "request.bot_answered",
      actor,
      fields: {
        bot,
        answer: outcome.answer,
        durationMs: outcome.durationMs,
        ...(outcome.comment ? { comment: outcome.comment } : {}),
        ...(outcome.error ? { error: outcome.error } : {}),
        ...(decided && !decided.ok ? { counted: false, why: decided.reason } : {}),
      },
    },
  ];
  if (!decided?.ok) return { steps };
  const { request, stage, complete } = decided.value;
  steps.push({
    req: request,
    type: "request.approved",
    actor,
    fields: { ...approvedFields(request, stage, open(request)), bot },
  });
  return { steps, approved: { request, complete } };
}

/** certificate.revoked for a single-use certificate whose first session closed. */
export function singleUseStep(req: AccessRequest, revoked: AccessRequest, ev: SessionClosed): Step {
  return {
    req: revoked,
    from: req,
    type: "certificate.revoked",
    actor: "sshcad",
    fields: {
      serial: req.cert?.serial,
      keyId: req.cert?.keyId,
      kind: "single-use",
      reason: revoked.revocation?.reason,
      validBefore: req.cert?.validBefore,
      approvers: req.approvals.map((a) => a.approver),
      host: ev.host,
      sessionRecord: ev.seq,
    },
  };
}

/** request.review_reminder: a break-glass request still waits for its review. */
export function reminderStep(req: AccessRequest, now: Date, reviewers: string[]): Step {
  return {
    req: markReminded(req, now),
    from: req,
    type: "request.review_reminder",
    actor: "sshcad",
    fields: { serial: req.cert?.serial, reason: req.reason, reviewers },
  };
}
