import type { Logger } from "pino";
import type { AuditQuery } from "../audit/query.js";
import type { AuditRecord } from "../audit/record.js";
import { hostActor } from "../auth/host-credential.js";
import { fail } from "../errors.js";
import { type AuditEvent, put, retryStale, type Storage } from "../store/port.js";
import type { HostReportEntry } from "../store/state.js";
import { type CertificateOrigin, type Finding, judgeLogin, originOf, type SessionEvent } from "./judge.js";

/** One login or logout in a companion's stream, numbered by it. */
export interface ReportedEvent extends SessionEvent {
  seq: number;
}

export interface HostReportDeps {
  storage: Pick<Storage, "state" | "commit">;
  audit: () => Pick<AuditQuery, "query">;
  /** The fingerprints of the CA keys this daemon signs with. */
  caFingerprints: () => string[];
  now: () => Date;
  log: Logger;
  /** Told about every finding raised (metrics). */
  onFinding?: (finding: Finding) => void;
}

/** A heartbeat without news is written at most this often (the silence check reads lastSeenAt). */
const SEEN_WRITE_MS = 15_000;

/**
 * Receives what a target host's companion (sshca host) reports: logins and logouts made with
 * SSH certificates, numbered in the companion's stream, plus heartbeats. Each new event becomes
 * session.opened / session.closed in the audit log, joined to the request its serial was issued
 * for; what should not have happened (judge.ts) becomes a finding.raised record and a warning.
 * The stream position is stored in the same commit as the records, so a report sent again
 * (at-least-once) is recorded once.
 */
export class HostReports {
  constructor(private readonly deps: HostReportDeps) {}

  async receive(host: string, stream: string, events: readonly ReportedEvent[]): Promise<{ through: number }> {
    for (let i = 1; i < events.length; i++)
      if (events[i]!.seq <= events[i - 1]!.seq) throw fail.badRequest("events must be in increasing seq order");
    const raised: Finding[] = [];
    const through = await retryStale(async () => {
      raised.length = 0;
      const { storage } = this.deps;
      const entry = Object.hasOwn(storage.state.hostReports, host) ? storage.state.hostReports[host] : undefined;
      const from = entry?.stream === stream ? entry.through : 0;
      const fresh = events.filter((e) => e.seq > from);
      const now = this.deps.now();
      const records: AuditEvent[] = [];
      const certificates = new Map<string, Promise<Lookup>>();
      for (const e of fresh) {
        let lookup = certificates.get(e.serial);
        if (!lookup) {
          lookup = this.lookup(e.serial);
          certificates.set(e.serial, lookup);
        }
        const { origin, revoked } = await lookup;
        const about = origin ? { request: origin.request, requester: origin.requester, role: origin.role } : {};
        records.push({
          type: e.kind === "opened" ? "session.opened" : "session.closed",
          actor: hostActor(host),
          fields: {
            host,
            login: e.login,
            from: e.from,
            port: e.port,
            at: e.at,
            serial: e.serial,
            keyId: e.keyId,
            caFingerprint: e.caFingerprint,
            ...about,
            stream,
            streamSeq: e.seq,
          },
        });
        for (const f of judgeLogin(e, host, origin, revoked, this.deps.caFingerprints())) {
          raised.push(f);
          records.push({
            type: "finding.raised",
            actor: "sshcad",
            fields: { finding: f.finding, detail: f.detail, host, serial: e.serial, at: e.at, ...about },
          });
        }
      }
      if (entry?.silentSince !== undefined) {
        records.push({
          type: "host.reporting_resumed",
          actor: hostActor(host),
          fields: { host, silentSince: entry.silentSince },
        });
      }
      const next: HostReportEntry = {
        stream,
        through: Math.max(from, ...fresh.map((e) => e.seq)),
        lastSeenAt: now.toISOString(),
      };
      const stale = !entry || now.getTime() - Date.parse(entry.lastSeenAt) >= SEEN_WRITE_MS;
      if (records.length > 0 || entry?.stream !== stream || stale) {
        await storage.commit(records, [put("hostReports", host, next, { entry })]);
      }
      return next.through;
    });
    for (const f of raised) {
      this.deps.onFinding?.(f);
      this.deps.log.warn(
        { host, finding: f.finding, detail: f.detail },
        "finding: a login that should not have happened",
      );
    }
    return { through };
  }

  /** The certificate's issuance and revocation records (indexed by serial: no scan of the log). */
  private async lookup(serial: string): Promise<Lookup> {
    const { records } = await this.deps
      .audit()
      .query({ serial, types: ["certificate.issued", "certificate.revoked"] }, { limit: 10 });
    const issued: AuditRecord | undefined = records.find((r) => r.type === "certificate.issued");
    const revokedRecord = records.find((r) => r.type === "certificate.revoked");
    return {
      origin: originOf(issued),
      revoked: revokedRecord ? { at: revokedRecord.time, by: revokedRecord.actor } : undefined,
    };
  }
}

interface Lookup {
  origin: CertificateOrigin | undefined;
  revoked: { at: string; by: string } | undefined;
}
