import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./listeners.js";
import { type Result, type Running, run, start } from "./procs.js";
import { tempDir } from "./tmp.js";
import { tool } from "./tools.js";

export interface TestSshd {
  port: number;
  dir: string;
  proc: Running;
  /** sshd's PidFile (SIGHUP it to reload). */
  pidFile: string;
  log: () => string;
  /** Replaces the AuthorizedPrincipalsFile of a login user. */
  setPrincipals(login: string, lines: string[]): void;
  stop(): Promise<void>;
}

/**
 * A real sshd on 127.0.0.1 with its own config, configured the way the README tells operators
 * to configure a target host: TrustedUserCAKeys, AuthorizedPrincipalsFile per login user,
 * optionally RevokedKeys, LogLevel VERBOSE.
 */
export async function startSshd(opts: {
  trustedCaLine: string;
  principals: Record<string, string[]>;
  revokedKeys?: string;
  /** This host key instead of a new one (its certificate, if any, in `hostCertificate`). */
  hostKey?: string;
  /** sshd_config HostCertificate: the host certificate sshd presents. */
  hostCertificate?: string;
  /** AuthorizedPrincipalsFile's directory, when something else (the host companion) keeps it. */
  principalsDir?: string;
  /** Log to this file (sshd -E) instead of stderr, as sshd logs through syslog: one message per line. */
  logFile?: string;
}): Promise<TestSshd> {
  const dir = tempDir("sshd");
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const hostKey = opts.hostKey ?? join(dir, "ssh_host_ed25519_key");
  if (!opts.hostKey) {
    const kg = await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
    if (kg.code !== 0) throw new Error(`ssh-keygen: ${kg.stderr}`);
  }
  writeFileSync(join(dir, "trusted_user_ca_keys"), `${opts.trustedCaLine}\n`);
  const principalsDir = opts.principalsDir ?? join(dir, "principals");
  mkdirSync(principalsDir, { recursive: true });
  const setPrincipals = (login: string, lines: string[]) =>
    writeFileSync(join(principalsDir, login), lines.length ? `${lines.join("\n")}\n` : "");
  for (const [login, lines] of Object.entries(opts.principals)) setPrincipals(login, lines);
  const port = await freePort();
  const config = [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${hostKey}`,
    ...(opts.hostCertificate ? [`HostCertificate ${opts.hostCertificate}`] : []),
    `PidFile ${join(dir, "sshd.pid")}`,
    "AuthorizedKeysFile none",
    `TrustedUserCAKeys ${join(dir, "trusted_user_ca_keys")}`,
    `AuthorizedPrincipalsFile ${principalsDir}/%u`,
    ...(opts.revokedKeys ? [`RevokedKeys ${opts.revokedKeys}`] : []),
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin prohibit-password",
    "UsePAM no",
    "StrictModes no",
    "LogLevel VERBOSE",
  ];
  const cfgPath = join(dir, "sshd_config");
  writeFileSync(cfgPath, `${config.join("\n")}\n`);
  const proc = start(tool("sshd"), ["-D", ...(opts.logFile ? ["-E", opts.logFile] : ["-e"]), "-f", cfgPath]);
  const log = opts.logFile ? () => readFileSync(opts.logFile!, "utf8") : proc.stderr;
  if (opts.logFile) {
    for (let i = 0; !/Server listening on 127\.0\.0\.1 port/.test(existsSync(opts.logFile) ? log() : ""); i++) {
      if (i > 200 || proc.proc.exitCode !== null) throw new Error(`sshd did not start: ${proc.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } else await proc.waitFor(/Server listening on 127\.0\.0\.1 port/, 10_000);
  return {
    port,
    dir,
    proc,
    pidFile: join(dir, "sshd.pid"),
    log,
    setPrincipals,
    stop: async () => {
      proc.proc.kill("SIGTERM");
      await proc.done;
    },
  };
}

/**
 * Logs in with the real ssh client: with exactly this key and its certificate file, or (with
 * `agent`) with whatever that ssh-agent holds and no key file at all.
 */
export function ssh(
  opts: { port: number; user: string; command: string; tty?: boolean } & ({ key: string } | { agent: string }),
): Promise<Result> {
  const identity =
    "key" in opts
      ? [
          "-o",
          "IdentitiesOnly=yes",
          "-o",
          "IdentityAgent=none",
          "-i",
          opts.key,
          "-o",
          `CertificateFile=${opts.key}-cert.pub`,
        ]
      : ["-o", `IdentityAgent=${opts.agent}`];
  return run(tool("ssh"), [
    ...(opts.tty ? ["-tt"] : ["-T"]),
    ...["-F", "/dev/null", "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no"],
    ...["-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"],
    ...identity,
    ...["-p", String(opts.port), `${opts.user}@127.0.0.1`, opts.command],
  ]);
}
