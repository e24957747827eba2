import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startPostgres } from "../test/helpers/postgres.js";
import { type Load, issuingDaemon, load } from "./http.js";
import { benchConfig, type Daemon, startDaemon, tempDir } from "./lib.js";

/**
 * Issuance on PostgreSQL (one replica, and two sharing the load) against the embedded store in
 * the same run: throughput and p99 under 64 concurrent clients, auto-approve, durable audit.
 * The database is a real local PostgreSQL cluster with fsync on, started for the run.
 */

export interface PostgresBench {
  embedded: Load;
  one: Load;
  two: Load;
}

async function replicaDaemons(url: string, n: number): Promise<{ daemons: Daemon[]; token: string; body: string }> {
  const urlFile = join(tempDir("pgurl"), "url");
  writeFileSync(urlFile, `${url}\n`, { mode: 0o600 });
  const extra = { requests: { keepFinished: "0s" }, storage: { backend: "postgres", urlFile } };
  const first = await issuingDaemon(extra);
  const daemons = [first.daemon];
  for (let i = 1; i < n; i++) {
    const dataDir = join(tempDir("replica"), "d");
    mkdirSync(dataDir, { mode: 0o700 });
    cpSync(join(first.daemon.dataDir, "ca"), join(dataDir, "ca"), { recursive: true });
    daemons.push(await startDaemon(benchConfig(extra), dataDir));
  }
  return { daemons, token: first.token, body: first.body };
}

/** The same load split over the replicas (their sum and the worst p99). */
async function spread(daemons: Daemon[], token: string, b: string, seconds: number): Promise<Load> {
  const parts = await Promise.all(
    daemons.map((d) =>
      load(`${d.url}/v1/requests`, {
        connections: Math.floor(64 / daemons.length),
        seconds,
        headers: { authorization: `Bearer ${token}` },
        body: b,
      }),
    ),
  );
  return {
    requestsPerSecond: parts.reduce((s, p) => s + p.requestsPerSecond, 0),
    p50: Math.max(...parts.map((p) => p.p50)),
    p99: Math.max(...parts.map((p) => p.p99)),
    non2xx: parts.reduce((s, p) => s + p.non2xx, 0),
    errors: parts.reduce((s, p) => s + p.errors, 0),
  };
}

export async function postgresBench(seconds = 10): Promise<PostgresBench> {
  const pg = await startPostgres();
  try {
    const e = await issuingDaemon({ requests: { keepFinished: "0s" } });
    const embedded = await spread([e.daemon], e.token, e.body, seconds);
    await e.daemon.stop();

    const r1 = await replicaDaemons(await pg.createDatabase(), 1);
    const one = await spread(r1.daemons, r1.token, r1.body, seconds);
    for (const d of r1.daemons) await d.stop();

    const r2 = await replicaDaemons(await pg.createDatabase(), 2);
    const two = await spread(r2.daemons, r2.token, r2.body, seconds);
    for (const d of r2.daemons) await d.stop();
    return { embedded, one, two };
  } finally {
    await pg.destroy();
  }
}

// `node dist/bench/postgres.js [seconds]`: this benchmark alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await postgresBench(Number(process.argv[2] ?? 10));
  const line = (name: string, l: Load) =>
    `${name.padEnd(14)} ${l.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${l.p50} ms  p99 ${l.p99} ms  non-2xx ${l.non2xx}  errors ${l.errors}`;
  process.stdout.write(
    `${[line("embedded", r.embedded), line("pg 1 replica", r.one), line("pg 2 replicas", r.two)].join("\n")}\n`,
  );
  process.stdout.write(
    `ratios vs embedded: 1 replica ${(r.one.requestsPerSecond / r.embedded.requestsPerSecond).toFixed(2)}× req/s, p99 ${(r.one.p99 / r.embedded.p99).toFixed(2)}×; 2 replicas ${(r.two.requestsPerSecond / r.embedded.requestsPerSecond).toFixed(2)}× req/s, p99 ${(r.two.p99 / r.embedded.p99).toFixed(2)}×\n`,
  );
}
