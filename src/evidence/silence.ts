import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { put, retryStale, StaleState, type Storage } from "../store/port.js";
import type { HostReportEntry, StateView } from "../store/state.js";
import type { Finding } from "./judge.js";

/**
 * Hosts that stopped reporting: their companion reported before, the host is still in the
 * inventory and still holds a live host credential (a decommissioned host's credential is
 * revoked), and nothing came for `evidence.silentAfter`. Each is raised once, until it reports
 * again. Pure.
 */
export function silentHosts(
  state: Pick<StateView, "hostReports" | "tokens">,
  config: Pick<Config, "hosts" | "evidence">,
  now: Date,
): string[] {
  const credentialed = new Set<string>();
  for (const t of Object.values(state.tokens)) {
    if (
      t.kind === "host" &&
      t.host !== undefined &&
      t.revokedAt === undefined &&
      Date.parse(t.expiresAt) > now.getTime()
    )
      credentialed.add(t.host);
  }
  const limit = config.evidence.silentAfter * 1000;
  return Object.entries(state.hostReports)
    .filter(
      ([host, e]) =>
        e.silentSince === undefined &&
        Object.hasOwn(config.hosts, host) &&
        credentialed.has(host) &&
        now.getTime() - Date.parse(e.lastSeenAt) >= limit,
    )
    .map(([host]) => host)
    .sort();
}

/** How long one replica holds the silence check of a host (another takes over if it dies). */
const LEASE_MS = 60_000;

/**
 * Raises host_silent findings (audit record, warning, webhook through the audit log). Runs on
 * every replica; storage.claim makes one of them do each host, and the entry's expected value
 * makes a second raise impossible even if two got there.
 */
export async function checkSilence(deps: {
  storage: Pick<Storage, "state" | "commit" | "claim" | "release">;
  config: () => Config;
  now: () => Date;
  log: Logger;
  onFinding?: (finding: Finding) => void;
}): Promise<string[]> {
  const raised: string[] = [];
  for (const host of silentHosts(deps.storage.state, deps.config(), deps.now())) {
    if (!(await deps.storage.claim("host-silence", host, LEASE_MS))) continue;
    try {
      const done = await retryStale(async () => {
        const entry: HostReportEntry | undefined = deps.storage.state.hostReports[host];
        const now = deps.now();
        if (!entry || !silentHosts(deps.storage.state, deps.config(), now).includes(host)) return undefined;
        const finding: Finding = {
          finding: "host_silent",
          detail: `host ${host} has not reported since ${entry.lastSeenAt}: its companion (sshca host) is down, cut off, or stopped; logins there are not being seen`,
        };
        await deps.storage.commit(
          [{ type: "finding.raised", actor: "sshcad", fields: { ...finding, host, lastSeenAt: entry.lastSeenAt } }],
          [put("hostReports", host, { ...entry, silentSince: now.toISOString() }, { entry })],
        );
        return finding;
      }).catch((err: unknown) => {
        if (err instanceof StaleState) return undefined;
        throw err;
      });
      if (done) {
        raised.push(host);
        deps.onFinding?.(done);
        deps.log.warn({ host, finding: done.finding, detail: done.detail }, "finding: a host stopped reporting");
      }
    } finally {
      await deps.storage.release("host-silence", host).catch(() => undefined);
    }
  }
  return raised;
}
