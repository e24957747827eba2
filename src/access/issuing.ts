import { resolveIdentity } from "../auth/identity.js";
import type { SubjectKey } from "../ca/subject-key.js";
import type { AccessRequest } from "../domain/request.js";
import { isSshcaError, SshcaError } from "../errors.js";
import { prepareIssuance, type Step } from "./issuance.js";
import type { RequestLedger } from "./ledger.js";

/**
 * Signs the certificate of an approved request; the issuance record is durable before anything
 * else sees it. `before` are steps committed in the same batch (the request's creation, why it
 * issues at once); `delivered` audits the hand-over too (certificate.fetched) when this call's
 * answer carries the certificate. The caller holds the request's lock.
 */
export async function issue(
  ledger: RequestLedger,
  req: AccessRequest,
  subject?: SubjectKey,
  before: Step[] = [],
  delivered = false,
): Promise<AccessRequest> {
  if (req.state !== "approved") return req;
  const { deps } = ledger;
  const config = deps.config();
  // A gated role issues only after its pre-issue scan passed (or an approver overrode it);
  // the scanner calls applyScan, which comes back here.
  if (
    config.roles[req.role]?.scanOnIssue === "gate" &&
    req.breakGlass === undefined &&
    req.gate?.status !== "passed" &&
    !req.gate?.override
  ) {
    if (before.length) await ledger.commit(...before);
    return req;
  }
  const step = await prepareIssuance(req, {
    config,
    signer: await deps.ca.signer(),
    now: deps.now(),
    random: deps.random,
    identityOf: (user) => resolveIdentity(config, deps.storage.state, user),
    ...(subject ? { subject } : {}),
  });
  const fetched: Step[] =
    delivered && step.req.cert
      ? [
          {
            req: step.req,
            type: "certificate.fetched",
            actor: step.req.requester,
            fields: { serial: step.req.cert.serial },
          },
        ]
      : [];
  await ledger.commit(...before, { ...step, from: req }, ...fetched);
  return step.req;
}

/** Issues, turning an unavailable audit log into a 503 that says what did happen. */
export async function issueOr503(ledger: RequestLedger, req: AccessRequest, done: string): Promise<AccessRequest> {
  try {
    return await issue(ledger, req);
  } catch (err) {
    if (isSshcaError(err) && err.code === "unavailable") {
      throw new SshcaError("unavailable", `${done}, but the certificate could not be issued yet: ${err.message}`);
    }
    throw err;
  }
}
