import type { Handshakes } from "./port.js";

/**
 * Handshakes in this process's memory: the embedded backend is one process, so its memory is
 * every replica's. Memory follows what callers keep open, which they bound, and what expired
 * is pruned now and then.
 */
export class MemoryHandshakes implements Handshakes {
  private readonly values = new Map<string, { value: unknown; expiresAt: number }>();

  async put(kind: string, id: string, value: unknown, expiresAt: number): Promise<void> {
    const key = `${kind}\n${id}`;
    this.values.delete(key);
    this.values.set(key, { value: structuredClone(value), expiresAt });
  }

  async replace(kind: string, id: string, expected: unknown, value: unknown, now: number): Promise<boolean> {
    const key = `${kind}\n${id}`;
    const v = this.values.get(key);
    if (!v || v.expiresAt <= now || JSON.stringify(v.value) !== JSON.stringify(expected)) return false;
    v.value = structuredClone(value);
    return true;
  }

  async get(kind: string, id: string, now: number): Promise<unknown> {
    const v = this.values.get(`${kind}\n${id}`);
    return v && v.expiresAt > now ? structuredClone(v.value) : undefined;
  }

  async take(kind: string, id: string, now: number): Promise<unknown> {
    const key = `${kind}\n${id}`;
    const v = this.values.get(key);
    if (!v) return undefined;
    this.values.delete(key);
    return v.expiresAt > now ? v.value : undefined;
  }

  async prune(now: number): Promise<number> {
    let n = 0;
    for (const [key, v] of this.values) {
      if (v.expiresAt > now) continue;
      this.values.delete(key);
      n++;
    }
    return n;
  }
}
