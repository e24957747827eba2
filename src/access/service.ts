import type { FactorInput } from "../auth/factors/factors.js";
import type { AccessRequest, Identity, RevokedSerial } from "../domain/request.js";
import type { ScanRef } from "../domain/scan.js";
import type { Collection } from "../store/state.js";
import type { DueAt, Deadlines } from "./deadlines.js";
import * as deciding from "./deciding.js";
import * as ending from "./ending.js";
import { applyScan } from "./gating.js";
import { type AccessDeps, type ChangeListener, RequestLedger } from "./ledger.js";
import type { CutOffOptions } from "./offboarding.js";
import type { BotOutcome } from "./policy-steps.js";
import { login, type NewRequestInput } from "./requesting.js";
import * as reviewing from "./reviewing.js";
import type { SessionClosed } from "./single-use.js";
import { Sweeper } from "./sweeping.js";
import type { ScanSlot } from "./transitions.js";
import { maySee, visibleRequest, visibleRequests } from "./viewing.js";

export type { AccessDeps, ChangeEvent, ChangeListener } from "./ledger.js";
export type { BotOutcome } from "./policy-steps.js";
export type { NewRequestInput } from "./requesting.js";

/**
 * The life of a request, as the HTTP routes, the scanner, the bots and the daemon see it: one
 * entry point over the jobs, each in its own file — making a request (requesting.ts), deciding
 * on it (deciding.ts), issuing (issuing.ts), the scan gate (gating.ts), ending access early
 * (ending.ts), break-glass review (reviewing.ts) and the periodic sweep (sweeping.ts). All of
 * them change requests only through the ledger (ledger.ts): pure decisions first, then audit
 * (durable), live state, and announcements, in that order. A change that cannot be audited does
 * not happen; a certificate whose issuance record is not durable is never stored or returned.
 */
export class AccessService {
  private readonly ledger: RequestLedger;
  private readonly sweeper: Sweeper;

  constructor(deps: AccessDeps) {
    this.ledger = new RequestLedger(deps);
    this.sweeper = new Sweeper(this.ledger);
  }

  /** Long-polls and event streams wait on this for a request's (or a user's) next change. */
  get watch() {
    return this.ledger.watch;
  }

  // Reading.

  get(id: string): AccessRequest | undefined {
    return this.ledger.get(id);
  }

  /** Live requests, for the scan scheduler. */
  liveRequests(): AccessRequest[] {
    return this.ledger.liveRequests();
  }

  /** May this identity see the request? Requester, the role's approvers, auditors, admins. */
  canView(identity: Identity, req: AccessRequest): boolean {
    return maySee(this.ledger.deps.config(), identity, req);
  }

  /** The same rule for a request known only from its audit records (it may have left the live state). */
  canSee(identity: Identity, req: { requester: string; role: string }): boolean {
    return maySee(this.ledger.deps.config(), identity, req);
  }

  /**
   * Catches up with the database when `id` is not in this replica's state: a request made on
   * another replica a moment ago is found rather than refused (nothing to do on embedded).
   */
  async seen(id: string): Promise<void> {
    if (!Object.hasOwn(this.ledger.deps.storage.state.requests, id)) await this.ledger.deps.storage.sync();
  }

  /** The request if this identity may see it; otherwise not_found (existence is not leaked). */
  visible(identity: Identity, id: string): AccessRequest {
    return visibleRequest(this.ledger, identity, id);
  }

  list(identity: Identity): AccessRequest[] {
    return visibleRequests(this.ledger, identity);
  }

  /** Break-glass requests still waiting for their review, that this identity may see. */
  openReviews(identity: Identity): AccessRequest[] {
    return reviewing.openReviews(this.ledger, identity);
  }

  /** What to put in the KRL: revoked certificates (serial and signing CA key) still worth listing. */
  revokedEntries(now: Date): RevokedSerial[] {
    return ending.revokedEntries(this.ledger, now);
  }

  // Being told.

  onChange(listener: ChangeListener): void {
    this.ledger.onChange(listener);
  }

  /** A due-time index over the live requests, kept current by every change made here. */
  deadlines(dueAt: DueAt): Deadlines {
    return this.ledger.deadlines(dueAt);
  }

  changedElsewhere(changed: readonly { collection: Collection; key: string }[]): Promise<void> {
    return this.ledger.changedElsewhere(changed);
  }

  // Requesting.

  async create(identity: Identity, input: NewRequestInput): Promise<AccessRequest> {
    return (await login(this.ledger, identity, input)).req;
  }

  login(identity: Identity, input: NewRequestInput): Promise<{ req: AccessRequest; reused: boolean }> {
    return login(this.ledger, identity, input);
  }

  // Deciding.

  async approve(identity: Identity, id: string, digest: string, comment?: string, factor?: FactorInput) {
    await this.seen(id);
    return deciding.approve(this.ledger, identity, id, digest, comment, factor);
  }

  botAnswered(id: string, bot: string, outcome: BotOutcome): Promise<void> {
    return deciding.botAnswered(this.ledger, id, bot, outcome);
  }

  async deny(identity: Identity, id: string, reason: string): Promise<AccessRequest> {
    await this.seen(id);
    return deciding.deny(this.ledger, identity, id, reason);
  }

  async cancel(identity: Identity, id: string): Promise<AccessRequest> {
    await this.seen(id);
    return deciding.cancel(this.ledger, identity, id);
  }

  async override(identity: Identity, id: string, digest: string, reason: string, factor?: FactorInput) {
    await this.seen(id);
    return deciding.override(this.ledger, identity, id, digest, reason, factor);
  }

  async webauthnChallenge(identity: Identity, id: string, digest: string) {
    await this.seen(id);
    return deciding.webauthnChallenge(this.ledger, identity, id, digest);
  }

  async review(identity: Identity, id: string, comment: string): Promise<AccessRequest> {
    await this.seen(id);
    return reviewing.review(this.ledger, identity, id, comment);
  }

  // Scans.

  applyScan(id: string, host: string, slot: ScanSlot, ref: ScanRef): Promise<void> {
    return applyScan(this.ledger, id, host, slot, ref);
  }

  // Ending.

  async revoke(identity: Identity, target: { serial?: string; request?: string }, reason: string) {
    if (target.request !== undefined) await this.seen(target.request);
    return ending.revoke(this.ledger, identity, target, reason);
  }

  async relinquish(identity: Identity, id: string): Promise<AccessRequest> {
    await this.seen(id);
    return ending.relinquish(this.ledger, identity, id);
  }

  sessionClosed(ev: SessionClosed): Promise<AccessRequest | undefined> {
    return ending.sessionClosed(this.ledger, ev);
  }

  cutOff(user: string, opts: CutOffOptions) {
    return ending.cutOff(this.ledger, user, opts);
  }

  adoptRevoked(): Promise<void> {
    return ending.adoptRevoked(this.ledger);
  }

  // Periodic.

  sweep(): Promise<void> {
    return this.sweeper.sweep();
  }
}
