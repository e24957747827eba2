import { assignStages, stagesOf } from "../access/stages.js";
import type { RoleConfig } from "../config/schema.js";
import type { AccessRequest, Identity } from "../domain/request.js";
import type { RequestView, StageView } from "./contract.js";

/** What a view needs beyond the request: the role (for older requests' stage) and the people of some groups. */
export interface ViewContext {
  role?: (name: string) => RoleConfig | undefined;
  membersOf?: (groups: readonly string[]) => readonly string[];
}

/** Each stage as it stands, and (while the request waits) who could close what is open. */
export function stageViews(req: AccessRequest, ctx: ViewContext = {}): StageView[] {
  const { status } = assignStages(stagesOf(req, ctx.role?.(req.role)), req.approvals);
  const waiting = req.state === "pending";
  return status.map((s) => ({
    name: s.name,
    count: s.count,
    groups: s.groups,
    bots: s.bots,
    ...(s.because ? { because: s.because } : {}),
    approvedBy: s.approvedBy,
    missing: s.missing,
    met: s.met,
    canClose:
      waiting && !s.met
        ? (ctx.membersOf?.(s.groups) ?? []).filter(
            (u) => u !== req.requester && !req.approvals.some((a) => a.approver === u),
          )
        : [],
  }));
}

/** The API view of a request. The certificate itself goes to the requester only. */
export function requestView(
  req: AccessRequest,
  viewer: Identity,
  opts: { certificate: boolean } = { certificate: true },
  ctx: ViewContext = {},
): RequestView {
  const view: RequestView = {
    id: req.id,
    state: req.state,
    version: req.version,
    requester: req.requester,
    role: req.role,
    hosts: req.hosts,
    reason: req.reason,
    principals: req.principals,
    extensions: req.extensions,
    criticalOptions: req.criticalOptions,
    ttlSeconds: req.ttlSeconds,
    accessSeconds: req.ttlSeconds,
    keyFingerprint: req.keyFingerprint,
    digest: req.digest,
    approvalsRequired: req.approvalsRequired,
    approvals: req.approvals.map(({ approver, at, comment, auto, factor, stage, bot }) => ({
      approver,
      at,
      ...(comment ? { comment } : {}),
      ...(auto ? { auto } : {}),
      ...(factor ? { factor } : {}),
      ...(stage ? { stage } : {}),
      ...(bot ? { bot } : {}),
    })),
    stages: stageViews(req, ctx),
    ...(req.stepUp ? { stepUp: req.stepUp } : {}),
    createdAt: req.createdAt,
    updatedAt: req.updatedAt,
    expiresAt: req.expiresAt,
  };
  if (req.start) view.start = req.start;
  if (req.breakGlass) view.breakGlass = { review: req.breakGlass.review };
  if (req.reviewers) view.reviewers = req.reviewers;
  if (req.singleUse) view.singleUse = true;
  if (req.bots) view.bots = req.bots;
  if (req.denial) view.denial = req.denial;
  if (req.gate) view.gate = req.gate;
  if (req.scans) view.scans = req.scans;
  if (req.cancellation) view.cancellation = req.cancellation;
  if (req.revocation) view.revocation = req.revocation;
  if (req.cert) {
    if (opts.certificate && viewer.user === req.requester) view.certificate = req.cert.certificate;
    view.serial = req.cert.serial;
    view.keyId = req.cert.keyId;
    view.validAfter = req.cert.validAfter;
    view.validBefore = req.cert.validBefore;
  }
  return view;
}
