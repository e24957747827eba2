import type { AccessRequest, Identity, RevokedSerial } from "../domain/request.js";
import { unwrap } from "../domain/decision.js";
import { fail, safeErr, SshcaError } from "../errors.js";
import type { RequestLedger } from "./ledger.js";
import { type CutOffOptions, cutOffStep } from "./offboarding.js";
import { isAdmin, isApprover } from "./policy.js";
import { singleUseStep } from "./policy-steps.js";
import { stillRevocable } from "./revoked.js";
import { decideSingleUse, type SessionClosed } from "./single-use.js";
import { decideRevocation } from "./transitions.js";
import { visibleRequest } from "./viewing.js";

/**
 * Access that ends before its certificate expires: revoked by an approver or admin, relinquished
 * by its owner, cut off with its user, or used up (single use). Each is audited, then the KRL is
 * rebuilt; target hosts refuse the certificate once they have it.
 */

/**
 * Revokes a certificate (by serial or request id): approvers of its role and admins. The
 * revocation is audited, then the KRL is rebuilt before this returns.
 *
 * By serial, whoever may not revoke the certificate gets exactly the answer an unknown serial
 * gets: a serial is all they know, and the answer must not tell them that it exists, which
 * request it belongs to, or whose it is.
 */
export async function revoke(
  ledger: RequestLedger,
  identity: Identity,
  target: { serial?: string; request?: string },
  reason: string,
): Promise<AccessRequest> {
  if (target.request !== undefined) return endEarly(ledger, identity, target.request, "revoke", reason);
  const req = ledger.liveRequests().find((r) => r.cert?.serial === target.serial);
  if (!req || !mayRevoke(ledger, identity, req)) {
    throw fail.notFound(
      `no live certificate with serial ${target.serial} that you may revoke (approvers of its role and admins may; an expired certificate needs no revocation)`,
    );
  }
  return endEarly(ledger, identity, req.id, "revoke", reason);
}

/** The requester ends their own access before the certificate expires. */
export function relinquish(ledger: RequestLedger, identity: Identity, id: string): Promise<AccessRequest> {
  return endEarly(ledger, identity, id, "relinquish", "relinquished by its owner");
}

/** Approvers of the request's role and admins may revoke its certificate. */
function mayRevoke(ledger: RequestLedger, identity: Identity, req: AccessRequest): boolean {
  const config = ledger.deps.config();
  const role = config.roles[req.role];
  return isAdmin(config, identity) || (role !== undefined && isApprover(role, identity));
}

async function endEarly(
  ledger: RequestLedger,
  identity: Identity,
  id: string,
  kind: "revoke" | "relinquish",
  reason: string,
): Promise<AccessRequest> {
  return ledger.locked(id, async () => {
    const req = visibleRequest(ledger, identity, id);
    const may = mayRevoke(ledger, identity, req);
    const revoked = unwrap(decideRevocation(req, identity, kind, may, reason, ledger.deps.now()));
    await ledger.commit({
      req: revoked,
      from: req,
      type: "certificate.revoked",
      actor: identity.user,
      fields: {
        serial: req.cert?.serial,
        keyId: req.cert?.keyId,
        kind,
        reason,
        validBefore: req.cert?.validBefore,
        approvers: req.approvals.map((a) => a.approver),
      },
    });
    try {
      await ledger.deps.publishRevocations?.();
    } catch (err) {
      throw new SshcaError(
        "unavailable",
        `revocation recorded, but the KRL could not be written (${safeErr(err).message}); it is retried every minute`,
      );
    }
    return revoked;
  });
}

/**
 * The first session of a single-use certificate closed (a session.closed record): the
 * certificate is revoked (audited, kind single-use), the KRL rebuilt; the post-access scan
 * follows from the revoked state. Anything else a close may be about is left as it is.
 */
export async function sessionClosed(ledger: RequestLedger, ev: SessionClosed): Promise<AccessRequest | undefined> {
  if (ev.request === undefined) return undefined;
  const id = ev.request;
  const ended = await ledger.locked(id, async () => {
    const req = ledger.get(id);
    const decided = decideSingleUse(req, ev, ledger.deps.now());
    if (!decided.ok || !req) return undefined;
    await ledger.commit(singleUseStep(req, decided.value, ev));
    return decided.value;
  });
  // A KRL that cannot be written now is written by the minute's refresh.
  if (ended)
    await ledger.deps.publishRevocations?.().catch((err) => {
      ledger.deps.log.error(
        { err: safeErr(err), request: id },
        "single use: KRL not written yet; retried every minute",
      );
    });
  return ended;
}

/**
 * Cuts a user off (disabled or removed): their waiting requests end, their approvals of
 * others' waiting requests stop counting, their live certificates are revoked unless the
 * operator keeps them, and every long-poll they hold answers now (and is refused, since the
 * caller re-checks the credential). Each change is its own audited commit; the KRL is
 * published once at the end. Returns what changed.
 */
export async function cutOff(
  ledger: RequestLedger,
  user: string,
  opts: CutOffOptions,
): Promise<{ cancelled: string[]; withdrawn: string[]; revoked: string[] }> {
  const done = { cancelled: [] as string[], withdrawn: [] as string[], revoked: [] as string[] };
  const touches = (r: AccessRequest) => r.requester === user || r.approvals.some((a) => a.approver === user);
  for (const { id } of ledger.liveRequests().filter(touches)) {
    await ledger.locks.run(id, async () => {
      const current = ledger.get(id);
      const step = current && cutOffStep(current, user, opts, ledger.deps.now());
      if (!step) return;
      await ledger.commit({ ...step, from: current });
      const kind =
        step.type === "certificate.revoked" ? "revoked" : step.type === "request.cancelled" ? "cancelled" : "withdrawn";
      done[kind].push(id);
    });
  }
  ledger.watch.wakeUser(user);
  if (done.revoked.length > 0) {
    try {
      await ledger.deps.publishRevocations?.();
    } catch (err) {
      throw new SshcaError(
        "unavailable",
        `certificates of ${user} recorded as revoked, but the KRL could not be written (${safeErr(err).message}); it is retried every minute`,
      );
    }
  }
  return done;
}

/**
 * What to put in the KRL: revoked certificates (serial and the CA key that signed each) until
 * their validBefore plus the clock-skew margin, from the revoked collection (its requests may
 * have left the live state already).
 */
export function revokedEntries(ledger: RequestLedger, now: Date): RevokedSerial[] {
  return Object.values(ledger.deps.storage.state.revoked).filter((r) => stillRevocable(r, now));
}

/** State written before revoked serials had their own collection: adopt them (once, at start). */
export async function adoptRevoked(ledger: RequestLedger): Promise<void> {
  const changes = ledger.liveRequests().flatMap((req) => ledger.revokedChange(req));
  if (changes.length > 0) await ledger.deps.storage.commit([], changes);
}
