import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./listeners.js";
import { postgresBin, type ServerUser, serverUser } from "./postgres-install.js";
import { killServer, type ServerProcess, startServer, stopServer } from "./postgres-server.js";
import { run } from "./procs.js";
import { tempDir } from "./tmp.js";

/**
 * A real, throw-away PostgreSQL cluster for one test file: its own data directory and unix
 * socket directory under a temp dir, a free loopback port, durability settings as in
 * production. The application role `sshca` owns the database `sshca` and is no superuser,
 * as in a real deployment; the harness itself administers over the socket as `postgres`.
 */
export interface TestPostgres {
  /** postgresql://sshca:<password>@127.0.0.1:<port>/sshca: TCP with a password, as sshcad is given it. */
  url: string;
  /** The same database over the unix socket (trust authentication for the local socket). */
  socketUrl: string;
  socketDir: string;
  port: number;
  /** The `sshca` role's password (random per cluster), for tests that must not find it anywhere. */
  password: string;
  /** Fast shutdown: sessions get 57P01, committed data stays. */
  stop(): Promise<void>;
  /**
   * Stops the server and deletes the cluster's files. Call it in afterAll: a test worker may
   * be ended without running exit handlers, and a cluster is tens of megabytes.
   */
  destroy(): Promise<void>;
  /** Stops (if running) and starts again on the same data directory, port and socket. */
  restart(): Promise<void>;
  /** SIGKILL to the server and its backends (a crash); restart() then recovers from the WAL. */
  kill(): Promise<void>;
  /** A new database owned by `sshca`; returns its TCP URL. */
  createDatabase(name?: string): Promise<string>;
  /** Runs SQL with psql as the superuser over the socket; returns its unaligned output. */
  psql(sql: string, db?: string): Promise<string>;
}

/** initdb's output for this test run (see test/setup/postgres-template.ts), copied instead of re-run. */
declare module "vitest" {
  export interface ProvidedContext {
    postgresTemplateDir: string;
  }
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  const user = await serverUser();
  const dir = tempDir("pg");
  const dataDir = join(dir, "data");
  const socketDir = join(dir, "sock");
  mkdirSync(socketDir, { mode: 0o700 });
  if (user) for (const d of [dir, socketDir]) chownSync(d, user.uid, user.gid);
  await prepareData(bin, dataDir, user);

  const password = randomBytes(18).toString("hex");
  let port = 0;
  let server: ServerProcess | undefined;
  const psql = async (sql: string, db = "postgres"): Promise<string> => {
    const args = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", socketDir, "-p", String(port)];
    const r = await run(join(bin, "psql"), [...args, "-U", "postgres", "-d", db, "-f", "-"], {
      input: sql,
      env: { ...process.env, PGCONNECT_TIMEOUT: "10" },
    });
    if (r.code !== 0) throw new Error(`psql failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout.replace(/\n$/, "");
  };
  const settings = () => ({ bin, dataDir, socketDir, port, user });

  // The free port is probed and then bound by the server: if something took it in between,
  // the server says so and another port is tried (only on the first start; later ones keep it).
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      server = await startServer(settings());
      break;
    } catch (err) {
      if (attempt >= 3 || !/could not bind|could not create listen socket/i.test(String(err))) throw err;
    }
  }
  await psql(`CREATE ROLE sshca LOGIN PASSWORD '${password}';\nCREATE DATABASE sshca OWNER sshca;\n`);

  const tcpUrl = (db: string) => `postgresql://sshca:${password}@127.0.0.1:${port}/${db}`;
  const stop = async () => {
    if (server) await stopServer(server);
    server = undefined;
  };
  return {
    url: tcpUrl("sshca"),
    socketUrl: `postgresql://sshca@/sshca?host=${encodeURIComponent(socketDir)}&port=${port}`,
    socketDir,
    port,
    password,
    stop,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await stop();
      server = await startServer(settings());
    },
    kill: async () => {
      if (server) await killServer(server);
      server = undefined;
    },
    createDatabase: async (name = `t_${randomBytes(6).toString("hex")}`) => {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`);
      await psql(`CREATE DATABASE ${name} OWNER sshca;\n`);
      return tcpUrl(name);
    },
    psql,
  };
}

/**
 * The cluster's files: a copy of this run's initdb template when vitest provides one (initdb
 * costs far more than a copy), built on first use by whichever test file needs it first.
 */
async function prepareData(bin: string, dataDir: string, user: ServerUser | undefined): Promise<void> {
  let root: string | undefined;
  try {
    // Loaded here, not at the top: the benchmarks start clusters outside vitest too.
    const { inject } = await import("vitest");
    root = inject("postgresTemplateDir");
  } catch {
    root = undefined; // outside a vitest run
  }
  if (!root) return initCluster(bin, dataDir, user);
  const template = join(root, "data");
  if (!existsSync(join(template, "PG_VERSION"))) {
    if (user) chownSync(root, user.uid, user.gid);
    const build = join(root, `build-${process.pid}-${randomBytes(4).toString("hex")}`);
    await initCluster(bin, build, user);
    try {
      renameSync(build, template); // atomic: a template is complete or absent
    } catch {
      rmSync(build, { recursive: true, force: true }); // another test file's template won
    }
  }
  const r = await run("cp", ["-a", template, dataDir]);
  if (r.code !== 0) throw new Error(`copying the PostgreSQL template failed: ${r.stderr.trim()}`);
}

async function initCluster(bin: string, dataDir: string, user: ServerUser | undefined): Promise<void> {
  const r = await run(
    join(bin, "initdb"),
    [
      ...["-D", dataDir, "-U", "postgres", "-E", "UTF8", "--locale=C"],
      // Local socket: trust (the harness administers); TCP: a password, as in production.
      ...["--auth-local=trust", "--auth-host=scram-sha-256"],
      // A throw-away cluster: no need to fsync initdb's files (the server itself runs with fsync on).
      "--no-sync",
      // 1 MB WAL segments instead of 16 MB: a test cluster writes little, and stays small on disk.
      "--wal-segsize=1",
      "--no-instructions",
    ],
    { cwd: "/", env: { PATH: process.env.PATH, LC_ALL: "C" }, ...(user ? { uid: user.uid, gid: user.gid } : {}) },
  );
  if (r.code !== 0) throw new Error(`initdb failed (${r.code}): ${r.stderr.trim()}`);
}
