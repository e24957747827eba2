import { createHash } from "node:crypto";
import { fail } from "../errors.js";
import type { Handshakes } from "../store/port.js";
import { type ChallengeCaps, ChallengeTable } from "./challenge-table.js";

/**
 * The key a handshake is stored under: the SHA-256 of its id. Some ids are all a client needs
 * to finish (a device sign-in's flow id is polled with nothing else), so a reader of the
 * database or a backup must not find them there.
 */
const stored = (id: string) => createHash("sha256").update(id).digest("base64url");

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
      for (const gone of added.evicted) await this.store.take(this.kind, stored(gone), now);
      await this.store.put(this.kind, stored(id), entry.value, entry.expiresAt);
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
    return (await this.store.get(this.kind, stored(id), now)) as T | undefined;
  }

  /**
   * Replaces an open handshake's value if it is still `expected` (a device sign-in's poll slot):
   * false when another poll changed it or it was taken meanwhile, which is then not brought back.
   */
  replace(id: string, expected: T, value: T, now: number): Promise<boolean> {
    return this.store.replace(this.kind, stored(id), expected, value, now);
  }

  /** Takes the handshake out (single-use, on every replica); undefined when unknown or expired. */
  async take(id: string, now: number): Promise<T | undefined> {
    this.admitted.take(id, now);
    return (await this.store.take(this.kind, stored(id), now)) as T | undefined;
  }
}
