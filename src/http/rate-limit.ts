interface Bucket {
  tokens: number;
  at: number;
}

/** How many of the least recently used buckets each call looks at to forget idle ones. */
const IDLE_CHECKS = 2;

/**
 * Shared-bucket checks in flight at most per limiter: a flood of requests from many addresses
 * must not take the database connections that commits need. Beyond it the local limit decides.
 */
const SHARED_IN_FLIGHT = 4;

/**
 * Token buckets per key (client address, user): `perMinute` tokens, refilled continuously.
 * Time comes from `now` so tests control it.
 *
 * Memory and work stay bounded whatever the number of keys: the buckets are kept in
 * least-recently-used order (a Map's insertion order, renewed on every use), each call forgets
 * up to two of the oldest buckets that have refilled (they hold nothing worth remembering), and
 * beyond `capacity` keys the least recently used bucket is dropped, as nginx's limit_req does
 * when its zone is full. So every call costs the same, and an address flood can at worst make
 * the limiter forget clients that stopped trying; one that keeps trying stays recent.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private sharedInFlight = 0;

  constructor(
    private readonly perMinute: () => number,
    private readonly now: () => number = Date.now,
    private readonly capacity: () => number = () => 50_000,
    /**
     * With several replicas: the bucket all replicas share for a key (storage.takeToken), asked
     * after each local take without holding up the caller; when it is empty, this replica's
     * bucket is emptied too, so a client cannot multiply its limit by the number of replicas
     * (at most one more gets through per replica before the shared count applies).
     */
    private readonly shared?: (key: string, perMinute: number) => Promise<boolean>,
  ) {}

  /** Keys remembered now. */
  get size(): number {
    return this.buckets.size;
  }

  private bucket(key: string): Bucket {
    const now = this.now();
    const cap = this.perMinute();
    const found = this.buckets.get(key);
    const b = found ?? { tokens: cap, at: now };
    if (found) this.buckets.delete(key); // re-inserted below as the most recently used
    b.tokens = refilled(b, now, cap);
    b.at = now;
    this.forget(now, cap, 1);
    this.buckets.set(key, b);
    return b;
  }

  /** Drops the least recently used buckets beyond capacity (keeping room for `adding`), and a few idle ones. */
  private forget(now: number, cap: number, adding: number): void {
    const max = Math.max(1, this.capacity()) - adding;
    let checks = IDLE_CHECKS;
    for (const [key, b] of this.buckets) {
      if (this.buckets.size > max) this.buckets.delete(key);
      else if (checks-- > 0 && refilled(b, now, cap) >= cap) this.buckets.delete(key);
      else break;
    }
  }

  /** Seconds until one more is allowed, or 0 when it is allowed now (without using it up). */
  waitFor(key: string): number {
    const b = this.bucket(key);
    return b.tokens >= 1 ? 0 : Math.ceil(((1 - b.tokens) / this.perMinute()) * 60);
  }

  /** Uses one; false when none is left. */
  take(key: string): boolean {
    const b = this.bucket(key);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    if (this.shared && this.sharedInFlight < SHARED_IN_FLIGHT) {
      this.sharedInFlight++;
      this.shared(key, this.perMinute())
        .then(
          (left) => {
            if (!left) b.tokens = Math.min(b.tokens, 0);
          },
          () => undefined, // the database unreachable: the local limit still holds
        )
        .finally(() => this.sharedInFlight--);
    }
    return true;
  }
}

/** The bucket's tokens at `now`, refilled at `cap` per minute up to `cap`. */
function refilled(b: Bucket, now: number, cap: number): number {
  return Math.min(cap, b.tokens + (Math.max(0, now - b.at) / 60_000) * cap);
}
