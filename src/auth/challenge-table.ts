/** How many open challenges one client address, one user name, and everyone together may hold. */
export interface ChallengeCaps {
  perAddress: number;
  perUser: number;
  total: number;
}

interface Open<T> {
  user: string;
  address: string;
  expiresAt: number;
  value: T;
}

/**
 * Open sign-in challenges, bounded so that nobody can lock everyone out:
 *
 * - per client address: a client over its cap is refused (429) until one of its own challenges
 *   is used or expires, so a flood only costs the flooding address;
 * - per user name: a new challenge replaces that user's oldest, so nobody can block a user by
 *   asking for challenges in their name (refusing would let them);
 * - in all (memory): beyond the total the oldest challenge is dropped. With the per-address rate
 *   limit, evicting a challenge someone is answering right now takes `total` new challenges
 *   within the second or two a signature takes.
 *
 * Challenges are kept oldest first (a Map's insertion order), so expired ones are dropped from
 * the front: each is looked at once, and no call walks the table.
 */
export class ChallengeTable<T> {
  private readonly open = new Map<string, Open<T>>();
  private readonly byUser = new Map<string, string[]>();
  private readonly byAddress = new Map<string, string[]>();

  /** Opens a challenge, or says in how many seconds this address may open another. */
  add(
    id: string,
    entry: Open<T>,
    now: number,
    caps: ChallengeCaps,
  ): { ok: true; evicted: string[] } | { ok: false; retryAfterSeconds: number } {
    this.dropExpired(now);
    const mine = this.live(this.byAddress, entry.address, now);
    if (mine.length >= caps.perAddress) {
      const first = this.open.get(mine[0]!)!;
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((first.expiresAt - now) / 1000)) };
    }
    const evicted: string[] = [];
    const theirs = this.live(this.byUser, entry.user, now);
    while (theirs.length >= caps.perUser) {
      evicted.push(theirs[0]!);
      this.remove(theirs[0]!);
    }
    for (const oldest of this.open.keys()) {
      if (this.open.size < caps.total) break;
      evicted.push(oldest);
      this.remove(oldest);
    }
    this.open.set(id, entry);
    push(this.byUser, entry.user, id);
    push(this.byAddress, entry.address, id);
    return { ok: true, evicted };
  }

  /** Looks at a challenge without taking it (a device sign-in is polled several times). */
  get(id: string, now: number): T | undefined {
    const entry = this.open.get(id);
    return entry && entry.expiresAt > now ? entry.value : undefined;
  }

  /** Takes a challenge out (it is single-use); undefined when unknown or expired. */
  take(id: string, now: number): T | undefined {
    const entry = this.open.get(id);
    if (!entry) return undefined;
    this.remove(id);
    return entry.expiresAt > now ? entry.value : undefined;
  }

  /** Drops expired challenges from the front (the oldest expire first). */
  private dropExpired(now: number): void {
    for (const [id, entry] of this.open) {
      if (entry.expiresAt > now) break;
      this.remove(id);
    }
  }

  /** The ids `key` holds, oldest first, after dropping its expired ones (a reload may shorten the TTL). */
  private live(index: Map<string, string[]>, key: string, now: number): string[] {
    const ids = index.get(key) ?? [];
    for (const id of ids.filter((x) => (this.open.get(x)?.expiresAt ?? 0) <= now)) this.remove(id);
    return index.get(key) ?? [];
  }

  private remove(id: string): void {
    const entry = this.open.get(id);
    if (!entry) return;
    this.open.delete(id);
    pull(this.byUser, entry.user, id);
    pull(this.byAddress, entry.address, id);
  }
}

function push(index: Map<string, string[]>, key: string, id: string): void {
  const ids = index.get(key);
  if (ids) ids.push(id);
  else index.set(key, [id]);
}

function pull(index: Map<string, string[]>, key: string, id: string): void {
  const ids = index.get(key);
  if (!ids) return;
  const at = ids.indexOf(id);
  if (at >= 0) ids.splice(at, 1);
  if (ids.length === 0) index.delete(key);
}
