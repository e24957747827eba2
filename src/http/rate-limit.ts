/**
 * Token buckets per key (client address, user): `perMinute` tokens, refilled continuously.
 * Time comes from `now` so tests control it. Memory stays bounded: idle full buckets are dropped.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  private bucket(key: string): { tokens: number; at: number } {
    const now = this.now();
    const cap = this.perMinute();
    const b = this.buckets.get(key) ?? { tokens: cap, at: now };
    b.tokens = Math.min(cap, b.tokens + ((now - b.at) / 60_000) * cap);
    b.at = now;
    this.buckets.set(key, b);
    if (this.buckets.size > 50_000) {
      for (const [k, v] of this.buckets) if (v.tokens >= cap) this.buckets.delete(k);
    }
    return b;
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
    return true;
  }
}
