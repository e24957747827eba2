/**
 * Long-poll support: a client waits for a request's version to move; every change wakes the
 * waiters of that request at once (so an approval reaches a waiting CLI within milliseconds).
 */
export class RequestWatch {
  private readonly waiters = new Map<string, Set<() => void>>();

  /** Resolves on the next change of `id`, or after `timeoutMs`, or when `signal` aborts. */
  next(id: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener("abort", done, { once: true });
      set.add(done);
    });
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
