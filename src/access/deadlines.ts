import type { Config } from "../config/schema.js";
import type { AccessRequest } from "../domain/request.js";

/** When a live request next needs periodic work (ms since the epoch, from `now` on), or undefined for never. */
export type DueAt = (req: AccessRequest, config: Config, now: Date) => number | undefined;

export interface DeadlineDeps {
  dueAt: DueAt;
  config: () => Config;
  now: () => Date;
  /** Every live request: the index is rebuilt from them when the configuration changes. */
  all: () => Iterable<AccessRequest>;
}

type Entry = readonly [at: number, id: string];

/**
 * Which live requests need periodic work, by when: a min-heap over a due time derived from each
 * request. The sweep and the scan scheduler run every few hundred milliseconds; walking every
 * live request each time made their cost (and the event-loop pause it causes) grow with the
 * live state. With this index a tick touches only what is due.
 *
 * The owner calls track() on every change of a request and forget() when it leaves. take()
 * hands out what is due and drops it from the index; whoever handles an id tracks the request
 * again if it still needs work, so nothing is lost when handling fails or has to wait. Due
 * times that depend on the configuration are recomputed when a reload replaces it.
 */
export class Deadlines {
  private readonly at = new Map<string, number>();
  private heap: Entry[] = [];
  private builtFor: Config | undefined;

  constructor(private readonly deps: DeadlineDeps) {}

  track(req: AccessRequest): void {
    if (this.fresh()) this.put(req, this.deps.config());
  }

  forget(id: string): void {
    this.at.delete(id);
  }

  /** Removes and returns the ids due at or before `now`, earliest first. */
  take(now: number): string[] {
    this.fresh();
    const out: string[] = [];
    while (this.heap.length > 0 && this.heap[0]![0] <= now) {
      const [at, id] = this.pop();
      // Entries superseded by a later track() are dropped here rather than searched for.
      if (this.at.get(id) === at) {
        this.at.delete(id);
        out.push(id);
      }
    }
    return out;
  }

  /** How many requests are waiting for work. */
  get size(): number {
    return this.at.size;
  }

  /** Rebuilds after a configuration change; true when `track` still has work to do. */
  private fresh(): boolean {
    const config = this.deps.config();
    if (config === this.builtFor) return true;
    this.builtFor = config;
    this.at.clear();
    this.heap = [];
    for (const req of this.deps.all()) this.put(req, config);
    return false; // the rebuild already saw the current version of every request
  }

  private put(req: AccessRequest, config: Config): void {
    const at = this.deps.dueAt(req, config, this.deps.now());
    // A time that does not parse (NaN) would break the heap's order for every other request.
    if (at === undefined || !Number.isFinite(at)) {
      this.at.delete(req.id);
      return;
    }
    if (this.at.get(req.id) === at) return;
    this.at.set(req.id, at);
    this.push([at, req.id]);
    // Superseded entries wait in the heap until their time; compact when they dominate.
    if (this.heap.length > 1024 && this.heap.length > 4 * this.at.size) this.compact();
  }

  private compact(): void {
    this.heap = [];
    for (const [id, at] of this.at) this.push([at, id]);
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]![0] <= e[0]) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  private pop(): Entry {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && h[r]![0] < h[l]![0] ? r : l;
        if (h[c]![0] >= last[0]) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
