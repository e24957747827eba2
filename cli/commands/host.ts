import { join, resolve } from "node:path";
import type { Command } from "commander";
import { parseDuration } from "../../src/http/contract.js";
import type { Ctx } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { Companion, type HostApi } from "../host/companion.js";
import { FileSource } from "../host/file-source.js";
import { JournaldSource } from "../host/journald-source.js";
import { SSHD_PROGRAMS } from "../host/sshd-log.js";

interface HostOptions {
  krl: string;
  principalsDir: string;
  trustedCaKeys?: string;
  sshdLog: string;
  journalNamespace?: string;
  journalctl: string;
  stateDir?: string;
  interval: string;
  once?: boolean;
}

/**
 * sshca host: the companion service on a target host (systemd/sshca-host.service). Runs with the
 * host's credential (sshcad host credential create HOST), given like any token:
 * `sshca --token-file FILE host ...`.
 */
export function hostCommand(program: Command, ctx: Ctx): void {
  program
    .command("host")
    .description(
      "target-host companion: keep the KRL and principals files current, report certificate logins from sshd's log",
    )
    .option("--krl <file>", "sshd's RevokedKeys file", "/etc/ssh/sshca_revoked.krl")
    .option("--principals-dir <dir>", "the directory of AuthorizedPrincipalsFile %u", "/etc/ssh/auth_principals")
    .option(
      "--trusted-ca-keys <file>",
      "also keep sshd's TrustedUserCAKeys file (every user CA key the rotation phase needs, as sshca ca pubkey prints)",
    )
    .option("--sshd-log <source>", "journald, or a file sshd logs to (sshd -E FILE, a syslog file)", "journald")
    .option("--journal-namespace <ns>", "the journal namespace sshd logs to (its unit's LogNamespace=)")
    .option("--journalctl <path>", "the journalctl to run", "journalctl")
    .option("--state-dir <dir>", "where the companion keeps its position and unsent events (default $STATE_DIRECTORY)")
    .option("--interval <duration>", "sync the files and send a heartbeat this often", "60s")
    .option("--once", "sync the KRL and principals files, send what is queued, and exit")
    .action(async (o: HostOptions) => {
      const seconds = parseDuration(o.interval);
      if (seconds === undefined || seconds < 1 || seconds > 3600)
        throw new CliError(`--interval ${o.interval} must be a duration from 1s to 1h`, EXIT.usage);
      const stateDir = o.stateDir ?? ctx.env.STATE_DIRECTORY?.split(":")[0];
      if (!stateDir) throw new CliError("give --state-dir (the systemd unit sets StateDirectory=)", EXIT.usage);
      const client = await ctx.client();
      const api: HostApi = {
        whoami: () => client.hostWhoami(),
        principals: () => client.hostPrincipals(),
        krl: () => client.hostKrl(),
        report: (body) => client.hostReport(body),
        ca: () => client.ca(),
      };
      const log = (line: string) => ctx.err(line);
      const journald = o.sshdLog === "journald";
      const logFile = resolve(o.sshdLog);
      const companion = new Companion({
        api,
        krlPath: resolve(o.krl),
        principalsDir: resolve(o.principalsDir),
        trustedCaKeysPath: o.trustedCaKeys === undefined ? undefined : resolve(o.trustedCaKeys),
        statePath: join(resolve(stateDir), "state.json"),
        intervalMs: seconds * 1000,
        log,
        now: () => new Date(),
        source: (from) =>
          journald
            ? new JournaldSource({
                journalctl: o.journalctl,
                identifiers: SSHD_PROGRAMS,
                namespace: o.journalNamespace,
                cursor: from?.kind === "journald" ? from.cursor : undefined,
                onError: log,
              })
            : new FileSource(logFile, from?.kind === "file" ? from : undefined),
      });
      if (o.once) {
        await companion.once();
        return;
      }
      const stop = new AbortController();
      // on, not once: execa's child cleanup (signal-exit) re-raises a signal nobody else
      // listens to any more, which would kill the companion before it saved its cursor.
      // A second signal while it winds down ends it at once.
      const onSignal = () => (stop.signal.aborted ? process.exit(1) : stop.abort());
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      await companion.run(stop.signal);
    });
}
