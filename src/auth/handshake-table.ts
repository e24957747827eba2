import { fail } from "../errors.js";
import type { Handshakes } from "../store/port.js";
import { type ChallengeCaps, ChallengeTable } from "./challenge-table.js";

/** How often a process asks the store to forget expired handshakes. */
const PRUNE_EVERY_MS = 60_000;

/**
 * One kind of sign-in handshake (SSH sign-in challenges, single sign-on flows, WebAuthn
 * ceremonies, ...): the value lives in the storage port's handshakes, which every replica
 * reads, so a handshake opened on one replica finishes on another; taking it is atomic there,
 * so it is single-use across replicas too. Admission stays in this process (ChallengeTable):
 * each replica bounds what its own clients open, per address, per user and in all, and an
 * entry it evicts is removed from the store as well.
 */
export class HandshakeTable<T> {
  private readonly admitted = new ChallengeTable<null>();
  private prunedAt = 0;

  constructor(
    private readonly store: Handshakes,
    private readonly kind: string,
  ) {}

  /** Opens a handshake, or throws rate_limited (with retryAfter) for an address over its cap. */
  async open(
    id: string,
    entry: { user: string; address: string; expiresAt: number; value: T },
    now: number,
    caps: ChallengeCaps,
    refusal: string,
  ): Promise<void> {
    const added = this.admitted.add(id, { ...entry, value: null }, now, caps);
    if (!added.ok) {
      const retryAfter = added.retryAfterSeconds;
      throw fail.rateLimited(refusal.replace("{retryAfter}", String(retryAfter)), retryAfter);
    }
    try {
      for (const gone of added.evicted) await this.store.take(this.kind, gone, now);
      await this.store.put(this.kind, id, entry.value, entry.expiresAt);
    } catch (err) {
      this.admitted.take(id, now);
      throw err;
    }
    if (now - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = now;
      await this.store.prune(now).catch(() => undefined); // best effort; the next one catches up
    }
  }

  /** The handshake's value, unless unknown or expired; it stays open (a device sign-in is polled). */
  async get(id: string, now: number): Promise<T | undefined> {
    return (await this.store.get(this.kind, id, now)) as T | undefined;
  }

  /** Replaces an open handshake's value (a device sign-in's poll interval). */
  async update(id: string, value: T, expiresAt: number): Promise<void> {
    await this.store.put(this.kind, id, value, expiresAt);
  }

  /** Takes the handshake out (single-use, on every replica); undefined when unknown or expired. */
  async take(id: string, now: number): Promise<T | undefined> {
    this.admitted.take(id, now);
    return (await this.store.take(this.kind, id, now)) as T | undefined;
  }
}
