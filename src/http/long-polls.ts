/**
 * Long-polls waiting per user, so one user (or a script of theirs) cannot hold every
 * connection the daemon has in waits. Over the cap a new long-poll is refused at once (429 with
 * Retry-After) rather than answering an older one early: an answered poll is re-sent at once,
 * so pushing out the oldest would turn N+1 waiting clients into a loop of requests.
 */
export class LongPolls {
  /** Per user: when each of their waits ends (ms since the epoch). */
  private readonly waiting = new Map<string, number[]>();

  /** Starts a wait that ends by `until`, or says how many seconds until the user's earliest wait ends. */
  enter(
    user: string,
    until: number,
    now: number,
    cap: number,
  ): { ok: true; leave: () => void } | { ok: false; retryAfterSeconds: number } {
    const mine = this.waiting.get(user) ?? [];
    if (mine.length >= cap) {
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((Math.min(...mine) - now) / 1000)) };
    }
    mine.push(until);
    this.waiting.set(user, mine);
    let left = false;
    return {
      ok: true,
      leave: () => {
        if (left) return;
        left = true;
        mine.splice(mine.indexOf(until), 1);
        if (mine.length === 0 && this.waiting.get(user) === mine) this.waiting.delete(user);
      },
    };
  }
}
