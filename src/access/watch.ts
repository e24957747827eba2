/**
 * Long-poll support: a client waits for a request's version to move; every change wakes the
 * waiters of that request at once (so an approval reaches a waiting CLI within milliseconds).
 */
export class RequestWatch {
  private readonly waiters = new Map<string, Set<() => void>>();

  /** Waiters by the user who holds them, so cutting a user off answers their waits at once. */
  private readonly byUser = new Map<string, Set<() => void>>();

  /**
   * Resolves on the next change of `id`, or after `timeoutMs`, or when `signal` aborts, or when
   * `user` (the caller holding the wait) is cut off.
   */
  next(id: string, timeoutMs: number, signal?: AbortSignal, user?: string): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      const mine = user === undefined ? undefined : (this.byUser.get(user) ?? new Set());
      if (user !== undefined && mine) this.byUser.set(user, mine);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
        if (mine) {
          mine.delete(done);
          if (mine.size === 0 && this.byUser.get(user!) === mine) this.byUser.delete(user!);
        }
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener("abort", done, { once: true });
      set.add(done);
      mine?.add(done);
    });
  }

  /** Answers every wait `user` holds now (their credentials changed: the caller re-checks them). */
  wakeUser(user: string): void {
    for (const wake of [...(this.byUser.get(user) ?? [])]) wake();
  }

  changed(id: string): void {
    const set = this.waiters.get(id);
    if (!set) return;
    for (const wake of [...set]) wake();
  }

  /** Wakes every waiter (shutdown: long-polls answer at once instead of holding the close). */
  wakeAll(): void {
    for (const id of [...this.waiters.keys()]) this.changed(id);
  }

  get size(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }
}
