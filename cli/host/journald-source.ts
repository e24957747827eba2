import { execa, type ResultPromise } from "execa";
import type { LogEntry, LogSource } from "./source.js";

/** Entries held in memory at most; journalctl is not read further until they are taken. */
const MAX_QUEUED = 2000;

export interface JournaldOptions {
  journalctl: string;
  /** SYSLOG_IDENTIFIERs of sshd's lines: sshd, and sshd-session from OpenSSH 9.8 on. */
  identifiers: string[];
  /** A journal namespace (a service's LogNamespace=), when sshd logs to one. */
  namespace?: string | undefined;
  /** Where the companion was (journald's cursor); absent on its first run, which starts at the end. */
  cursor?: string | undefined;
  onError: (message: string) => void;
}

interface JournalEntry {
  MESSAGE?: unknown;
  __CURSOR?: unknown;
  __REALTIME_TIMESTAMP?: unknown;
  _UID?: unknown;
}

/**
 * Follows sshd's lines in the journal with `journalctl --follow --output=json`, from a cursor kept
 * in the companion's state. Only entries journald itself says came from root (_UID, a trusted
 * field) count: any local user can log a line that says "sshd" with logger(1), but not as root.
 */
export class JournaldSource implements LogSource {
  private readonly queue: LogEntry[] = [];
  private cursor: string | undefined;
  private child: ResultPromise | undefined;
  private stopped = false;
  private space: (() => void) | undefined;
  private readonly running: Promise<void>;

  /**
   * Without a cursor (the first run), entries from this second on: `--lines=0` would start at the
   * end as journalctl finds it, which on a busy host is a second or more after it was started,
   * and the logins of that second would be lost.
   */
  private readonly since = Math.floor(Date.now() / 1000);

  constructor(private readonly opts: JournaldOptions) {
    this.cursor = opts.cursor;
    this.running = this.follow();
  }

  async read(): Promise<LogEntry[]> {
    const out = this.queue.splice(0, this.queue.length);
    this.space?.();
    return out;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.child?.kill();
    this.space?.();
    await this.running;
  }

  private args(): string[] {
    return [
      "--follow",
      "--output=json",
      "--no-pager",
      ...(this.opts.namespace ? [`--namespace=${this.opts.namespace}`] : []),
      ...this.opts.identifiers.map((i) => `--identifier=${i}`),
      ...(this.cursor ? [`--after-cursor=${this.cursor}`] : [`--since=@${this.since}`]),
    ];
  }

  /** Runs journalctl, and runs it again (from the last cursor) whenever it ends. */
  private async follow(): Promise<void> {
    let backoff = 1000;
    while (!this.stopped) {
      const child = execa(this.opts.journalctl, this.args(), { buffer: false, stdin: "ignore", stderr: "pipe" });
      this.child = child;
      try {
        for await (const line of child) {
          const entry = this.entry(String(line));
          if (entry) {
            this.queue.push(entry);
            backoff = 1000;
          }
          while (this.queue.length >= MAX_QUEUED && !this.stopped) await new Promise<void>((r) => (this.space = r));
          if (this.stopped) break;
        }
        const done = await child;
        if (!this.stopped) this.opts.onError(`journalctl ended (exit ${done.exitCode}); started again`);
      } catch (err) {
        if (!this.stopped) this.opts.onError(`journalctl stopped: ${(err as Error).message.split("\n")[0]}`);
      }
      if (this.stopped) break;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 30_000);
    }
  }

  private entry(text: string): LogEntry | undefined {
    let e: JournalEntry;
    try {
      e = JSON.parse(text) as JournalEntry;
    } catch {
      return undefined;
    }
    if (typeof e.__CURSOR !== "string") return undefined;
    this.cursor = e.__CURSOR;
    const position = { kind: "journald" as const, cursor: e.__CURSOR };
    // MESSAGE is an array of bytes when it is not valid UTF-8: no line of ours.
    if (e._UID !== "0" || typeof e.MESSAGE !== "string") return { line: "", position, message: true };
    const micros = typeof e.__REALTIME_TIMESTAMP === "string" ? Number(e.__REALTIME_TIMESTAMP) : Number.NaN;
    const at = Number.isFinite(micros) ? new Date(Math.floor(micros / 1000)).toISOString() : undefined;
    return { line: e.MESSAGE, position, message: true, ...(at ? { at } : {}) };
  }
}
