/**
 * Failed second-factor attempts per approver, in a sliding window. A six-digit code has a million
 * values and three of them are valid at any moment: without a limit an approver's stolen token
 * walks through them in minutes. Past `max` failures in `windowMs`, every attempt is refused
 * until the oldest failure leaves the window. Memory stays bounded: at most `max` times per user,
 * and users with no recent failure are forgotten.
 */
export class FailureWindow {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly max = 5,
    private readonly windowMs = 15 * 60_000,
    private readonly tracked = 100_000,
  ) {}

  /** Seconds until `key` may try again, or 0 when it may now. */
  waitFor(key: string, now: number): number {
    const recent = this.recent(key, now);
    if (recent.length < this.max) return 0;
    return Math.ceil((recent[0]! + this.windowMs - now) / 1000);
  }

  fail(key: string, now: number): void {
    const recent = this.recent(key, now);
    recent.push(now);
    this.failures.delete(key); // re-inserted last: the map is in least-recently-failed order
    this.failures.set(key, recent.slice(-this.max));
    if (this.failures.size > this.tracked) this.failures.delete(this.failures.keys().next().value!);
  }

  private recent(key: string, now: number): number[] {
    return (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
  }
}
