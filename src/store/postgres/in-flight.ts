import { fail } from "../../errors.js";

/**
 * At most `limit` calls in flight and `queue` more waiting their turn (first come, first
 * served), each for at most `maxWaitMs`; a call beyond the queue, or that waited that long, is
 * refused with `unavailable` (503, Retry-After). It keeps work that anyone can cause without
 * signing in from holding the pooled connections that commits and authenticated reads need,
 * and a waiting call from acting on a moment long past.
 */
export class InFlightGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly queue: number,
    private readonly refusal: string,
    private readonly maxWaitMs = 5_000,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else if (this.waiting.length < this.queue) await this.turn();
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

  /** Resolves when a finishing call hands this one its slot; rejects after maxWaitMs. */
  private turn(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const go = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const at = this.waiting.indexOf(go);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(fail.unavailable(this.refusal));
      }, this.maxWaitMs);
      this.waiting.push(go);
    });
  }
}
