import { resolveIdentity } from "../auth/identity.js";
import { randomBase32 } from "../auth/tokens.js";
import { parseSubjectKey } from "../ca/subject-key.js";
import { unwrap } from "../domain/decision.js";
import type { AccessRequest, Identity } from "../domain/request.js";
import { issue } from "./issuing.js";
import type { RequestLedger } from "./ledger.js";
import { type LoginAsk, planRequest } from "./plan.js";
import { createdStep, issueNowStep } from "./policy-steps.js";
import { openStages } from "./stages.js";

export interface NewRequestInput extends LoginAsk {
  publicKey: string;
}

/**
 * A login: reuses a live certificate that covers the same role, hosts and key, or makes a
 * request (see plan.ts for every rule it passes). Auto-approved and break-glass requests are
 * issued at once, each audited as such.
 */
export async function login(
  ledger: RequestLedger,
  identity: Identity,
  input: NewRequestInput,
): Promise<{ req: AccessRequest; reused: boolean }> {
  const { deps } = ledger;
  const subject = parseSubjectKey(input.publicKey);
  const config = deps.config();
  const plan = unwrap(
    planRequest({
      config,
      identity,
      ask: input,
      subject,
      id: `rq_${randomBase32(deps.random, 16)}`,
      now: deps.now(),
      live: ledger.requestsOf(identity.user, subject.fingerprint),
      hostStatus: (h) => deps.hostStatus?.(h),
      membersOf: ledger.members,
      identityOf: (u) => resolveIdentity(config, deps.storage.state, u),
    }),
  );
  if (plan.kind === "reuse") {
    const live = plan.req;
    // No new request: the new reason is audited with the certificate it reuses.
    await deps.storage.append("certificate.reused", identity.user, {
      request: live.id,
      requester: live.requester,
      role: live.role,
      serial: live.cert?.serial,
      validBefore: live.cert?.validBefore,
      reason: input.reason.trim(),
    });
    return { req: live, reused: true };
  }
  const req = plan.req;
  const kind = plan.issueNow;
  const role = config.roles[req.role];
  const created = createdStep(req, identity.user, kind ? undefined : openStages(req, role, ledger.members));
  return ledger.locked(req.id, async () => {
    if (kind === undefined) {
      await ledger.commit(created);
      return { req, reused: false };
    }
    // Break-glass is announced to everyone who could have approved (not the requester).
    const approvers = ledger.members(role?.approvers ?? []).filter((u) => u !== req.requester);
    const why = issueNowStep(req, kind, identity.user, deps.now(), approvers);
    // The answer to this call hands the certificate to the requester: that delivery is
    // audited in the same batch (certificate.fetched).
    return { req: await issue(ledger, why.req, subject, [created, why], true), reused: false };
  });
}
