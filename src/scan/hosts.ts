import { isAdmin, isApprover, isAuditor } from "../access/policy.js";
import type { Config } from "../config/schema.js";
import { unwrap } from "../domain/decision.js";
import type { Identity } from "../domain/request.js";
import type { HostStatus, ScanRecord } from "../domain/scan.js";
import { fail } from "../errors.js";
import { put, retryStale, type Storage } from "../store/port.js";
import { afterScan, decideResolve } from "./host-status.js";

export interface HostHealthDeps {
  config: () => Config;
  storage: Pick<Storage, "state" | "commit">;
  now: () => Date;
}

/**
 * Each inventory host's latest scan and unresolved drift (live-state collection `hosts`): kept
 * after every scan, read by scan-aware roles, and cleared by an approver who looked at the drift
 * (audited as host.drift_resolved).
 */
export class HostHealth {
  constructor(private readonly deps: HostHealthDeps) {}

  status(host: string): HostStatus | undefined {
    const hosts = this.deps.storage.state.hosts;
    return Object.hasOwn(hosts, host) ? hosts[host] : undefined;
  }

  /** Records a finished scan (bookkeeping: the scan itself is audited by the scanner). */
  async record(record: ScanRecord, driftSummary: string | undefined): Promise<void> {
    await retryStale(async () => {
      const prev = this.status(record.host);
      const next = afterScan(prev, record, driftSummary);
      await this.deps.storage.commit([], [put("hosts", record.host, next, { entry: prev })]);
    });
  }

  /** Roles covering the host whose approvers may resolve its drift. */
  private rolesOf(host: string) {
    return Object.values(this.deps.config().roles).filter((r) => r.hosts.includes(host));
  }

  /** Approvers of a role covering the host may resolve; they, auditors and admins may look. */
  mayResolve(identity: Identity, host: string): boolean {
    return this.rolesOf(host).some((r) => isApprover(r, identity));
  }

  private mayView(identity: Identity, host: string): boolean {
    const config = this.deps.config();
    return this.mayResolve(identity, host) || isAuditor(config, identity) || isAdmin(config, identity);
  }

  /** Inventory hosts this identity may see, with their status. */
  list(identity: Identity): { host: string; status: HostStatus | undefined }[] {
    return Object.keys(this.deps.config().hosts)
      .filter((h) => this.mayView(identity, h))
      .sort()
      .map((host) => ({ host, status: this.status(host) }));
  }

  /** An approver marks the host's drift resolved, with what they found; audited. */
  async resolve(identity: Identity, host: string, comment: string): Promise<HostStatus> {
    if (!Object.hasOwn(this.deps.config().hosts, host) || !this.mayView(identity, host))
      throw fail.notFound(`no host ${host} in the inventory that you may see`);
    return retryStale(async () => {
      const prev = this.status(host);
      const next = unwrap(
        decideResolve(host, prev, identity.user, this.mayResolve(identity, host), comment, this.deps.now()),
      );
      await this.deps.storage.commit(
        [
          {
            type: "host.drift_resolved",
            actor: identity.user,
            fields: {
              host,
              comment: next.resolved!.comment,
              scan: prev!.drift!.scan,
              since: prev!.drift!.since,
              summary: prev!.drift!.summary,
            },
          },
        ],
        [put("hosts", host, next, { entry: prev })],
      );
      return next;
    });
  }
}
