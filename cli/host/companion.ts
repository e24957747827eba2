import type {
  CaView,
  HostReportBody,
  HostReportView,
  HostWhoamiView,
  PrincipalsView,
} from "../../src/http/contract.js";
import { CliError } from "../errors.js";
import { parseSshdLine, parseSshdMessage } from "./sshd-log.js";
import type { LogEntry, LogSource } from "./source.js";
import { loadState, saveState } from "./state-file.js";
import { syncKrl, syncPrincipals, syncTrustedCaKeys } from "./sync.js";
import { type CompanionState, type LogPosition, track } from "./tracker.js";

/** The daemon's /v1/host/ routes, as the companion uses them. */
export interface HostApi {
  whoami(): Promise<HostWhoamiView>;
  principals(): Promise<PrincipalsView>;
  krl(): Promise<Buffer>;
  report(body: HostReportBody): Promise<HostReportView>;
  /** GET /v1/ca: the user CA keys the rotation phase needs. */
  ca(): Promise<CaView>;
}

export interface CompanionOptions {
  api: HostApi;
  krlPath: string;
  principalsDir: string;
  /** sshd's TrustedUserCAKeys file, kept by the companion when given (--trusted-ca-keys). */
  trustedCaKeysPath?: string | undefined;
  statePath: string;
  /** sshd's log from where the companion was; absent with --once. */
  source?: (from: LogPosition | undefined) => LogSource;
  /** KRL and principals sync, and heartbeats. */
  intervalMs: number;
  log: (line: string) => void;
  now: () => Date;
}

/** Events sent per report (the daemon takes up to 25). */
const BATCH = 20;
/** Unsent events held at most: beyond it sshd's log is not read further until the daemon takes some. */
const MAX_PENDING = 10_000;
/** How often the log is looked at when it had nothing new. */
const POLL_MS = 250;
/** A read position without events is saved at most this often (re-reading a few lines is harmless). */
const SAVE_MS = 5000;

/**
 * sshca host: the companion on a target host. It keeps the KRL and the AuthorizedPrincipalsFiles
 * current from the daemon, and follows sshd's log to report every login and logout made with a
 * certificate (at least once: an event leaves the state file only when the daemon has recorded
 * it), with a heartbeat every interval so the daemon notices a host that goes quiet.
 */
export class Companion {
  private state!: CompanionState;
  private host: string | undefined;
  private nextSync = 0;
  /** When the next heartbeat is due. */
  private nextBeat = 0;
  /** After a failed report: nothing is sent before this. */
  private retryAt = 0;
  private backoff = 1000;
  private batch = BATCH;
  private savedAt = 0;
  private dirty = false;

  constructor(private readonly o: CompanionOptions) {}

  /** One sync and one delivery of what is queued (sshca host --once); rejects if the sync failed. */
  async once(): Promise<void> {
    this.state = await loadState(this.o.statePath, this.o.log);
    await this.sync();
    await this.deliver(true);
  }

  /** Runs until `signal` aborts, then saves its state. */
  async run(signal: AbortSignal): Promise<void> {
    this.state = await loadState(this.o.statePath, this.o.log);
    await saveState(this.o.statePath, this.state);
    const source = this.o.source?.(this.state.position);
    try {
      while (!signal.aborted) {
        const now = Date.now();
        if (now >= this.nextSync) {
          await this.sync().catch((err: Error) =>
            this.o.log(`sync failed (the files stay as they were): ${err.message}`),
          );
          this.nextSync = now + this.o.intervalMs;
        }
        let entries: LogEntry[] = [];
        if (source && this.state.pending.length < MAX_PENDING) {
          entries = await source.read();
          await this.take(entries);
        }
        if (now >= this.retryAt && (now >= this.nextBeat || this.state.pending.length > 0))
          await this.deliver(now >= this.nextBeat);
        if (entries.length === 0) await sleep(POLL_MS, signal);
      }
    } finally {
      await source?.close();
      await saveState(this.o.statePath, this.state);
    }
  }

  /** KRL first (it is what stops a revoked certificate), then the CA keys and the principals files. */
  private async sync(): Promise<void> {
    if (!this.host) {
      this.host = (await this.o.api.whoami()).host;
      this.o.log(`sshca host: reporting for ${this.host}, stream ${this.state.stream}`);
    }
    if (await syncKrl(this.o.krlPath, await this.o.api.krl())) this.o.log(`KRL updated: ${this.o.krlPath}`);
    const caPath = this.o.trustedCaKeysPath;
    if (caPath && (await syncTrustedCaKeys(caPath, await this.o.api.ca())))
      this.o.log(`TrustedUserCAKeys updated: ${caPath}`);
    const view = await this.o.api.principals();
    if (view.host !== this.host) throw new Error(`the daemon answered for ${view.host}, not ${this.host}`);
    const { managed, changed } = await syncPrincipals(this.o.principalsDir, view, this.state.managed);
    if (changed.length > 0) this.o.log(`principals files updated: ${changed.join(", ")}`);
    if (managed.join() !== this.state.managed.join()) {
      this.state = { ...this.state, managed };
      await this.save();
    }
  }

  /** Turns new log lines into session events (queued and saved before the position moves past them). */
  private async take(entries: readonly LogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    let events = 0;
    for (const entry of entries) {
      const now = this.o.now();
      const parsed = entry.message ? parseSshdMessage(entry.line) : parseSshdLine(entry.line, now);
      if (parsed) {
        const at = entry.at ?? parsed.at ?? now.toISOString();
        const next = track(this.state, parsed, at);
        if (next.report) events++;
        this.state = next.state;
      }
      this.state = { ...this.state, position: entry.position };
    }
    this.dirty = true;
    if (events > 0 || Date.now() - this.savedAt >= SAVE_MS) await this.save();
  }

  private async save(): Promise<void> {
    await saveState(this.o.statePath, this.state);
    this.savedAt = Date.now();
    this.dirty = false;
  }

  /**
   * Sends queued events in order (a heartbeat when there are none). An event the daemon refuses
   * as malformed is sent alone, then dropped with a warning, so one odd line never blocks the
   * rest; any other failure keeps everything queued and backs off.
   */
  private async deliver(heartbeat: boolean): Promise<void> {
    do {
      const events = this.state.pending.slice(0, this.batch);
      if (events.length === 0 && !heartbeat) return;
      try {
        const { through } = await this.o.api.report({ stream: this.state.stream, events });
        const before = this.state.pending.length;
        this.state = { ...this.state, pending: this.state.pending.filter((e) => e.seq > through) };
        if (this.state.pending.length !== before) await this.save();
        this.backoff = 1000;
        this.batch = BATCH;
        this.retryAt = 0;
        this.nextBeat = Date.now() + this.o.intervalMs;
        heartbeat = false;
      } catch (err) {
        if (err instanceof CliError && err.code === "bad_request" && events.length > 0) {
          if (events.length > 1) {
            this.batch = 1;
            continue;
          }
          this.o.log(`the daemon refused event ${events[0]!.seq} (${err.message}); dropped`);
          this.state = { ...this.state, pending: this.state.pending.slice(1) };
          await this.save();
          continue;
        }
        this.o.log(`report failed (kept, retried in ${Math.round(this.backoff / 1000)}s): ${(err as Error).message}`);
        this.retryAt = Date.now() + this.backoff;
        this.backoff = Math.min(this.backoff * 2, 60_000);
        return;
      }
    } while (this.state.pending.length > 0);
    if (this.dirty) await this.save();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
