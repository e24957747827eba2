import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import type { AuditRecord } from "../../src/audit/record.js";
import { openPostgres, type Postgres } from "../../src/store/postgres/pool.js";
import { startDaemon, type TestDaemon, writeConfig } from "./daemon.js";
import type { TestPostgres } from "./postgres.js";
import { tempDir } from "./tmp.js";

/**
 * sshcad replicas on one real PostgreSQL database, provisioned the way the README's
 * "High availability" section says: the first replica makes the CA, sealing key and TLS
 * material; each further replica gets a copy of them in its own data directory.
 */
export interface Replicas {
  url: string;
  urlFile: string;
  configPath: string;
  daemons: TestDaemon[];
  /** A direct connection to the database, for checking what it holds. */
  db: Postgres;
  /** Starts one more replica with copies of the first one's keys. */
  add(): Promise<TestDaemon>;
  /** Every audit record, in order. */
  records(): Promise<AuditRecord[]>;
  stop(): Promise<void>;
}

/** A fresh data directory holding copies of `from`'s CA key, sealing key and TLS material. */
export function provisionFrom(from: TestDaemon): string {
  const dataDir = join(tempDir("replica"), "d");
  mkdirSync(dataDir, { mode: 0o700 });
  for (const part of ["ca", "tls"]) cpSync(join(from.dataDir, part), join(dataDir, part), { recursive: true });
  return dataDir;
}

export async function startReplicas(pg: TestPostgres, n: number, config: object): Promise<Replicas> {
  const url = await pg.createDatabase();
  const urlFile = join(tempDir("pgurl"), "postgres-url");
  writeFileSync(urlFile, `${url}\n`, { mode: 0o600 });
  const configPath = writeConfig({ ...config, storage: { backend: "postgres", urlFile } });
  const first = await startDaemon({ configPath });
  const daemons = [first];
  const add = async () => {
    const d = await startDaemon({ configPath, dataDir: provisionFrom(first) });
    daemons.push(d);
    return d;
  };
  for (let i = 1; i < n; i++) await add();
  const db = openPostgres({ url, log: pino({ level: "silent" }), applicationName: "test" });
  return {
    url,
    urlFile,
    configPath,
    daemons,
    db,
    add,
    records: async () => {
      const r = await db.query<{
        seq: string;
        time: Date;
        actor: string;
        type: AuditRecord["type"];
        fields: Record<string, unknown>;
        prev: string;
        hash: string;
      }>("SELECT seq, time, actor, type, fields, prev, hash FROM audit ORDER BY seq");
      return r.rows.map((x) => ({ ...x, seq: Number(x.seq), time: x.time.toISOString() }));
    },
    stop: async () => {
      await Promise.all(daemons.map((d) => (d.proc.proc.exitCode === null ? d.stop() : undefined)));
      await db.close();
    },
  };
}
