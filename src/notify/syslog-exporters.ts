import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { canonicalJson } from "../canonical-json.js";
import type { SyslogConfig } from "../config/syslog-schema.js";
import type { Storage } from "../store/port.js";
import { syslogTls } from "./syslog-transport.js";
import { type SyslogDeps, SyslogWorker } from "./syslog-worker.js";

/**
 * The running syslog exporters, one per configured destination. `apply` brings them in line
 * with a (reloaded) config: a destination added starts, one removed stops (its cursor stays, so
 * adding it back resumes where it was), one changed is restarted on the new settings from its
 * cursor. The TLS files are read first, so a missing file leaves everything as it was.
 */
export class SyslogExporters {
  private readonly running = new Map<string, { key: string; worker: SyslogWorker }>();

  constructor(private readonly deps: Omit<SyslogDeps, "hostname" | "pid">) {}

  /** Destinations and how far each one's durable cursor is behind the audit head (for the lag gauge). */
  lag(storage: Pick<Storage, "state" | "head">): { destination: string; records: number }[] {
    return [...this.running.keys()].map((destination) => ({
      destination,
      records: Math.max(0, storage.head.seq - (storage.state.syslog[destination]?.cursor ?? storage.head.seq)),
    }));
  }

  /** One apply at a time (two quick reloads must not both start a destination's worker). */
  private applying: Promise<void> = Promise.resolve();

  apply(destinations: readonly SyslogConfig[]): Promise<void> {
    const next = this.applying.then(() => this.applyNow(destinations));
    this.applying = next.catch(() => undefined);
    return next;
  }

  private async applyNow(destinations: readonly SyslogConfig[]): Promise<void> {
    const wanted = new Map<string, { dest: SyslogConfig; key: string }>();
    const material = new Map<string, Awaited<ReturnType<typeof syslogTls>>>();
    for (const dest of destinations) {
      const tls = await syslogTls(dest);
      material.set(dest.name, tls);
      // The files' contents count: a renewed CA or client certificate restarts the exporter.
      const files = [tls.ca, tls.cert, tls.key].map((b) => (b ? createHash("sha256").update(b).digest("hex") : ""));
      wanted.set(dest.name, { dest, key: canonicalJson({ dest, files }) });
    }
    const stopping: Promise<void>[] = [];
    for (const [name, r] of this.running) {
      if (wanted.get(name)?.key === r.key) continue;
      this.running.delete(name);
      stopping.push(r.worker.stop());
    }
    await Promise.all(stopping);
    for (const [name, { dest, key }] of wanted) {
      if (this.running.has(name)) continue;
      const worker = new SyslogWorker(dest, material.get(name)!, {
        ...this.deps,
        hostname: hostname(),
        pid: process.pid,
      });
      this.running.set(name, { key, worker });
      worker.start();
    }
  }

  async stop(): Promise<void> {
    await this.applying;
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all(all.map((r) => r.worker.stop()));
  }
}
