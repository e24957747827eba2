import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { issuingDaemon, load, type Load } from "./http.js";
import { type Daemon, median, metric, percentile, rssMb, tempDir, waitForIndex } from "./lib.js";
import { SEED_T0, seedAudit, seedNames } from "./seed.js";

/** One timed GET; fails the benchmark on anything but 200. */
async function timedGet(url: string, token: string): Promise<{ ms: number; body: any }> {
  const t = process.hrtime.bigint();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(600_000) });
  const body = await res.json();
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${JSON.stringify(body)}`);
  return { ms, body };
}

/** The daemon's longest event-loop stall since the last scrape (prom-client resets it on each scrape). */
const stallMs = async (url: string) => (await metric(url, "sshcad_nodejs_eventloop_lag_max_seconds")) * 1000;

/**
 * Look-ups of each kind against a log of `events` records: `n` different values each, one at a
 * time; p95 of the client-side latency (HTTP on loopback included).
 */
async function lookups(daemon: Daemon, token: string, events: number, n: number) {
  const pick = (k: number) => 1 + Math.floor(((k * 7919) % n) * (events / n));
  const url = (path: string) => `${daemon.url}${path}`;
  const hour = (k: number) => new Date(SEED_T0 + pick(k) * 1000);
  const kinds: Record<string, (k: number) => Promise<string>> = {
    request: async (k) => url(`/v1/audit?request=${seedNames(pick(k)).request}`),
    serial: async (k) => url(`/v1/audit?serial=${seedNames(pick(k)).serial}`),
    user: async (k) => url(`/v1/audit?user=${seedNames(pick(k)).user}`),
    host: async (k) => url(`/v1/audit?host=${seedNames(pick(k)).host}`),
    "type (exact)": async () => url("/v1/audit?type=certificate.revoked"),
    "type (family)": async () => url("/v1/audit?type=scan"),
    "time range": async (k) =>
      url(`/v1/audit?since=${hour(k).toISOString()}&until=${new Date(hour(k).getTime() + 3600_000).toISOString()}`),
    "user + type + time": async (k) =>
      url(`/v1/audit?user=${seedNames(pick(k)).user}&type=certificate&since=${new Date(SEED_T0).toISOString()}`),
    "next page (cursor)": async (k) => {
      const first = await timedGet(url(`/v1/audit?host=${seedNames(pick(k)).host}`), token);
      return url(`/v1/audit?host=${seedNames(pick(k)).host}&cursor=${first.body.cursor}`);
    },
    "scan by id": async (k) => url(`/v1/scans/${seedNames(pick(k)).scan}`),
    "scans of a host": async (k) => url(`/v1/scans?host=${seedNames(pick(k)).host}`),
  };
  await stallMs(daemon.url); // resets the daemon's maximum
  const p95: Record<string, number> = {};
  for (const [kind, target] of Object.entries(kinds)) {
    const ms: number[] = [];
    for (let k = 0; k < n; k++) {
      const r = await timedGet(await target(k), token);
      if ((r.body.records ?? r.body.scans ?? [r.body]).length === 0) throw new Error(`${kind}: nothing found`);
      ms.push(r.ms);
    }
    p95[kind] = percentile(ms, 95);
  }
  return { p95, maxStallMs: await stallMs(daemon.url) };
}

/** Runs verifications back to back until `done` resolves; returns how long each took and the worst RSS seen. */
async function verifyingUntil(daemon: Daemon, token: string, done: Promise<unknown>) {
  let finished = false;
  void done.then(() => (finished = true));
  let rss = 0;
  const sampler = setInterval(() => (rss = Math.max(rss, rssMb(daemon.proc.pid!))), 100);
  const seconds: number[] = [];
  const results: any[] = [];
  try {
    do {
      const r = await timedGet(`${daemon.url}/v1/audit/verify`, token);
      seconds.push(r.ms / 1000);
      results.push(r.body);
    } while (!finished);
  } finally {
    clearInterval(sampler);
  }
  if (!results.every((r) => r.ok)) throw new Error(`verify failed: ${JSON.stringify(results.find((r) => !r.ok))}`);
  return { seconds, maxRssMb: rss, records: results[0].records as number };
}

/**
 * The audit log at size: `events` seeded records, the index built by the daemon, then look-ups
 * per filter kind, a verification alone, and issuance without and with verifications running
 * (alternating, `rounds` times; the ratio is the median of the per-round ratios).
 */
export async function auditBench(seconds = 10, events = 1_000_000, rounds = 3, lookupsPerKind = 40) {
  const dataDir = join(tempDir("audit"), "data");
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let t = Date.now();
  seedAudit(dataDir, events);
  const seededSeconds = (Date.now() - t) / 1000;
  const auditors = { groups: { dev: {}, sre: {}, auditors: {} }, rights: { audit: ["auditors"] } };
  t = Date.now();
  const { daemon, token, body } = await issuingDaemon({ ...auditors, requests: { keepFinished: "0s" } }, dataDir);
  try {
    await waitForIndex(daemon.url);
    const indexSeconds = (Date.now() - t) / 1000;
    const eve = await daemon.sshcad(["user", "add", "eve", "--group", "auditors"]);

    // The event loop's own noise floor on this machine: the longest stall of an idle daemon.
    await stallMs(daemon.url);
    await new Promise((r) => setTimeout(r, 5000));
    const idleStallMs = await stallMs(daemon.url);
    const idleRssMb = rssMb(daemon.proc.pid!);

    const look = await lookups(daemon, eve, events, lookupsPerKind);

    // Verification alone: how long, how much memory, how long the event loop ever waited.
    await stallMs(daemon.url);
    const alone = await verifyingUntil(daemon, eve, Promise.resolve());
    const verifyStallMs = await stallMs(daemon.url);

    const issue = () =>
      load(`${daemon.url}/v1/requests`, {
        connections: 16,
        seconds,
        headers: { authorization: `Bearer ${token}` },
        body,
      });
    await issue(); // warm-up
    // Each round: without, with, without again. The verification's effect is the middle load
    // against the mean of its neighbours; the two neighbours against each other show how much
    // p99 moves on this machine with no verification at all.
    const runs: { before: Load; verifying: Load; after: Load; idleRssMb: number; verifyingRssMb: number }[] = [];
    for (let i = 0; i < rounds; i++) {
      let rss = 0;
      const sampler = setInterval(() => (rss = Math.max(rss, rssMb(daemon.proc.pid!))), 100);
      const before = await issue();
      clearInterval(sampler);
      const during = issue();
      const verifying = await verifyingUntil(daemon, eve, during);
      const after = await issue();
      runs.push({ before, verifying: await during, after, idleRssMb: rss, verifyingRssMb: verifying.maxRssMb });
    }
    const idleP99 = (r: (typeof runs)[number]) => (r.before.p99 + r.after.p99) / 2;
    return {
      events,
      seededSeconds,
      indexSeconds,
      idleStallMs,
      idleRssMb,
      lookupP95: look.p95,
      lookupMaxStallMs: look.maxStallMs,
      verifySeconds: alone.seconds[0]!,
      verifyRecords: alone.records,
      verifyRssMb: alone.maxRssMb,
      verifyStallMs,
      idleP99: median(runs.map(idleP99)),
      verifyingP99: median(runs.map((r) => r.verifying.p99)),
      p99Ratio: median(runs.map((r) => r.verifying.p99 / idleP99(r))),
      /** The same ratio between the two loads without a verification (no effect: 1.0 ± noise). */
      controlRatios: runs.map((r) => r.after.p99 / r.before.p99),
      loadRssMb: Math.max(...runs.map((r) => r.idleRssMb)),
      loadVerifyingRssMb: Math.max(...runs.map((r) => r.verifyingRssMb)),
      runs,
    };
  } finally {
    await daemon.stop();
  }
}
