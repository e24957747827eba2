import type { Logger } from "pino";
import type { AuditType } from "../audit/record.js";
import { resolveIdentity } from "../auth/identity.js";
import { randomBase32 } from "../auth/tokens.js";
import type { CaSigner } from "../ca/signer.js";
import { parseSubjectKey, type SubjectKey } from "../ca/subject-key.js";
import type { Config } from "../config/schema.js";
import { fail, isSshcaError, SshcaError, safeErr } from "../errors.js";
import { type Change, put, remove, retryStale, type Storage } from "../store/port.js";
import type { Collection } from "../store/state.js";
import { unwrap } from "../domain/decision.js";
import { prepareIssuance, type Step } from "./issuance.js";
import { KeyedMutex } from "../store/keyed-mutex.js";
import { type AccessAsk, decideAsk, isAdmin, isApprover, isAuditor } from "./policy.js";
import { Deadlines, type DueAt } from "./deadlines.js";
import type { FactorInput, Factors } from "../auth/factors/factors.js";
import { type CutOffOptions, cutOffStep } from "./offboarding.js";
import type { FactorEvidence, RevokedSerial } from "../domain/request.js";
import { decideStepUp } from "./step-up.js";
import { isFinished, sweepAt } from "./retention.js";
import { prunableRevoked, revokedEntry, stillRevocable } from "./revoked.js";
import {
  autoApprove,
  blockRequest,
  decideApproval,
  decideOverride,
  decideRevocation,
  passGate,
  recordScan,
  type ScanSlot,
  decideCancel,
  decideDenial,
  expireIfDue,
  newRequest,
} from "./transitions.js";
import type { AccessRequest, Identity } from "../domain/request.js";
import { decideGate } from "./gate.js";
import type { ScanRef } from "../domain/scan.js";
import { RequestWatch } from "./watch.js";

export interface AccessDeps {
  config: () => Config;
  storage: Storage;
  /** The user CA: its signing key at the moment of each signature (rotation switches it). */
  ca: { signer(): Promise<CaSigner> };
  now: () => Date;
  random: (n: number) => Buffer;
  log: Logger;
  /** Whether a finished request's after-work (the expiry scan) is done; absent means yes. */
  expiryWorkDone?: (req: AccessRequest) => boolean;
  /** Publishes the KRL after a revocation (resolves once the files are replaced). */
  publishRevocations?: () => Promise<void>;
  /** Second factors of approvers (roles with stepUp). */
  factors?: Factors;
}

/** Listeners told about every committed change (notifications, scans). */
/** How long the sweeping replica holds its lease (it renews it every sweep, every second). */
const SWEEP_LEASE_MS = 5000;

/** What happened to a request: its audit event here, or "changed elsewhere" (another replica). */
export type ChangeEvent = AuditType | "changed elsewhere";
export type ChangeListener = (req: AccessRequest, event: ChangeEvent) => void;

export interface NewRequestInput extends AccessAsk {
  publicKey: string;
}

/**
 * Orchestrates the life of a request: pure decisions from policy/transitions, then the side
 * effects in a fixed order — audit (durable) first, then live state, then announcements.
 * A change that cannot be audited does not happen; a certificate whose issuance record is not
 * on disk is never stored or returned.
 */
export class AccessService {
  readonly watch = new RequestWatch();
  private readonly locks = new KeyedMutex();
  private readonly listeners: ChangeListener[] = [];
  private readonly indexes: Deadlines[] = [];
  /** What the sweep has to look at, by when (so a sweep does not walk every live request). */
  private readonly sweepDue: Deadlines;

  constructor(private readonly deps: AccessDeps) {
    this.sweepDue = this.deadlines((req, config) => sweepAt(req, config.requests.keepFinished));
  }

  /** State written before revoked serials had their own collection: adopt them (once, at start). */
  async adoptRevoked(): Promise<void> {
    const changes = this.liveRequests().flatMap((req) => this.revokedChange(req));
    if (changes.length > 0) await this.deps.storage.commit([], changes);
  }

  /** A revoked request's serial goes into the revoked collection, which the KRL is built from. */
  private revokedChange(req: AccessRequest): Change[] {
    const entry = revokedEntry(req);
    return entry && !Object.hasOwn(this.deps.storage.state.revoked, entry.serial)
      ? [put("revoked", entry.serial, entry)]
      : [];
  }

  /** A due-time index over the live requests, kept current by every change made here. */
  deadlines(dueAt: DueAt): Deadlines {
    const index = new Deadlines({
      dueAt,
      config: this.deps.config,
      now: this.deps.now,
      all: () => this.liveRequests(),
    });
    this.indexes.push(index);
    return index;
  }

  /**
   * Runs `fn` holding the request's lock; when what it decided on changed meanwhile (another
   * replica), it runs again on the fresh state.
   */
  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return retryStale(() => this.locks.run(id, fn));
  }

  /** Updates the indexes derived from a request that was just stored. */
  private track(req: AccessRequest): void {
    for (const index of this.indexes) index.track(req);
  }

  /**
   * Another replica changed these entries (PostgreSQL): the due-time indexes follow, waiting
   * long-polls and event streams wake (an approval on B answers a CLI waiting on A), a user
   * whose account or credentials changed has their waits re-checked, and revocations reach
   * this replica's KRL.
   */
  async changedElsewhere(changed: readonly { collection: Collection; key: string }[]): Promise<void> {
    let revocations = false;
    for (const { collection, key } of changed) {
      if (collection === "requests") {
        const req = this.get(key);
        if (req) this.track(req);
        else for (const index of this.indexes) index.forget(key);
        this.watch.changed(key);
        if (req) this.announce(req, "changed elsewhere");
      } else if (collection === "revoked") {
        revocations = true;
      } else if (collection === "users") {
        this.watch.wakeUser(key);
      } else if (collection === "tokens" || collection === "sshKeys") {
        const owner = (this.deps.storage.state[collection] as Record<string, { user: string }>)[key]?.user;
        if (owner !== undefined) this.watch.wakeUser(owner);
      }
    }
    if (revocations) await this.deps.publishRevocations?.();
  }

  onChange(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  get(id: string): AccessRequest | undefined {
    const requests = this.deps.storage.state.requests;
    return Object.hasOwn(requests, id) ? requests[id] : undefined;
  }

  /** May this identity see the request? Requester, the role's approvers, auditors, admins. */
  canView(identity: Identity, req: AccessRequest): boolean {
    return this.canSee(identity, req);
  }

  /**
   * The same rule for a request known only from its audit records (it may have left the live
   * state): who asked, for which role.
   */
  canSee(identity: Identity, req: { requester: string; role: string }): boolean {
    const config = this.deps.config();
    const role = config.roles[req.role];
    return (
      req.requester === identity.user ||
      (role !== undefined && isApprover(role, identity)) ||
      isAuditor(config, identity) ||
      isAdmin(config, identity)
    );
  }

  /**
   * Catches up with the database when `id` is not in this replica's state: a request made on
   * another replica a moment ago is found rather than refused (nothing to do on embedded).
   */
  async seen(id: string): Promise<void> {
    if (!Object.hasOwn(this.deps.storage.state.requests, id)) await this.deps.storage.sync();
  }

  /** The request if this identity may see it; otherwise not_found (existence is not leaked). */
  visible(identity: Identity, id: string): AccessRequest {
    const req = this.get(id);
    if (!req || !this.canView(identity, req)) {
      // Only those who may read the audit trail are pointed to it.
      const config = this.deps.config();
      const mayAudit = isAuditor(config, identity) || isAdmin(config, identity);
      const history = mayAudit ? `; their history: sshca audit list --request ${id}` : "";
      throw fail.notFound(`no request ${id} (finished requests leave the live state${history})`);
    }
    return req;
  }

  list(identity: Identity): AccessRequest[] {
    return Object.values(this.deps.storage.state.requests)
      .filter((r) => this.canView(identity, r))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async create(identity: Identity, input: NewRequestInput): Promise<AccessRequest> {
    const subject = parseSubjectKey(input.publicKey);
    const grant = unwrap(decideAsk(this.deps.config(), identity, input));
    const id = `rq_${randomBase32(this.deps.random, 16)}`;
    const req = newRequest({
      id,
      requester: identity.user,
      grant,
      publicKey: subject.line,
      keyFingerprint: subject.fingerprint,
      now: this.deps.now(),
    });
    const created: Step = {
      req,
      from: null,
      type: "request.created",
      actor: identity.user,
      fields: {
        hosts: req.hosts,
        principals: req.principals,
        ttlSeconds: req.ttlSeconds,
        reason: req.reason,
        keyFingerprint: req.keyFingerprint,
        digest: req.digest,
        approvalsRequired: req.approvalsRequired,
        expiresAt: req.expiresAt,
      },
    };
    return this.locked(id, async () => {
      if (!req.autoApprove) {
        await this.commit(created);
        return req;
      }
      // The role's explicit autoApprove switch: audited as its own event, never silent. The
      // three records share one group-committed audit batch and one state write.
      const approved = autoApprove(req, this.deps.now());
      // The answer to this call hands the certificate to the requester: that delivery is
      // audited in the same batch (certificate.fetched).
      return this.issue(
        approved,
        subject,
        [created, { req: approved, type: "request.auto_approved", actor: "sshcad", fields: { digest: req.digest } }],
        true,
      );
    });
  }

  async approve(
    identity: Identity,
    id: string,
    digest: string,
    comment?: string,
    factor?: FactorInput,
  ): Promise<AccessRequest> {
    await this.seen(id);
    return this.locked(id, async () => {
      const req = this.visible(identity, id);
      const now = this.deps.now();
      await this.expireNow(req, now);
      const role = this.deps.config().roles[req.role];
      const base = this.get(id)!;
      const decided = unwrap(decideApproval(base, role, identity, digest, comment, now));
      // The approval stands; only now is the second factor checked (a TOTP code is used up with it).
      const { evidence, changes } = await this.stepUp(identity, base, factor);
      const { complete } = decided;
      const last = decided.request.approvals.at(-1)!;
      const request = evidence
        ? { ...decided.request, approvals: [...decided.request.approvals.slice(0, -1), { ...last, factor: evidence }] }
        : decided.request;
      await this.commit({
        req: request,
        from: base,
        changes,
        type: "request.approved",
        actor: identity.user,
        fields: {
          digest,
          approvals: request.approvals.length,
          approvalsRequired: request.approvalsRequired,
          approvers: request.approvals.map((a) => a.approver),
          ...(comment ? { comment } : {}),
          ...(evidence ? { factor: evidence } : {}),
        },
      });
      if (!complete) return request;
      return this.issueOr503(request, "approval recorded");
    });
  }

  async deny(identity: Identity, id: string, reason: string): Promise<AccessRequest> {
    await this.seen(id);
    return this.locked(id, async () => {
      const req = this.visible(identity, id);
      const now = this.deps.now();
      await this.expireNow(req, now);
      const role = this.deps.config().roles[req.role];
      const base = this.get(id)!;
      const denied = unwrap(decideDenial(base, role, identity, reason, now));
      await this.commit({
        req: denied,
        from: base,
        type: "request.denied",
        actor: identity.user,
        fields: { reason, approvers: req.approvals.map((a) => a.approver) },
      });
      return denied;
    });
  }

  /** An approver overrides a blocked pre-issue scan (explicit, audited), then it is issued. */
  async override(
    identity: Identity,
    id: string,
    digest: string,
    reason: string,
    factor?: FactorInput,
  ): Promise<AccessRequest> {
    await this.seen(id);
    return this.locked(id, async () => {
      const req = this.visible(identity, id);
      const now = this.deps.now();
      await this.expireNow(req, now);
      const current = this.get(id)!;
      const next = unwrap(decideOverride(current, this.deps.config().roles[req.role], identity, digest, reason, now));
      // An override issues the certificate: it needs the same second factor as an approval.
      const { evidence, changes } = await this.stepUp(identity, current, factor, "override");
      await this.commit({
        req: next,
        from: current,
        changes,
        type: "request.scan_overridden",
        actor: identity.user,
        fields: {
          reason,
          blockedBecause: current.gate?.reason ?? "",
          ...(evidence ? { factor: evidence } : {}),
        },
      });
      return this.issueOr503(next, "override recorded");
    });
  }

  /**
   * The second factor of an approval or override: checked against this request's id and digest
   * when given, then held to the role's stepUp rule (refused without one where required).
   */
  private async stepUp(
    identity: Identity,
    req: AccessRequest,
    factor: FactorInput | undefined,
    action: "approve" | "override" = "approve",
  ): Promise<{ evidence: FactorEvidence | undefined; changes: Change[] }> {
    const role = this.deps.config().roles[req.role];
    if (factor && !this.deps.factors) throw fail.forbidden("second factors are not available here");
    const uv = role?.stepUp?.userVerification ?? false;
    const verified = factor ? await this.deps.factors!.verify(identity.user, req, factor, uv, action) : undefined;
    return { evidence: unwrap(decideStepUp(req.role, role, verified?.evidence)), changes: verified?.changes ?? [] };
  }

  /**
   * The WebAuthn challenge for approving this request as the approver sees it (the console): only
   * for someone who could approve it now, with exactly this digest, for a role that takes WebAuthn.
   */
  async webauthnChallenge(identity: Identity, id: string, digest: string) {
    await this.seen(id);
    const req = this.visible(identity, id);
    const role = this.deps.config().roles[req.role];
    unwrap(decideApproval(req, role, identity, digest, undefined, this.deps.now()));
    if (!role?.stepUp?.methods.includes("webauthn"))
      throw fail.badRequest(`role ${req.role} does not take a WebAuthn second factor`);
    if (!this.deps.factors) throw fail.forbidden("second factors are not available here");
    return this.deps.factors.webauthnApprovalOptions(identity.user, req, role.stepUp.userVerification);
  }

  /**
   * Revokes a certificate (by serial or request id): approvers of its role and admins. The
   * revocation is audited, then the KRL is rebuilt before this returns.
   *
   * By serial, whoever may not revoke the certificate gets exactly the answer an unknown serial
   * gets: a serial is all they know, and the answer must not tell them that it exists, which
   * request it belongs to, or whose it is.
   */
  async revoke(
    identity: Identity,
    target: { serial?: string; request?: string },
    reason: string,
  ): Promise<AccessRequest> {
    if (target.request !== undefined) return this.endEarly(identity, target.request, "revoke", reason);
    const req = Object.values(this.deps.storage.state.requests).find((r) => r.cert?.serial === target.serial);
    if (!req || !this.mayRevoke(identity, req)) {
      throw fail.notFound(
        `no live certificate with serial ${target.serial} that you may revoke (approvers of its role and admins may; an expired certificate needs no revocation)`,
      );
    }
    return this.endEarly(identity, req.id, "revoke", reason);
  }

  /** Approvers of the request's role and admins may revoke its certificate. */
  private mayRevoke(identity: Identity, req: AccessRequest): boolean {
    const config = this.deps.config();
    const role = config.roles[req.role];
    return isAdmin(config, identity) || (role !== undefined && isApprover(role, identity));
  }

  /** The requester ends their own access before the certificate expires. */
  async relinquish(identity: Identity, id: string): Promise<AccessRequest> {
    return this.endEarly(identity, id, "relinquish", "relinquished by its owner");
  }

  private async endEarly(
    identity: Identity,
    id: string,
    kind: "revoke" | "relinquish",
    reason: string,
  ): Promise<AccessRequest> {
    await this.seen(id);
    return this.locked(id, async () => {
      const req = this.visible(identity, id);
      const may = this.mayRevoke(identity, req);
      const revoked = unwrap(decideRevocation(req, identity, kind, may, reason, this.deps.now()));
      await this.commit({
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
        await this.deps.publishRevocations?.();
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
   * Cuts a user off (disabled or removed): their waiting requests end, their approvals of
   * others' waiting requests stop counting, their live certificates are revoked unless the
   * operator keeps them, and every long-poll they hold answers now (and is refused, since the
   * caller re-checks the credential). Each change is its own audited commit; the KRL is
   * published once at the end. Returns what changed.
   */
  async cutOff(
    user: string,
    opts: CutOffOptions,
  ): Promise<{ cancelled: string[]; withdrawn: string[]; revoked: string[] }> {
    const done = { cancelled: [] as string[], withdrawn: [] as string[], revoked: [] as string[] };
    const touches = (r: AccessRequest) => r.requester === user || r.approvals.some((a) => a.approver === user);
    for (const { id } of this.liveRequests().filter(touches)) {
      await this.locks.run(id, async () => {
        const current = this.get(id);
        const step = current && cutOffStep(current, user, opts, this.deps.now());
        if (!step) return;
        await this.commit({ ...step, from: current });
        const kind =
          step.type === "certificate.revoked"
            ? "revoked"
            : step.type === "request.cancelled"
              ? "cancelled"
              : "withdrawn";
        done[kind].push(id);
      });
    }
    this.watch.wakeUser(user);
    if (done.revoked.length > 0) {
      try {
        await this.deps.publishRevocations?.();
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
  revokedEntries(now: Date): RevokedSerial[] {
    return Object.values(this.deps.storage.state.revoked).filter((r) => stillRevocable(r, now));
  }

  /** Live requests, for the scan scheduler. */
  liveRequests(): AccessRequest[] {
    return Object.values(this.deps.storage.state.requests);
  }

  /**
   * Records a finished scan in its request. For a role with scanOnIssue: gate, the issue-time
   * scans of all hosts decide: issue, or block until an approver overrides.
   */
  async applyScan(id: string, host: string, slot: ScanSlot, ref: ScanRef): Promise<void> {
    await this.locked(id, async () => {
      const req = this.get(id);
      if (!req) return;
      const next = recordScan(req, host, slot, ref, this.deps.now());
      // Bookkeeping only: the scan itself is in the audit log as scan.finished / scan.failed.
      await this.save(next, req);
      if (slot === "issue") await this.settleGate(next);
    });
  }

  /**
   * For an approved request of a gated role whose issue-time scans are all recorded and not yet
   * judged: block it, or pass it and issue. Safe to repeat (the sweep does, after a failure).
   */
  private async settleGate(req: AccessRequest): Promise<void> {
    const config = this.deps.config();
    if (req.state !== "approved" || config.roles[req.role]?.scanOnIssue !== "gate" || req.gate !== undefined) return;
    const issueScans = Object.fromEntries(req.hosts.map((h) => [h, req.scans?.[h]?.issue]));
    const gate = decideGate(req.hosts, issueScans, (h) => config.hosts[h]?.expectedPorts ?? []);
    if (gate.status === "waiting") return;
    const now = this.deps.now();
    if (gate.status === "blocked") {
      await this.commit({
        req: blockRequest(req, gate.reason, now),
        from: req,
        type: "request.blocked",
        actor: "sshcad",
        fields: { reason: gate.reason },
      });
      return;
    }
    const passed = passGate(req, now);
    await this.commit({ req: passed, from: req, type: "request.gate_passed", actor: "sshcad", fields: {} });
    await this.issue(passed).catch((err) => {
      this.deps.log.warn({ err: safeErr(err), request: req.id }, "issuance after the scan gate failed; will retry");
    });
  }

  async cancel(identity: Identity, id: string): Promise<AccessRequest> {
    await this.seen(id);
    return this.locked(id, async () => {
      const req = this.visible(identity, id);
      const now = this.deps.now();
      await this.expireNow(req, now);
      const base = this.get(id)!;
      const cancelled = unwrap(decideCancel(base, identity, isAdmin(this.deps.config(), identity), now));
      await this.commit({ req: cancelled, from: base, type: "request.cancelled", actor: identity.user, fields: {} });
      return cancelled;
    });
  }

  /**
   * Periodic work: expire pending requests that ran out of time, retry issuance of approved
   * requests whose first attempt failed (for example while the audit log was unwritable), and
   * let finished requests leave the live state. Only what is due is looked at; a request that
   * still needs work afterwards goes back into the index and is looked at again next time.
   */
  async sweep(): Promise<void> {
    // One replica sweeps at a time; another takes over within the lease if it stops.
    if (!(await this.deps.storage.claim("sweep", "requests", SWEEP_LEASE_MS))) return;
    const now = this.deps.now();
    const keep = this.deps.config().requests.keepFinished;
    const finished: AccessRequest[] = [];
    for (const id of this.sweepDue.take(now.getTime())) {
      try {
        const req = this.get(id);
        if (req && (await this.sweepOne(req, now, keep))) finished.push(req);
      } catch (err) {
        // A request that cannot even be looked at must not hold up the others.
        this.deps.log.error({ err: safeErr(err), request: id }, "sweep skipped a request");
      }
    }
    await this.prune(finished);
    await this.pruneRevoked(now);
  }

  /**
   * Revoked serials leave the live state an hour past validBefore (REVOKED_KEEP_MS), not at the
   * KRL's 5-minute margin: this replica's clock decides for every replica, and may run fast.
   */
  private async pruneRevoked(now: Date): Promise<void> {
    const done = Object.values(this.deps.storage.state.revoked).filter((r) => prunableRevoked(r, now));
    if (done.length === 0) return;
    await this.deps.storage.commit(
      [],
      done.map((r) => remove("revoked", r.serial)),
    );
  }

  /** The sweep's work for one due request; true when it may leave the live state. */
  private async sweepOne(req: AccessRequest, now: Date, keep: number): Promise<boolean> {
    const id = req.id;
    if (this.locks.isBusy(id)) {
      this.sweepDue.track(req); // whoever holds it will change it; if not, next sweep
      return false;
    }
    if (expireIfDue(req, now)) {
      await this.locks
        .run(id, () => this.expireNow(this.get(id)!, this.deps.now()))
        .catch((err) => {
          this.deps.log.error({ err: safeErr(err), request: id }, "could not expire request");
        });
    } else if (req.state === "approved") {
      await this.locks
        .run(id, async () => {
          await this.settleGate(this.get(id)!);
          await this.issue(this.get(id)!);
        })
        .catch((err) => {
          this.deps.log.warn({ err: safeErr(err), request: id }, "issuance retry failed");
        });
    } else if (isFinished(req, now, keep) && (this.deps.expiryWorkDone?.(req) ?? true)) {
      return true;
    }
    // Still work to do (a failed attempt, an expiry scan still to come): look again.
    const current = this.get(id);
    if (current) this.sweepDue.track(current);
    return false;
  }

  /**
   * Finished requests leave the live state, so its size follows live work, not history
   * (invariant 7). Their whole story is in the audit log.
   */
  private async prune(finished: AccessRequest[]): Promise<void> {
    // The sweep awaited other work since it chose these: drop any that changed meanwhile.
    const done: AccessRequest[] = [];
    for (const r of finished) {
      const current = this.get(r.id);
      if (current === r && !this.locks.isBusy(r.id)) done.push(r);
      else if (current) this.sweepDue.track(current);
    }
    if (done.length === 0) return;
    // Only what nobody changed meanwhile leaves (another replica may have just touched one).
    await this.deps.storage.commit(
      [],
      done.map((r) => remove("requests", r.id, { entry: r })),
    );
    for (const r of done) for (const index of this.indexes) index.forget(r.id);
    this.deps.log.debug({ requests: done.map((r) => r.id) }, "finished requests left the live state");
  }

  private async expireNow(req: AccessRequest, now: Date): Promise<void> {
    const expired = expireIfDue(req, now);
    if (expired)
      await this.commit({
        req: expired,
        from: req,
        type: "request.expired",
        actor: "sshcad",
        fields: { expiresAt: req.expiresAt },
      });
  }

  /** Signs the certificate of an approved request; the issuance record is durable before anything else sees it. */
  private async issue(
    req: AccessRequest,
    subject?: SubjectKey,
    before: Step[] = [],
    delivered = false,
  ): Promise<AccessRequest> {
    if (req.state !== "approved") return req;
    const config = this.deps.config();
    // A gated role issues only after its pre-issue scan passed (or an approver overrode it);
    // the scanner calls applyScan, which comes back here.
    if (config.roles[req.role]?.scanOnIssue === "gate" && req.gate?.status !== "passed" && !req.gate?.override) {
      if (before.length) await this.commit(...before);
      return req;
    }
    const step = await prepareIssuance(req, {
      config,
      signer: await this.deps.ca.signer(),
      now: this.deps.now(),
      random: this.deps.random,
      identityOf: (user) => resolveIdentity(config, this.deps.storage.state, user),
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
    await this.commit(...before, { ...step, from: req }, ...fetched);
    return step.req;
  }

  /** Issues, turning an unavailable audit log into a 503 that says what did happen. */
  private async issueOr503(req: AccessRequest, done: string): Promise<AccessRequest> {
    try {
      return await this.issue(req);
    } catch (err) {
      if (isSshcaError(err) && err.code === "unavailable") {
        throw new SshcaError("unavailable", `${done}, but the certificate could not be issued yet: ${err.message}`);
      }
      throw err;
    }
  }

  /** Stores a change that needs no audit record of its own (based on `from`), and wakes waiters. */
  private async save(req: AccessRequest, from: AccessRequest): Promise<void> {
    await this.deps.storage.commit([], [put("requests", req.id, req, { entry: from }), ...this.revokedChange(req)]);
    this.track(req);
    this.watch.changed(req.id);
  }

  /**
   * Audit first (durable), then live state (durable), then wake waiters and listeners. Several
   * steps share one audit batch (appended together, one fdatasync) and one state write.
   */
  private async commit(...steps: Step[]): Promise<void> {
    // Every request record names the request, its requester and role, so the audit log can be
    // queried by user and drives notifications without the live state.
    const events = steps.map((s) => ({
      type: s.type,
      actor: s.actor,
      fields: { request: s.req.id, requester: s.req.requester, role: s.req.role, ...s.fields },
    }));
    // One change per request: its last state, based on what the first step was decided on
    // (`from`; null for a new request), so a change made meanwhile elsewhere is not overwritten.
    const last = new Map<string, Step>();
    const first = new Map<string, Step>();
    for (const s of steps) {
      last.set(s.req.id, s);
      if (!first.has(s.req.id)) first.set(s.req.id, s);
    }
    const changes = [
      ...[...last.values()].flatMap((s) => {
        const from = first.get(s.req.id)!.from;
        const expect = from === undefined ? undefined : { entry: from ?? undefined };
        return [put("requests", s.req.id, s.req, expect), ...this.revokedChange(s.req)];
      }),
      ...steps.flatMap((s) => s.changes ?? []),
    ];
    await this.deps.storage.commit(events, changes);
    for (const s of last.values()) this.track(s.req);
    for (const s of steps) {
      this.watch.changed(s.req.id);
      this.announce(s.req, s.type);
    }
  }

  private announce(req: AccessRequest, event: ChangeEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(req, event);
      } catch (err) {
        this.deps.log.error({ err: safeErr(err) }, "change listener failed");
      }
    }
  }
}
