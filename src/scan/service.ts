import type { Logger } from "pino";
import type { AccessService } from "../access/service.js";
import type { AccessRequest } from "../domain/request.js";
import type { Storage } from "../store/port.js";
import { randomBase32 } from "../auth/tokens.js";
import type { Config } from "../config/schema.js";
import { fail, safeErr, SshcaError } from "../errors.js";
import { computeDrift, describeDrift, hasDrift, sameOpen } from "./drift.js";
import { Pool } from "./pool.js";
import { portsToScan } from "./ports.js";
import { resolveTarget, runNmap } from "./runner.js";
import type { Deadlines } from "../access/deadlines.js";
import { dueScans, nextScanAt, scansComplete, watchOf } from "./schedule.js";
import type { ScanRecord, ScanRef, ScanTrigger } from "../domain/scan.js";
import type { DueScan } from "./schedule.js";

export interface ScanDeps {
  config: () => Config;
  /** Scan records go to the audit log; scheduled scans are leased, so one replica runs each. */
  audit: Pick<Storage, "append" | "claim">;
  access: AccessService;
  now: () => Date;
  random: (n: number) => Buffer;
  log: Logger;
  /** nmap's version, checked at start. */
  nmapVersion: string;
  /** Told about every finished scan (metrics). */
  onScan?: (record: ScanRecord, drift: boolean) => void;
  /** Keeps each host's latest scan and open drift (scan-aware roles), after the scan is audited. */
  recordHost?: (record: ScanRecord, driftSummary: string | undefined) => Promise<void>;
}

/** Turns a full scan record into what a request keeps: outcome and open ports. */
export function toRef(r: ScanRecord): ScanRef {
  return {
    id: r.id,
    trigger: r.trigger,
    outcome: r.outcome,
    at: r.startedAt,
    open: r.ports.filter((p) => p.state === "open"),
    ...(r.error ? { error: r.error } : {}),
  };
}

/** What a client whose manual scan was refused for a full queue is told to wait, in seconds. */
const MANUAL_QUEUE_RETRY_SECONDS = 10;

/**
 * Runs nmap against inventory hosts: at issue (before signing for gated roles), after access
 * (at expiry), and on demand. What is due is derived from each live request (nextScanAt, kept
 * in an index updated on every change), so after a restart overdue scans simply run at the
 * first tick; an in-flight set keeps a scan from starting twice, and a pool bounds how many
 * run at once. Manual scans have the low priority in that pool (issuance and access-window
 * scans never wait behind them), a bounded queue, and share one run per host.
 */
export class ScanService {
  private readonly inFlight = new Set<string>();
  private readonly pool: Pool;
  /** Live requests by when they next need a scan. */
  private readonly due: Deadlines;
  /** Manual scans queued or running, by host: a second request for the host joins the first. */
  private readonly manualScans = new Map<string, Promise<ScanRecord>>();

  constructor(private readonly deps: ScanDeps) {
    const concurrency = deps.config().scanning.concurrency;
    // Manual scans may use every slot but one, so a gate or expiry scan always finds one.
    this.pool = new Pool(concurrency, Math.max(1, concurrency - 1));
    this.due = deps.access.deadlines((req, config, now) => {
      const role = config.roles[req.role];
      return nextScanAt(req, role, now, watchOf(config, role));
    });
  }

  private tickQueued = false;

  /** A tick soon (once for a burst of request changes), off the caller's path. */
  requestTick(): void {
    if (this.tickQueued) return;
    this.tickQueued = true;
    setImmediate(() => {
      this.tickQueued = false;
      this.tick();
    });
  }

  /** Starts every scan that is due and not already running. */
  tick(): void {
    const now = this.deps.now();
    const config = this.deps.config();
    for (const id of this.due.take(now.getTime())) {
      try {
        const req = this.deps.access.get(id);
        if (req) this.startDue(req, config, now);
      } catch (err) {
        // A request that cannot even be looked at must not hold up the others.
        this.deps.log.error({ err: safeErr(err), request: id }, "scan schedule skipped a request");
      }
    }
  }

  private startDue(req: AccessRequest, config: Config, now: Date): void {
    // Until its scans are recorded (which tracks it anew), a request stays due: a scan that
    // fails to record, or waits for another, is retried at a later tick.
    this.due.track(req);
    const role = config.roles[req.role];
    for (const due of dueScans(req, role, now, watchOf(config, role))) {
      const key = `${req.id}|${due.host}|${due.slot}`;
      if (this.inFlight.has(key)) continue;
      // The after-access scan compares with the issue-time scan: let that one (and a watch) finish first.
      if (due.slot === "after" && this.inFlight.has(`${req.id}|${due.host}|issue`)) continue;
      if (due.slot === "after" && this.inFlight.has(`${req.id}|${due.host}|during`)) continue;
      this.inFlight.add(key);
      this.scanFor(req.id, due.host, due.slot, due.trigger)
        .catch((err) =>
          this.deps.log.error({ err: safeErr(err), request: req.id, host: due.host }, "scan not recorded; will retry"),
        )
        .finally(() => this.inFlight.delete(key));
    }
  }

  /** Everything a finished request still needs from the scanner is done. */
  expiryWorkDone(req: AccessRequest): boolean {
    return scansComplete(req);
  }

  /**
   * One replica runs each scheduled scan. The lease is taken once this replica has a free slot
   * in its pool, not before: a scan queued behind others for longer than the lease would
   * otherwise find its lease taken over, and run again, by another replica. With the lease, the
   * scan must still be due in the live state (another replica may have run it while this one
   * queued). The lease is left to lapse rather than released: until it does, every other replica
   * has long seen the result and no longer finds it due. Each watch round is its own scan, named
   * by the scan it counts from.
   */
  private async scanFor(id: string, host: string, slot: DueScan["slot"], trigger: ScanTrigger): Promise<void> {
    const round = (r: AccessRequest) =>
      slot === "during" ? `@${(r.scans?.[host]?.during ?? r.scans?.[host]?.issue)?.at ?? ""}` : "";
    const queued = this.deps.access.get(id);
    if (!queued) return;
    const lease = `${id}|${host}|${slot}${round(queued)}`;
    const record = await this.pool.run(async () => {
      const config = this.deps.config();
      const timeout = config.hosts[host]?.scan.timeout ?? 300;
      if (!(await this.deps.audit.claim("scan", lease, (timeout + 120) * 1000))) return undefined;
      const req = this.deps.access.get(id);
      if (!req || `${id}|${host}|${slot}${round(req)}` !== lease) return undefined;
      const role = config.roles[req.role];
      const due = dueScans(req, role, this.deps.now(), watchOf(config, role));
      if (!due.some((d) => d.host === host && d.slot === slot)) return undefined;
      const baseline = slot === "issue" ? undefined : req.scans?.[host]?.issue;
      // A watch raises drift when what it finds changed since the previous watch (or it is the
      // first): an unexpected port that stays open is raised once, not every few minutes.
      const previous = slot === "during" ? req.scans?.[host]?.during : undefined;
      return this.scan(host, trigger, req, baseline?.outcome === "ok" ? baseline : undefined, previous, true);
    }, "high");
    if (record) await this.deps.access.applyScan(id, host, slot, toRef(record));
  }

  /**
   * Scans one inventory host and records it in the audit log (scan.started, then scan.finished or
   * scan.failed, and scan.drift when an after-access scan differs). Returns the record.
   * `inSlot`: the caller already holds a slot of the pool (a scheduled scan, leased in it).
   */
  async scan(
    hostName: string,
    trigger: ScanTrigger,
    req?: AccessRequest,
    baseline?: ScanRef,
    previous?: ScanRef,
    inSlot = false,
  ): Promise<ScanRecord> {
    const config = this.deps.config();
    const id = `sc_${randomBase32(this.deps.random, 16)}`;
    const about = req
      ? { request: req.id, requester: req.requester, role: req.role, approvers: req.approvals.map((a) => a.approver) }
      : {};
    const host = Object.hasOwn(config.hosts, hostName) ? config.hosts[hostName] : undefined;
    // Recorded as started once it has a slot, so the audit log shows the order scans ran in.
    const run = async (): Promise<ScanRecord> => {
      await this.deps.audit.append("scan.started", "sshcad", { scan: id, host: hostName, trigger, ...about });
      const startedAt = this.deps.now().toISOString();
      if (!host) {
        return this.failed(
          id,
          hostName,
          "",
          trigger,
          startedAt,
          [],
          `host ${hostName} is no longer in the inventory`,
          req,
        );
      }
      let ip: string;
      try {
        ip = await resolveTarget(host.address);
      } catch (err) {
        return this.failed(
          id,
          hostName,
          host.address,
          trigger,
          startedAt,
          host.expectedPorts,
          (err as Error).message,
          req,
        );
      }
      const result = await runNmap(ip, portsToScan(host), {
        path: config.scanning.nmap,
        hostTimeoutSeconds: host.scan.timeout,
        versionDetection: host.scan.versionDetection,
      });
      return {
        id,
        ...(req ? { request: req.id } : {}),
        host: hostName,
        address: ip,
        trigger,
        startedAt,
        durationMs: result.durationMs,
        nmapVersion: this.deps.nmapVersion,
        args: result.args,
        outcome: result.outcome,
        ...(result.error ? { error: result.error } : {}),
        ports: result.ports,
        extraPorts: result.extraPorts,
        expectedPorts: host.expectedPorts,
      };
    };
    const record = inSlot ? await run() : await this.pool.run(run, trigger === "manual" ? "low" : "high");
    // After access (and for manual scans): compare with the issue-time scan and the expected ports.
    if (record.outcome === "ok" && trigger !== "issue") {
      record.drift = computeDrift(baseline, record.ports, record.expectedPorts);
    }
    const { id: _id, ...fields } = record;
    await this.deps.audit.append(record.outcome === "ok" ? "scan.finished" : "scan.failed", "sshcad", {
      scan: id,
      ...fields,
      ...about,
    });
    if (record.outcome !== "ok") {
      this.deps.log.warn(
        { scan: id, host: hostName, trigger, outcome: record.outcome, error: record.error },
        "scan failed",
      );
    }
    const repeated = previous?.outcome === "ok" && record.outcome === "ok" && sameOpen(previous.open, record.ports);
    const drifted = record.drift !== undefined && trigger !== "manual" && hasDrift(record.drift) && !repeated;
    this.deps.onScan?.(record, drifted);
    const summary = record.drift && drifted ? describeDrift(record.drift) : undefined;
    if (record.drift && summary) {
      await this.deps.audit.append("scan.drift", "sshcad", {
        scan: id,
        host: hostName,
        trigger,
        summary,
        drift: record.drift,
        ...about,
      });
      this.deps.log.warn(
        { scan: id, host: hostName, request: req?.id, trigger, summary },
        trigger === "watch" ? "host exposure changed while access is live" : "host exposure changed during access",
      );
    }
    await this.deps.recordHost?.(record, summary);
    return record;
  }

  /**
   * A manual scan, for approvers of a role that covers the host (and admins). A host already
   * queued or being scanned on demand is not scanned twice: the caller gets that scan. Beyond
   * limits.manualScanQueue hosts waiting or running, 503 with Retry-After instead of a backlog.
   */
  async manual(hostName: string): Promise<ScanRecord> {
    const config = this.deps.config();
    if (!Object.hasOwn(config.hosts, hostName)) throw fail.notFound(`no host ${hostName} in the inventory`);
    const pending = this.manualScans.get(hostName);
    if (pending) return pending;
    const bound = config.limits.manualScanQueue;
    if (this.manualScans.size >= bound) {
      throw new SshcaError(
        "unavailable",
        `too many manual scans queued (limits.manualScanQueue: ${bound}); retry in ${MANUAL_QUEUE_RETRY_SECONDS}s`,
        { details: { retryAfter: MANUAL_QUEUE_RETRY_SECONDS } },
      );
    }
    const run = this.scan(hostName, "manual").finally(() => this.manualScans.delete(hostName));
    this.manualScans.set(hostName, run);
    return run;
  }

  /** Scans waiting for a slot: manual ones, and those issuance and access windows depend on. */
  waiting(): { manual: number; automatic: number } {
    const { high, low } = this.pool.queued;
    return { manual: low, automatic: high };
  }

  private failed(
    id: string,
    host: string,
    address: string,
    trigger: ScanTrigger,
    startedAt: string,
    expectedPorts: number[],
    error: string,
    req?: AccessRequest,
  ): ScanRecord {
    return {
      id,
      ...(req ? { request: req.id } : {}),
      host,
      address,
      trigger,
      startedAt,
      durationMs: 0,
      nmapVersion: this.deps.nmapVersion,
      args: [],
      outcome: "failed",
      error,
      ports: [],
      extraPorts: [],
      expectedPorts,
    };
  }
}
