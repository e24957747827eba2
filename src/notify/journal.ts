import type { Logger } from "pino";
import type { CommitListener } from "../audit/log.js";

/** Every committed audit event is also one JSON line on stdout, for journald and log shippers. */
export function journalSink(log: Logger): CommitListener {
  return (records) => {
    for (const r of records)
      log.info({ event: { seq: r.seq, type: r.type, actor: r.actor, fields: r.fields } }, "audit event");
  };
}

/** Resolves on the next audit commit, or after `fallbackMs` at the latest. */
export function commitSignal(fallbackMs: number): { listener: CommitListener; next: () => Promise<void> } {
  let waiters: (() => void)[] = [];
  return {
    listener: () => {
      const wake = waiters;
      waiters = [];
      for (const w of wake) w();
    },
    next: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, fallbackMs);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
