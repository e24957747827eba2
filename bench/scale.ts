import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chainRecord, GENESIS_HASH } from "../src/audit/record.js";
import { segmentName } from "../src/audit/segments.js";
import { emptyState } from "../src/store/state.js";
import { issuingDaemon, load, type Load } from "./http.js";
import { median, tempDir } from "./lib.js";

/** Writes an audit log of `count` valid, chained records (what a long-lived CA accumulates). */
function seedAudit(dataDir: string, count: number): number {
  const dir = join(dataDir, "audit");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let head = { seq: 0, hash: GENESIS_HASH };
  let segment = 1;
  let lines: string[] = [];
  let bytes = 0;
  const flush = () => {
    writeFileSync(join(dir, segmentName(segment)), lines.join(""), { mode: 0o600, flag: "a" });
    lines = [];
  };
  const t0 = Date.UTC(2025, 0, 1);
  for (let i = 1; i <= count; i++) {
    const r = chainRecord(head, {
      time: new Date(t0 + i * 1000).toISOString(),
      actor: `user${i % 500}`,
      type: i % 3 === 0 ? "certificate.issued" : i % 3 === 1 ? "request.created" : "request.approved",
      fields: {
        request: `rq_seed${String(i).padStart(13, "0")}`,
        requester: `user${i % 500}`,
        role: "auto",
        hosts: ["web-1"],
        serial: String(1e15 + i),
      },
    });
    head = r;
    const line = `${JSON.stringify(r)}\n`;
    lines.push(line);
    bytes += line.length;
    if (lines.length >= 10_000) flush();
    if (bytes >= 64 * 1024 * 1024) {
      flush();
      segment++;
      bytes = 0;
    }
  }
  flush();
  // The live state that goes with it (it must not be older than the log).
  writeFileSync(join(dataDir, "state.json"), JSON.stringify({ ...emptyState(new Date()), auditSeq: count }), {
    mode: 0o600,
  });
  // A long-lived CA's history is on disk already; without this the kernel would still be
  // writing back hundreds of MB of seeded records while the load runs, and every fdatasync
  // of the measurement would wait behind that.
  execFileSync("sync");
  return count;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

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
