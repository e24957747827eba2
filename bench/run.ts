/**
 * npm run bench: every figure is a ratio against a baseline measured in the same run, because
 * the machines are shared and noisy. Noisy comparisons run several rounds; the median is kept.
 * Writes BENCHMARKS.md at the repository root.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { auditBench } from "./audit.js";
import { groupCommitBench, httpBench } from "./http.js";
import { median, ROOT } from "./lib.js";
import { peopleBench } from "./people.js";
import type { Load } from "./http.js";
import { type PostgresBench, postgresBench } from "./postgres.js";
import { scaleBench } from "./scale.js";
import { scansBench } from "./scans.js";
import { signingBench } from "./signing.js";

const quick = process.argv.includes("--quick");
const rounds = quick ? 1 : 3;
const seconds = quick ? 4 : 10;
const log = (s: string) => process.stderr.write(`${s}\n`);
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "?");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "?");

async function rounds_<T>(name: string, n: number, fn: () => Promise<T> | T): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    log(`${name}: round ${i + 1}/${n}`);
    out.push(await fn());
  }
  return out;
}

const rows: string[][] = [];
const notes: string[] = [];
const verdict = (ok: boolean) => (ok ? "met" : "**missed**");

log("signing");
const sign = await signingBench(quick ? 3 : 7, quick ? 800 : 1500);
rows.push([
  "Signing: certificates/s vs raw Ed25519 signatures/s",
  `${sign.certsPerSecond.toFixed(0)}/s`,
  `${sign.signaturesPerSecond.toFixed(0)}/s`,
  f2(sign.ratio),
  "≥ 0.50",
  verdict(sign.ratio >= 0.5),
]);

const http = await rounds_("http issuance", rounds, () => httpBench(seconds));
const httpRatio = median(http.map((h) => h.ratio));
const httpP99 = median(http.map((h) => h.issuance.p99));
const helloP99 = median(http.map((h) => h.baseline.p99));
const perSync = median(http.map((h) => h.recordsPerSync));
rows.push([
  "HTTP issuance, auto-approve, 64 clients: req/s vs express hello-world POST",
  `${median(http.map((h) => h.issuance.requestsPerSecond)).toFixed(0)} req/s`,
  `${median(http.map((h) => h.baseline.requestsPerSecond)).toFixed(0)} req/s`,
  f2(httpRatio),
  "≥ 0.50",
  verdict(httpRatio >= 0.5),
]);
rows.push([
  "HTTP issuance p99 latency (hello-world p99 in the same run)",
  `${httpP99} ms`,
  `${helloP99} ms`,
  f2(httpP99 / helloP99),
  "p99 ≤ 25 ms",
  verdict(httpP99 <= 25),
]);

const gc = await rounds_("group commit", rounds, () => groupCommitBench(seconds));
const gcRatio = median(gc.map((g) => g.ratio));
rows.push([
  "Group commit: issuance req/s with fsync vs on tmpfs (no fsync cost)",
  `${median(gc.map((g) => g.withFsync.requestsPerSecond)).toFixed(0)} req/s`,
  `${median(gc.map((g) => g.noFsync.requestsPerSecond)).toFixed(0)} req/s`,
  f2(gcRatio),
  "≥ 0.50",
  verdict(gcRatio >= 0.5),
]);

log("scale (seeding 1,000,000 audit events and 10,000 live requests)");
const scale = await scaleBench(seconds, quick ? 100_000 : 1_000_000, 10_000, rounds);
rows.push([
  `Scale: issuance p99 with ${scale.large.auditEvents.toLocaleString("en")} audit events + ${scale.large.liveRequests.toLocaleString("en")} live requests vs 1,000 events`,
  `${scale.large.p99} ms`,
  `${scale.small.p99} ms`,
  f2(scale.p99Ratio),
  "≤ 1.5×",
  verdict(scale.p99Ratio <= 1.5),
]);
rows.push([
  "Scale: daemon RSS at that size (after the load)",
  `${f1(scale.large.rssAtSizeMb)} MB (${f1(scale.large.rssAfterLoadMb)} MB)`,
  `${f1(scale.small.rssAtSizeMb)} MB idle, small`,
  "",
  "≤ 200 MB",
  verdict(scale.large.rssAtSizeMb <= 200),
]);

log(`audit at size (seeding ${quick ? "100,000" : "1,000,000"} audit records)`);
// More rounds than elsewhere: p99 under load on a shared 2-core machine is noisy.
const audit = await auditBench(seconds, quick ? 100_000 : 1_000_000, 2 * rounds - 1);
const atSize = `${audit.events.toLocaleString("en")} records`;
const slowest = Object.entries(audit.lookupP95).sort((a, b) => b[1] - a[1])[0]!;
rows.push([
  `Audit look-ups at ${atSize}: p95 of the slowest filter kind (${slowest[0]}; every kind in the notes)`,
  `${f1(slowest[1])} ms`,
  "",
  "",
  "≤ 100 ms",
  verdict(slowest[1] <= 100),
]);
rows.push([
  "Audit: longest event-loop stall during the look-ups (baseline: an idle daemon's longest over 5 s)",
  `${f1(audit.lookupMaxStallMs)} ms`,
  `${f1(audit.idleStallMs)} ms`,
  "",
  "≤ 50 ms",
  verdict(audit.lookupMaxStallMs <= 50),
]);
rows.push([
  `Audit: longest event-loop stall while \`audit verify\` checks ${atSize} (${f1(audit.verifySeconds)} s)`,
  `${f1(audit.verifyStallMs)} ms`,
  `${f1(audit.idleStallMs)} ms`,
  "",
  "≤ 50 ms",
  verdict(audit.verifyStallMs <= 50),
]);
rows.push([
  "Audit: daemon RSS during that verify (baseline: idle before it)",
  `${f1(audit.verifyRssMb)} MB`,
  `${f1(audit.idleRssMb)} MB`,
  "",
  "≤ 200 MB",
  verdict(audit.verifyRssMb <= 200),
]);
rows.push([
  `Audit: issuance p99 (16 clients) while verifications of ${atSize} run vs without (median of ${audit.runs.length} rounds)`,
  `${f1(audit.verifyingP99)} ms`,
  `${f1(audit.idleP99)} ms`,
  f2(audit.p99Ratio),
  "≤ 1.5×",
  verdict(audit.p99Ratio <= 1.5),
]);
notes.push(
  `Issuance p99 with and without verifications, per round (without, with, without again): ${audit.runs
    .map((r) => `${r.before.p99}/${r.verifying.p99}/${r.after.p99} ms`)
    .join("; ")}. With no verification at all, p99 moved between consecutive loads by a factor of ${audit.controlRatios
    .map(f2)
    .join(
      ", ",
    )} (the second load against the first): on this shared machine that spread is the noise floor of the ratio above.`,
);

log("people");
const people = await peopleBench(quick ? 5 : 15);
rows.push([
  "People: `sshca login` with auto-approve, start to installed certificate (HTTPS)",
  `${f1(people.loginAutoApprove.median)} ms (p90 ${f1(people.loginAutoApprove.p90)})`,
  `node -e 0: ${f1(people.nodeStart.median)} ms; sshca --help: ${f1(people.sshcaHelp.median)} ms`,
  f2(people.loginAutoApprove.median / people.sshcaHelp.median),
  "≤ 400 ms",
  verdict(people.loginAutoApprove.median <= 400),
]);
rows.push([
  "People: approval to installed certificate for a waiting CLI",
  `${f1(people.approvalToCertificate.median)} ms (p90 ${f1(people.approvalToCertificate.p90)})`,
  "",
  "",
  "≤ 250 ms",
  verdict(people.approvalToCertificate.median <= 250),
]);

const scans = await rounds_("scans off the path", quick ? 1 : 3, () => scansBench(quick ? 100 : 300, 10));
const scanMean = median(scans.map((s) => s.meanRatio));
const scanP50 = median(scans.map((s) => s.p50Ratio));
const scanP99 = median(scans.map((s) => s.p99Ratio));
rows.push([
  "Scans off the path: issuance latency with scanOnIssue: record vs scanning off (mean; p50, p99)",
  `${f1(median(scans.map((s) => s.on.mean)))} ms; ${f1(median(scans.map((s) => s.on.p50)))}, ${f1(median(scans.map((s) => s.on.p99)))} ms`,
  `${f1(median(scans.map((s) => s.off.mean)))} ms; ${f1(median(scans.map((s) => s.off.p50)))}, ${f1(median(scans.map((s) => s.off.p99)))} ms`,
  `${f2(scanMean)}; ${f2(scanP50)}, ${f2(scanP99)}`,
  "≤ 1.2×",
  verdict(scanMean <= 1.2),
]);

const pgRuns = await rounds_("postgresql", rounds, () => postgresBench(seconds));
const pgRatio = (pick: (r: PostgresBench) => Load, what: "requestsPerSecond" | "p99") =>
  median(pgRuns.map((r) => pick(r)[what] / r.embedded[what]));
for (const [label, pick] of [
  ["one replica", (r: PostgresBench) => r.one],
  ["two replicas", (r: PostgresBench) => r.two],
] as const) {
  const tput = pgRatio(pick, "requestsPerSecond");
  const p99 = pgRatio(pick, "p99");
  rows.push([
    `PostgreSQL, ${label}: issuance req/s vs embedded (64 clients)`,
    `${median(pgRuns.map((r) => pick(r).requestsPerSecond)).toFixed(0)} req/s`,
    `${median(pgRuns.map((r) => r.embedded.requestsPerSecond)).toFixed(0)} req/s`,
    f2(tput),
    "≥ 0.50",
    verdict(tput >= 0.5),
  ]);
  rows.push([
    `PostgreSQL, ${label}: issuance p99 vs embedded`,
    `${median(pgRuns.map((r) => pick(r).p99))} ms`,
    `${median(pgRuns.map((r) => r.embedded.p99))} ms`,
    f2(p99),
    "≤ 2×",
    verdict(p99 <= 2),
  ]);
}

notes.push(
  `Audit records per fdatasync during the HTTP issuance run: ${f1(perSync)} (group commit; each issuance writes four records).`,
);
if (httpRatio < 0.5) {
  notes.push(
    `HTTP issuance reaches ${f2(httpRatio)} of hello-world, ${f2(0.5 - httpRatio)} short of 0.50. Each issuance parses and checks a public key, signs an Ed25519 certificate (sshpk assembles it), writes four hash-chained audit records (canonical JSON and SHA-256 each) with one shared fdatasync, journals the request and answers a ~1.5 KB JSON document; hello-world parses one small JSON body. On this 2-core machine the load generator also takes one core. A CPU profile (bench/profile.ts) shows no single hot spot left: express and body parsing ~30%, certificate assembly and signing ~12%, audit hashing ~7%.`,
  );
}
if (httpP99 > 25) {
  notes.push(
    `p99 of ${httpP99} ms against a 25 ms target: with 64 clients in flight, latency is about 64 / throughput (Little's law), and even hello-world's p99 on this machine is ${helloP99} ms. The target needs roughly 3x the throughput.`,
  );
}
if (scale.large.rssAtSizeMb > 200)
  notes.push(`RSS at size is ${f1(scale.large.rssAtSizeMb)} MB, over the 200 MB target.`);
if (scanMean > 1.2) {
  notes.push(
    `With scanning on, issuance is ${f2(scanMean)}× slower on average: each issuance starts an nmap process (at niceness 10), and forking from the daemon plus recording the scan (two audit records, one journal write) costs the daemon time.`,
  );
}

notes.push(
  `Audit at ${atSize}: seeded in ${f1(audit.seededSeconds)} s; the daemon built its index from the log in ${f1(audit.indexSeconds)} s (from its start); a verification read ${audit.verifyRecords.toLocaleString("en")} records in ${f1(audit.verifySeconds)} s. Look-up p95 per filter kind (40 different values each, HTTP on loopback included): ${Object.entries(
    audit.lookupP95,
  )
    .map(([k, v]) => `${k} ${f1(v)} ms`)
    .join("; ")}.`,
  `Daemon RSS under the issuance load itself: up to ${f1(audit.loadRssMb)} MB without a verification, ${f1(audit.loadVerifyingRssMb)} MB with one (V8 grows the main thread's heap under that allocation rate; the verification worker's heap is capped at 32 MB old + 4 MB young generation).`,
);

const machine = [
  `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
  `Linux ${release()}, Node ${process.version}`,
  `nmap ${/Nmap version (\S+)/.exec(execFileSync("nmap", ["--version"]).toString())?.[1] ?? "?"}`,
].join("; ");
const md = `# Benchmarks

Produced by \`npm run bench\`${quick ? " (--quick)" : ""} on ${new Date().toISOString().slice(0, 10)}.
Machine: ${machine}.

Every figure is compared with a baseline measured in the same run (the machines are shared and
noisy); the HTTP, group-commit, scale and scan comparisons run ${rounds} rounds and report the median.
The daemon runs as a separate process, configured as in \`bench/lib.ts\` (loopback, plain HTTP
for the load tests, which hello-world also uses; durable audit log on).

| benchmark | measured | baseline (same run) | ratio | target | result |
| --- | --- | --- | --- | --- | --- |
${rows.map((r) => `| ${r.join(" | ")} |`).join("\n")}

## Notes

${notes.map((n) => `- ${n}`).join("\n")}

## How each is measured

- **Signing** (\`bench/signing.ts\`): the full signing path (\`signUserCertificate\`: sshpk builds
  the certificate, node:crypto signs the to-be-signed bytes) against \`crypto.sign\` of a
  300-byte buffer with the same Ed25519 key, interleaved rounds.
- **HTTP issuance** (\`bench/http.ts\`): autocannon, 64 connections, ${seconds} s, POST
  /v1/requests for an auto-approve role (create, auto-approve, sign, four audit records,
  journal write, 201 with the certificate) against an express app answering a JSON POST.
- **Group commit**: the same load, with the data directory on disk vs on /dev/shm (tmpfs,
  where fdatasync costs nothing).
- **Scale** (\`bench/scale.ts\`): 1,000,000 valid chained audit records and a matching state
  file are written first (and the daemon's audit index built from them before any load), 10,000 pending requests are created through the API, then
  issuance p99 under 16 connections is compared with a fresh CA, the two loaded alternately
  (median of the per-round ratios); RSS from /proc.
- **Audit at size** (\`bench/audit.ts\`): ${audit.events.toLocaleString("en")} valid chained records with
  their head file (\`bench/seed.ts\`: requests, approvals, issuances, fetches, scans, failed
  sign-ins, revocations over 500 users and 50 hosts), the daemon started on them and its index
  built; then each look-up kind 40 times with different values, one at a time, as an auditor
  over plain HTTP. Event-loop stalls are the daemon's own \`monitorEventLoopDelay\` maximum
  (prom-client's \`sshcad_nodejs_eventloop_lag_max_seconds\`, reset by each scrape of /metrics):
  it sees a blocked loop without the client's own scheduling noise. RSS from /proc every
  100 ms. Issuance (16 connections, ${seconds} s) alternates without and with verifications
  running back to back, ${2 * rounds - 1} rounds.
- **People** (\`bench/people.ts\`): the real \`sshca\` over pinned HTTPS, wall time from start to
  exit (certificate verified and written); approval to certificate is measured from bob's
  approval response to alice's CLI exiting.
- **PostgreSQL** (\`bench/postgres.ts\`): a local PostgreSQL 15 cluster (fsync on) started for
  the run; the HTTP issuance load (autocannon, 64 connections in all, ${seconds} s) against one
  embedded daemon, one replica on the database, and two replicas sharing it (32 connections
  each; their sum and the worse p99). Median of ${rounds} rounds of the per-round ratios.
- **Scans** (\`bench/scans.ts\`): two daemons side by side (scanning off; \`scanOnIssue: record\`
  scanning 127.0.0.1), requests alternating at 10/s after a warm-up.
`;
writeFileSync(join(ROOT, "BENCHMARKS.md"), md);
process.stdout.write(md);
