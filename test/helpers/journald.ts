import { existsSync, readFileSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { type Running, start } from "./procs.js";

/** systemd-journald lives here on Debian (package systemd). */
const JOURNALD = "/lib/systemd/systemd-journald";

/**
 * A real systemd-journald of its own namespace (as a service's LogNamespace= runs one), started
 * without systemd: its syslog socket takes lines, `journalctl --namespace=NS` reads them. Needs
 * root (CI runs as root). Its journal files are removed again by stop().
 */
export interface TestJournald {
  namespace: string;
  /** The namespace's syslog socket (/dev/log of the namespace). */
  devLog: string;
  stop(): Promise<void>;
}

export async function startJournald(): Promise<TestJournald> {
  if (!existsSync(JOURNALD)) throw new Error(`${JOURNALD} is missing: apt-get install -y systemd`);
  if (process.getuid?.() !== 0) throw new Error("a journald namespace needs root (CI runs the tests as root)");
  const namespace = `sshcatest${randomBytes(4).toString("hex")}`;
  const proc: Running = start(JOURNALD, [namespace]);
  const devLog = `/run/systemd/journal.${namespace}/dev-log`;
  for (let i = 0; !existsSync(devLog); i++) {
    if (i > 200 || proc.proc.exitCode !== null) throw new Error(`systemd-journald did not start: ${proc.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const machine = readFileSync("/etc/machine-id", "utf8").trim();
  return {
    namespace,
    devLog,
    stop: async () => {
      proc.proc.kill("SIGTERM");
      await proc.done;
      for (const dir of [
        `/run/systemd/journal.${namespace}`,
        `/var/log/journal/${machine}.${namespace}`,
        `/run/log/journal/${machine}.${namespace}`,
      ])
        rmSync(dir, { recursive: true, force: true });
    },
  };
}
