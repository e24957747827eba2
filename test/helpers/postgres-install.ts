import { accessSync, constants, readdirSync } from "node:fs";
import { join } from "node:path";
import { run } from "./procs.js";

/**
 * Where the PostgreSQL server programs are and whom they run as. The server refuses to run as
 * root (CI runs the tests as root), so a root test process starts it as an unprivileged system
 * user; any other user runs it as itself.
 */

/** Debian's package for the server (initdb, postgres, psql). */
export const POSTGRES_PACKAGE = "postgresql";
const LIB = "/usr/lib/postgresql";

/** The newest /usr/lib/postgresql/<version>/bin that holds initdb, postgres and psql. */
export function postgresBin(lib = LIB): string {
  let versions: string[] = [];
  try {
    versions = readdirSync(lib).filter((v) => /^\d+$/.test(v));
  } catch {
    // not installed: reported below
  }
  for (const version of versions.sort((a, b) => Number(b) - Number(a))) {
    const bin = join(lib, version, "bin");
    try {
      for (const p of ["initdb", "postgres", "psql"]) accessSync(join(bin, p), constants.X_OK);
      return bin;
    } catch {
      // an incomplete version (client only): try an older one
    }
  }
  throw new Error(
    `PostgreSQL server is not installed (no ${lib}/<version>/bin/postgres): apt-get install -y ${POSTGRES_PACKAGE} (npm run test:all does this)`,
  );
}

export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

/** The unprivileged user the test clusters run as when the tests run as root. */
export const SERVER_USER = "sshca-pg";

/** undefined when the test process is not root: the server then runs as the test user. */
export async function serverUser(): Promise<ServerUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  let user = await lookup(SERVER_USER);
  if (user) return user;
  const made = await run("useradd", [
    "--system",
    "--user-group",
    "--no-create-home",
    "--shell",
    "/usr/sbin/nologin",
    SERVER_USER,
  ]);
  // Another test file may have created it at the same moment (exit 9: name in use): look again.
  user = await lookup(SERVER_USER);
  if (!user) throw new Error(`useradd ${SERVER_USER} failed (exit ${made.code}): ${made.stderr.trim()}`);
  return user;
}

async function lookup(name: string): Promise<ServerUser | undefined> {
  const r = await run("getent", ["passwd", name]);
  const [, , uid, gid] = r.stdout.trim().split(":");
  if (r.code !== 0 || uid === undefined || gid === undefined) return undefined;
  return { name, uid: Number(uid), gid: Number(gid) };
}
