import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { auditRecords, type Rec } from "./audit-files.js";
import type { TestDaemon } from "./daemon.js";
import { makePerson, type Person } from "./people.js";
import type { TestJournald } from "./journald.js";
import { type Running, start } from "./procs.js";
import { startSshd, type TestSshd } from "./sshd.js";
import { tempDir } from "./tmp.js";

/**
 * A target host as the README sets one up with the companion: a host credential from
 * `sshcad host credential create`, `sshca host --once` writing the KRL and principals files before
 * sshd starts, a real sshd reading them (LogLevel VERBOSE, logging to a file), and `sshca host`
 * following that log.
 */
export interface CompanionHost {
  name: string;
  dir: string;
  krl: string;
  principalsDir: string;
  logFile: string;
  stateDir: string;
  /** The companion's identity: its host credential, the daemon's TLS CA pinned. */
  as: Person;
  sshd: TestSshd;
  companion: Running | undefined;
  /** The arguments of `sshca host` for this host. */
  args(interval: string): string[];
  startCompanion(interval?: string): Promise<Running>;
  stopCompanion(): Promise<void>;
  stop(): Promise<void>;
}

export async function companionHost(
  daemon: TestDaemon,
  name: string,
  opts: {
    interval?: string;
    extraCaLines?: string[];
    /** sshd logs through syslog to this journald (its namespace) instead of to a file. */
    journald?: TestJournald;
  } = {},
): Promise<CompanionHost> {
  const dir = tempDir(`host-${name}`);
  const credential = join(dir, "host.credential");
  const made = await daemon.sshcad(["host", "credential", "create", name, "--token-file", credential]);
  if (made.code !== 0) throw new Error(`host credential create: ${made.stderr}`);
  const as = await makePerson(`${name}-host`, daemon, "");
  delete as.env.SSHCA_TOKEN;
  const krl = join(dir, "sshca_revoked.krl");
  const principalsDir = join(dir, "auth_principals");
  const logFile = join(dir, "sshd.log");
  const stateDir = join(dir, "state");
  mkdirSync(stateDir, { mode: 0o700 });
  const args = (interval: string) => [
    "--token-file",
    credential,
    "host",
    "--krl",
    krl,
    "--principals-dir",
    principalsDir,
    ...(opts.journald
      ? ["--sshd-log", "journald", "--journal-namespace", opts.journald.namespace]
      : ["--sshd-log", logFile]),
    "--state-dir",
    stateDir,
    "--interval",
    interval,
  ];
  // The files exist before sshd is told about them (a missing RevokedKeys refuses every login).
  const once = await as.sshca([...args("60s"), "--once"]);
  if (once.code !== 0) throw new Error(`sshca host --once: ${once.stderr}`);
  const ca = await as.sshca(["ca", "pubkey"]);
  const sshd = await startSshd({
    trustedCaLine: [ca.stdout.trim(), ...(opts.extraCaLines ?? [])].join("\n"),
    principals: {},
    principalsDir,
    revokedKeys: krl,
    ...(opts.journald ? {} : { logFile }),
  });
  // sshd's syslog lines, as sshd would send them to /dev/log: one datagram per line, tag "sshd".
  const relay = opts.journald
    ? start("logger", ["-u", opts.journald.devLog, "-t", "sshd"], { keepStdin: true })
    : undefined;
  if (relay) sshd.proc.proc.stderr!.pipe(relay.proc.stdin!);
  const host: CompanionHost = {
    name,
    dir,
    krl,
    principalsDir,
    logFile,
    stateDir,
    as,
    sshd,
    companion: undefined,
    args,
    startCompanion: async (interval = opts.interval ?? "1s") => {
      const c = as.spawn(args(interval));
      host.companion = c;
      await c.waitFor(new RegExp(`reporting for ${name.replace(/[.-]/g, "\\$&")}`), 20_000);
      return c;
    },
    stopCompanion: async () => {
      const c = host.companion;
      host.companion = undefined;
      if (!c) return;
      c.proc.kill("SIGTERM");
      await c.done;
    },
    stop: async () => {
      await host.stopCompanion();
      await sshd.stop();
      relay?.proc.stdin!.end();
      await relay?.done;
    },
  };
  return host;
}

/**
 * Waits until the daemon's audit log holds a record matching `pred` (read from its segments),
 * a record the companion's report makes. The deadline is generous: under a loaded
 * machine an ssh login, sshd's log line, the companion's poll and its report each take their
 * time, and a record that never comes fails the test just the same.
 */
export async function waitForAudit(dataDir: string, pred: (r: Rec) => boolean, timeoutMs = 60_000): Promise<Rec> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = auditRecords(dataDir).find(pred);
    if (found) return found;
    if (Date.now() > until) throw new Error("the audit log never got the expected record");
    await new Promise((r) => setTimeout(r, 100));
  }
}
