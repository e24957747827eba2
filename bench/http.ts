import { readFileSync } from "node:fs";
import autocannon from "autocannon";
import { benchConfig, type Daemon, startDaemon, startHelloWorld, tempDir } from "./lib.js";

export interface Load {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

export async function load(
  url: string,
  opts: { connections: number; seconds: number; amount?: number; headers?: Record<string, string>; body: string },
): Promise<Load> {
  const r = await autocannon({
    url,
    method: "POST",
    connections: opts.connections,
    ...(opts.amount ? { amount: opts.amount } : { duration: opts.seconds }),
    headers: { "content-type": "application/json", ...opts.headers },
    body: opts.body,
  });
  return {
    requestsPerSecond: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

/** A daemon with an auto-approve role, a user and a key to request with. */
export async function issuingDaemon(
  extra: Record<string, unknown> = {},
  dataDir?: string,
): Promise<{ daemon: Daemon; token: string; body: string }> {
  const daemon = await startDaemon(benchConfig(extra), dataDir);
  const token = await daemon.sshcad(["user", "add", "alice", "--group", "dev"]);
  const keyDir = tempDir("key");
  const { execFileSync } = await import("node:child_process");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${keyDir}/id`]);
  const publicKey = readFileSync(`${keyDir}/id.pub`, "utf8").trim();
  // Every call is a new issuance (reuse: false). With reuse on, each login of this one user and
  // key would look over all of its thousands of live 30-second certificates, which no person has.
  const body = JSON.stringify({ role: "auto", hosts: ["web-1"], ttl: "30s", reason: "bench", publicKey, reuse: false });
  return { daemon, token, body };
}

/**
 * HTTP issuance (auto-approve, durable audit on) under 64 concurrent clients, against an express
 * hello-world POST measured in the same run.
 */
export async function httpBench(seconds = 10) {
  const hello = await startHelloWorld();
  const baseline = await load(`${hello.url}/hello`, { connections: 64, seconds, body: JSON.stringify({ a: 1 }) });
  await hello.stop();
  const { daemon, token, body } = await issuingDaemon({ requests: { keepFinished: "0s" } });
  const issuance = await load(`${daemon.url}/v1/requests`, {
    connections: 64,
    seconds,
    headers: { authorization: `Bearer ${token}` },
    body,
  });
  // Group commit at work: audit records per fdatasync, from the daemon's own metrics.
  const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1] ?? Number.NaN);
  const recordsPerSync = value("sshca_audit_records_total") / value("sshca_audit_fsync_seconds_count");
  await daemon.stop();
  return { baseline, issuance, recordsPerSync, ratio: issuance.requestsPerSecond / baseline.requestsPerSecond };
}

/** The same issuance load with the audit log (and state) on tmpfs, where fsync costs nothing, against real disk. */
export async function groupCommitBench(seconds = 10) {
  const shm = "/dev/shm";
  const onDisk = await issuingDaemon({ requests: { keepFinished: "0s" } });
  const withFsync = await load(`${onDisk.daemon.url}/v1/requests`, {
    connections: 64,
    seconds,
    headers: { authorization: `Bearer ${onDisk.token}` },
    body: onDisk.body,
  });
  await onDisk.daemon.stop();
  const inMemory = await issuingDaemon({ requests: { keepFinished: "0s" } }, `${tempDir("tmpfs", shm)}/data`);
  const noFsync = await load(`${inMemory.daemon.url}/v1/requests`, {
    connections: 64,
    seconds,
    headers: { authorization: `Bearer ${inMemory.token}` },
    body: inMemory.body,
  });
  await inMemory.daemon.stop();
  return { withFsync, noFsync, ratio: withFsync.requestsPerSecond / noFsync.requestsPerSecond };
}
