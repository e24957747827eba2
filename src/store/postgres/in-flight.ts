import { fail } from "../../errors.js";

/**
 * At most `limit` calls in flight and `queue` more waiting their turn (first come, first
 * served); a call beyond both is refused at once with `unavailable` (503, Retry-After). It
 * keeps work that anyone can cause without signing in from holding the pooled connections
 * that commits and authenticated reads need.
 */
export class InFlightGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly queue: number,
    private readonly refusal: string,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else if (this.waiting.length < this.queue) await new Promise<void>((r) => this.waiting.push(r));
    else throw fail.unavailable(this.refusal);
    try {
      return await task();
    } finally {
      // The slot goes straight to the next waiter, so no new call can slip in ahead of it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
