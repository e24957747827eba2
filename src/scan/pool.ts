/** "high": scans issuance and access windows depend on (gate, issue, expiry, revoke); "low": manual scans. */
export type Priority = "high" | "low";

/**
 * Runs at most `limit` tasks at once. Waiting high-priority tasks always go first, and
 * low-priority ones never hold more than `lowLimit` slots, so with a limit above one there is
 * always a slot for high-priority work: a pile of manual scans can neither queue ahead of a
 * pre-issue gate scan nor occupy every nmap.
 */
export class Pool {
  private running = 0;
  private runningLow = 0;
  private readonly waiting: Record<Priority, (() => void)[]> = { high: [], low: [] };

  constructor(
    private readonly limit: number,
    private readonly lowLimit: number = limit,
  ) {}

  /** Tasks waiting for a slot, by priority. */
  get queued(): Record<Priority, number> {
    return { high: this.waiting.high.length, low: this.waiting.low.length };
  }

  async run<T>(task: () => Promise<T>, priority: Priority = "high"): Promise<T> {
    // Slots are handed out synchronously (dispatch), so none can slip in between.
    await new Promise<void>((resolve) => {
      this.waiting[priority].push(resolve);
      this.dispatch();
    });
    try {
      return await task();
    } finally {
      this.running--;
      if (priority === "low") this.runningLow--;
      this.dispatch();
    }
  }

  private dispatch(): void {
    while (this.running < this.limit) {
      const high = this.waiting.high.shift();
      if (high) {
        this.running++;
        high();
        continue;
      }
      if (this.waiting.low.length === 0 || this.runningLow >= this.lowLimit) return;
      this.running++;
      this.runningLow++;
      this.waiting.low.shift()!();
    }
  }
}
