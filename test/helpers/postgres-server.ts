import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ServerUser } from "./postgres-install.js";

/**
 * One running postmaster of a test cluster: started as the server user, in its own process
 * group (so a crash can take down the postmaster and its backends at once), and tied to the
 * test process by a parent-death signal (setpriv --pdeathsig), so a test worker that dies
 * without its exit handlers leaves no server behind.
 */
export interface ServerProcess {
  pid: number;
  /** Resolves once the postmaster is gone (reaped). */
  exited: Promise<void>;
  /** Everything the server logged (stderr), for failure messages. */
  log(): string;
}

export interface ServerSettings {
  bin: string;
  dataDir: string;
  socketDir: string;
  port: number;
  user: ServerUser | undefined;
}

const running = new Set<number>();
process.on("exit", () => {
  for (const pid of running) signalGroup(pid, "SIGKILL");
});

/**
 * Starts `postgres` and resolves once it accepts connections (after crash recovery, if the
 * last stop was a kill). Durability as in production: fsync and synchronous_commit on.
 */
export async function startServer(s: ServerSettings): Promise<ServerProcess> {
  const args = [
    join(s.bin, "postgres"),
    ...["-D", s.dataDir, "-p", String(s.port), "-k", s.socketDir],
    ...["-c", "listen_addresses=127.0.0.1"],
    ...["-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on"],
    // Small: one cluster per test file, two test workers on a shared 2-core machine.
    ...["-c", "max_connections=60", "-c", "shared_buffers=16MB", "-c", "min_wal_size=4MB", "-c", "max_wal_size=64MB"],
    // A failed statement is not echoed into the log: some carry a password (ALTER ROLE).
    ...["-c", "TimeZone=UTC", "-c", "log_min_error_statement=panic"],
  ];
  const who = s.user ? [`--reuid=${s.user.uid}`, `--regid=${s.user.gid}`, "--clear-groups"] : [];
  const proc = spawn("setpriv", [...who, "--pdeathsig=KILL", ...args], {
    cwd: "/",
    detached: true, // its own process group: kill() takes the backends too
    stdio: ["ignore", "ignore", "pipe"],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" },
  });
  const pid = proc.pid;
  if (pid === undefined) throw new Error("could not start postgres (setpriv missing?)");
  running.add(pid);
  let log = "";
  const exited = new Promise<void>((resolve) =>
    proc.once("close", () => {
      running.delete(pid);
      resolve();
    }),
  );
  await waitReady(
    proc,
    () => log,
    (l) => (log += l),
  );
  return { pid, exited, log: () => log };
}

/**
 * The postmaster logs "database system is ready to accept connections" (level LOG, which the
 * default log_min_messages shows) once it accepts connections, after any crash recovery.
 */
function waitReady(proc: ChildProcess, log: () => string, append: (l: string) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error("postgres did not become ready within 60s")), 60_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(new Error(`${err.message}; its log:\n${log().slice(-3000)}`));
    };
    proc.stderr!.on("data", (d: Buffer) => {
      append(d.toString());
      if (/database system is ready to accept connections/.test(log())) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once("close", (code, signal) => fail(new Error(`postgres exited (${signal ?? code}) before it was ready`)));
  });
}

/** Fast shutdown (SIGINT): sessions are ended with 57P01, everything committed is on disk. */
export async function stopServer(p: ServerProcess): Promise<void> {
  try {
    process.kill(p.pid, "SIGINT");
  } catch {
    // already gone
  }
  await p.exited;
}

/** SIGKILL to the postmaster and its backends at once: a crash, recovered from the WAL at the next start. */
export async function killServer(p: ServerProcess): Promise<void> {
  signalGroup(p.pid, "SIGKILL");
  await p.exited;
  // The next postmaster refuses to start while an old backend still holds the shared memory:
  // wait until every process of the group has exited (zombies hold nothing).
  await waitUntil(() => liveMembers(p.pid) === 0, 10_000, "the killed server's processes to exit");
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is empty
  }
}

/** Processes in group `pgid` that have not yet exited (state other than Z, zombie). */
function liveMembers(pgid: number): number {
  let n = 0;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z" && state !== "X") n++;
  }
  return n;
}

/** Polls a cheap condition of another process's state, for which there is no event to wait on. */
async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
