import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { issuingDaemon, load, type Load } from "./http.js";
import { median, rssMb, tempDir, waitForIndex } from "./lib.js";
import { seedAudit } from "./seed.js";

/**
 * Issuance p99 on a small CA against one with 1,000,000 audit events and 10,000 live requests.
 * Both daemons are set up first and then loaded alternately, `rounds` times each, so machine
 * noise falls on both alike; the ratio is the median of the per-round ratios.
 */
export async function scaleBench(seconds = 10, events = 1_000_000, live = 10_000, rounds = 3) {
  const setup = async (auditEvents: number, liveRequests: number) => {
    const dataDir = join(tempDir("scale"), "data");
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const t = Date.now();
    seedAudit(dataDir, auditEvents);
    const seededMs = Date.now() - t;
    const { daemon, token, body } = await issuingDaemon({ requests: { keepFinished: "0s" } }, dataDir);
    // The audit index is built from the seeded log first (a one-time cost, measured in bench/audit.ts).
    await waitForIndex(daemon.url);
    if (liveRequests > 0) {
      // Live requests that stay (pending, waiting for approval), created through the API.
      const pending = body.replace('"role":"auto"', '"role":"approved"');
      const created = await load(`${daemon.url}/v1/requests`, {
        connections: 32,
        seconds: 0,
        amount: liveRequests,
        headers: { authorization: `Bearer ${token}` },
        body: pending,
      });
      if (created.non2xx > 0) throw new Error(`seeding live requests failed: ${created.non2xx} errors`);
    }
    await new Promise((r) => setTimeout(r, 2000));
    const rssAtSizeMb = rssMb(daemon.proc.pid!);
    const issue = () =>
      load(`${daemon.url}/v1/requests`, {
        connections: 16,
        seconds,
        headers: { authorization: `Bearer ${token}` },
        body,
      });
    return { daemon, issue, info: { auditEvents, liveRequests, seededMs, rssAtSizeMb } };
  };
  const small = await setup(1_000, 0);
  const large = await setup(events, live);
  const runs: { small: Load; large: Load }[] = [];
  let rssAfterLoadMb: number;
  try {
    for (let i = 0; i < rounds; i++) runs.push({ small: await small.issue(), large: await large.issue() });
    rssAfterLoadMb = rssMb(large.daemon.proc.pid!);
  } finally {
    await Promise.all([small.daemon.stop(), large.daemon.stop()].map((p) => p.catch(() => undefined)));
  }
  return {
    small: {
      ...small.info,
      p99: median(runs.map((r) => r.small.p99)),
      rps: median(runs.map((r) => r.small.requestsPerSecond)),
    },
    large: {
      ...large.info,
      p99: median(runs.map((r) => r.large.p99)),
      rps: median(runs.map((r) => r.large.requestsPerSecond)),
      rssAfterLoadMb,
    },
    p99Ratio: median(runs.map((r) => r.large.p99 / r.small.p99)),
    rounds: runs,
  };
}
