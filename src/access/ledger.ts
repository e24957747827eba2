import type { Logger } from "pino";
import type { AuditType } from "../audit/record.js";
import { membersOf } from "../auth/identity.js";
import type { Factors } from "../auth/factors/factors.js";
import type { CaSigner } from "../ca/signer.js";
import type { Config } from "../config/schema.js";
import type { AccessRequest } from "../domain/request.js";
import type { HostStatus } from "../domain/scan.js";
import { safeErr } from "../errors.js";
import { KeyedMutex } from "../store/keyed-mutex.js";
import { type Change, put, retryStale, type Storage } from "../store/port.js";
import type { Collection } from "../store/state.js";
import { Deadlines, type DueAt } from "./deadlines.js";
import type { Step } from "./issuance.js";
import { expireIfDue } from "./transitions.js";
import { revokedEntry } from "./revoked.js";
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
  /** Each host's latest scan and open drift (roles with scanAware); absent: nothing known. */
  hostStatus?: (host: string) => HostStatus | undefined;
}

/** What happened to a request: its audit event here, or "changed elsewhere" (another replica). */
export type ChangeEvent = AuditType | "changed elsewhere";
export type ChangeListener = (req: AccessRequest, event: ChangeEvent) => void;

/**
 * The one way a request changes, shared by every job of the access service (creating, deciding,
 * issuing, ending, reviewing, sweeping): under the request's lock, audit (durable) first, then
 * live state in the same storage commit, then the due-time indexes, waiters and listeners. A
 * change that cannot be audited does not happen.
 */
export class RequestLedger {
  readonly watch = new RequestWatch();
  readonly locks = new KeyedMutex();
  private readonly listeners: ChangeListener[] = [];
  private readonly indexes: Deadlines[] = [];

  constructor(readonly deps: AccessDeps) {}

  get(id: string): AccessRequest | undefined {
    const requests = this.deps.storage.state.requests;
    return Object.hasOwn(requests, id) ? requests[id] : undefined;
  }

  liveRequests(): AccessRequest[] {
    return Object.values(this.deps.storage.state.requests);
  }

  /**
   * The live requests of one requester for one key (what a login may reuse), from an index kept
   * by track/forget: a login looks at its own few, not at every live request. Lazy: nothing is
   * read unless the caller iterates (a login that asks anew does not).
   */
  *requestsOf(requester: string, keyFingerprint: string): Generator<AccessRequest> {
    if (!this.byOwner) {
      this.byOwner = new Map();
      for (const r of this.liveRequests()) this.indexOwner(r);
    }
    const key = ownerKey(requester, keyFingerprint);
    for (const id of [...(this.byOwner.get(key) ?? [])]) {
      const r = this.get(id);
      if (r && ownerKey(r.requester, r.keyFingerprint) === key) yield r;
      else this.dropOwner(id);
    }
  }

  /** Request ids by requester and key (built on first use), and each id's key. */
  private byOwner: Map<string, Set<string>> | undefined;
  private readonly ownerOf = new Map<string, string>();

  private indexOwner(req: AccessRequest): void {
    if (!this.byOwner || this.ownerOf.has(req.id)) return;
    const key = ownerKey(req.requester, req.keyFingerprint);
    this.ownerOf.set(req.id, key);
    const ids = this.byOwner.get(key);
    if (ids) ids.add(req.id);
    else this.byOwner.set(key, new Set([req.id]));
  }

  private dropOwner(id: string): void {
    const key = this.ownerOf.get(id);
    if (key === undefined) return;
    this.ownerOf.delete(id);
    const ids = this.byOwner?.get(key);
    ids?.delete(id);
    if (ids?.size === 0) this.byOwner!.delete(key);
  }

  /** People in any of these groups (now). */
  readonly members = (groups: readonly string[]): string[] =>
    membersOf(this.deps.config(), this.deps.storage.state, groups);

  /**
   * Runs `fn` holding the request's lock; when what it decided on changed meanwhile (another
   * replica), it runs again on the fresh state.
   */
  locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return retryStale(() => this.locks.run(id, fn));
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

  /** A request left the live state: the indexes drop it. */
  forget(id: string): void {
    for (const index of this.indexes) index.forget(id);
    this.dropOwner(id);
  }

  onChange(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  /** A revoked request's serial goes into the revoked collection, which the KRL is built from. */
  revokedChange(req: AccessRequest): Change[] {
    const entry = revokedEntry(req);
    return entry && !Object.hasOwn(this.deps.storage.state.revoked, entry.serial)
      ? [put("revoked", entry.serial, entry)]
      : [];
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
        else this.forget(key);
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

  /** Stores a change that needs no audit record of its own (based on `from`), and wakes waiters. */
  async save(req: AccessRequest, from: AccessRequest): Promise<void> {
    await this.deps.storage.commit([], [put("requests", req.id, req, { entry: from }), ...this.revokedChange(req)]);
    this.track(req);
    this.watch.changed(req.id);
  }

  /**
   * Audit first (durable), then live state (durable), then wake waiters and listeners. Several
   * steps share one audit batch (appended together, one fdatasync) and one state write.
   */
  async commit(...steps: Step[]): Promise<void> {
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

  /** A pending request whose time ran out is expired (audited) before anything else is decided on it. */
  async expireNow(req: AccessRequest, now: Date): Promise<void> {
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

  /** Updates the indexes derived from a request that was just stored. */
  track(req: AccessRequest): void {
    for (const index of this.indexes) index.track(req);
    this.indexOwner(req);
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

const ownerKey = (requester: string, keyFingerprint: string) => `${requester}\n${keyFingerprint}`;
