#!/usr/bin/env node
/**
 * sshcad: the composition root. The only module that reads argv and the environment,
 * handles signals and decides exit codes; everything else gets what it needs passed in.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { Command } from "commander";
import { adminRequest } from "./admin/client.js";
import { embeddedConfigPath, loadConfigFile } from "./config/load.js";
import { openCore } from "./daemon/core.js";
import { offlineAdminDeps } from "./daemon/admin-deps.js";
import { createLogger } from "./daemon/logger.js";
import { type Admin, userCommands } from "./daemon/user-commands.js";
import { dataPaths } from "./daemon/paths.js";
import { serve, subjectAltNames } from "./daemon/serve.js";
import { ensureTlsMaterial } from "./tls/material.js";
import { type VerifyResult, verifyAudit } from "./audit/verify.js";
import { isSshcaError, SshcaError, safeErr } from "./errors.js";

process.umask(0o077);
const env = process.env;
const now = () => new Date();
const program = new Command("sshcad")
  .description("sshca daemon: approval-gated, short-lived OpenSSH user certificates")
  .option("-c, --config <file>", "config file (default: $SSHCAD_CONFIG or the embedded example config)")
  .option("-d, --data-dir <dir>", "data directory (default: config dataDir, $STATE_DIRECTORY or ./data)")
  .showHelpAfterError();

const globals = () => {
  const o = program.opts<{ config?: string; dataDir?: string }>();
  return {
    configPath: o.config ?? env.SSHCAD_CONFIG ?? embeddedConfigPath(),
    dataDirFlag: o.dataDir,
  };
};
const say = (line: string) => process.stderr.write(`${line}\n`);

program
  .command("init")
  .description("create the data directory (0700) and the CA key (0600); never overwrites an existing key")
  .action(async () => {
    const core = await openCore({ ...globals(), env, log: createLogger(env), now, createCa: true });
    say(core.caCreated ? `Created CA key ${core.paths.caKey}` : `CA key ${core.paths.caKey} exists; left untouched`);
    say(`CA fingerprint ${core.ca.fingerprint}`);
    if (core.config.listen.tls.enabled) {
      const tls = await ensureTlsMaterial(core.paths.tlsDir, subjectAltNames(core.config.listen), now());
      if (tls.created.ca) await core.audit.append("tls.ca_created", "sshcad", { fingerprint: tls.fingerprint });
      say(`${tls.created.ca ? "Created" : "Kept"} TLS CA ${core.paths.tlsDir}/ca.crt, fingerprint ${tls.fingerprint}`);
    }
    say("TrustedUserCAKeys line for target hosts:");
    process.stdout.write(`${core.ca.publicKeyLine} sshca-user-ca\n`);
    await core.close();
  });

program
  .command("serve")
  .description("run the daemon (creates the CA key on first start)")
  .action(async () => {
    const log = createLogger(env);
    const daemon = await serve({ ...globals(), env, log });
    const { core } = daemon;
    say(
      [
        ``,
        `sshcad listening on ${daemon.url}`,
        `  CA key     ${core.ca.fingerprint} (${core.ca.signatureAlgorithm})${core.caCreated ? " - created now" : ""}`,
        ...(daemon.tlsFingerprint
          ? [`  TLS CA     ${daemon.tlsFingerprint}`]
          : [`  TLS        off (plain HTTP on ${daemon.url})`]),
        `  config     ${core.configPath}`,
        `  data       ${core.paths.dataDir}`,
        `Next:`,
        `  sshcad user add alice --group dev      # prints alice's API token once`,
        daemon.tlsFingerprint
          ? `  sshca bootstrap --url ${daemon.url} --fingerprint ${daemon.tlsFingerprint}`
          : `  sshca bootstrap --url ${daemon.url}`,
        `  sshca token set < alice.token`,
        `  sshca ca pubkey                        # the TrustedUserCAKeys line for target hosts`,
        `  sshca login --role debug --host web-1 --reason "INC-1 disk full"`,
        ``,
      ].join("\n"),
    );
    const shutdown = (signal: string) => {
      log.info({ signal }, "stopping");
      daemon.stop().then(
        () => process.exit(0),
        (err) => {
          log.error({ err: safeErr(err) }, "unclean stop");
          process.exit(1);
        },
      );
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
    process.on("SIGHUP", () => {
      log.info({ signal: "SIGHUP" }, "reloading the config");
      daemon.reload().then(
        (r) => (r.ok ? log.info(r.message) : log.error(r.message)),
        (err) => log.error({ err: safeErr(err) }, "config reload failed"),
      );
    });
  });

/** Runs an admin operation through the daemon's socket, or on the data directory when it is not running. */
const admin: Admin = async (viaSocket, offline) => {
  const g = globals();
  const paths = dataPaths(loadConfigFile(g.configPath), g.dataDirFlag, env);
  const answer = await viaSocket(paths.adminSocket);
  if (answer !== undefined) return answer;
  // Only init and serve create a data directory: anything else here would make a second CA,
  // whose users and tokens the running daemon (elsewhere) knows nothing about.
  if (!existsSync(paths.state)) {
    throw new SshcaError(
      "state_invalid",
      `no sshcad data directory at ${paths.dataDir} (no state.json there, and no daemon answers on ${paths.adminSocket}); start the daemon (sshcad serve) or run sshcad init first, or point --data-dir / --config at the daemon's`,
    );
  }
  const log = createLogger(env);
  const core = await openCore({ ...g, env, log, now, createCa: false });
  try {
    return await offline(offlineAdminDeps(core, log, now));
  } finally {
    await core.close();
  }
};

userCommands(program, { admin, say });

program
  .command("audit")
  .description("the audit log")
  .command("verify")
  .description("check the hash chain of every audit segment; names the first bad record")
  .option("--expect-head <seq:hash>", "a chain head kept outside (from the daemon's 'audit chain head' log lines)")
  .option("--json", "print JSON")
  .action(async (o: { expectHead?: string; json?: boolean }) => {
    const g = globals();
    const paths = dataPaths(loadConfigFile(g.configPath), g.dataDirFlag, env);
    let expect: { expectSeq?: number; expectHash?: string } = {};
    if (o.expectHead) {
      const m = /^(\d+):([0-9a-f]{64})$/.exec(o.expectHead);
      if (!m) throw new SshcaError("bad_request", "--expect-head must be SEQ:HASH (64 hex digits)");
      expect = { expectSeq: Number(m[1]), expectHash: m[2]! };
    }
    // A running daemon verifies its own log (up to its head); otherwise read the files directly.
    let result =
      expect.expectSeq === undefined
        ? await adminRequest<VerifyResult>(paths.adminSocket, "GET", "/audit/verify")
        : undefined;
    if (result === undefined) {
      const stateSeq = await readStateSeq(paths.state);
      result = await verifyAudit(paths.auditDir, {
        ...expect,
        ...(expect.expectSeq === undefined && stateSeq !== undefined ? { expectSeq: stateSeq } : {}),
      });
    }
    if (o.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    if (!result.ok) {
      const p = result.problem!;
      throw new SshcaError("conflict", `audit log FAILED verification at ${p.segment} line ${p.line}: ${p.message}`);
    }
    if (!o.json) {
      say(
        `audit log ok: ${result.records} records in ${result.segments} segment(s); head ${result.head.seq}:${result.head.hash}`,
      );
    }
  });

program
  .command("config")
  .command("check")
  .description("validate the config file and exit")
  .action(() => {
    const { configPath } = globals();
    const cfg = loadConfigFile(configPath);
    say(`${configPath}: ok (${Object.keys(cfg.roles).length} roles, ${Object.keys(cfg.hosts).length} hosts)`);
  });

program.parseAsync().catch((err: unknown) => {
  if (isSshcaError(err)) {
    process.stderr.write(`sshcad: ${err.message}\n`);
    process.exit(err.code === "config_invalid" || err.code === "state_invalid" ? 78 : 1);
  }
  process.stderr.write(`sshcad: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(1);
});

/** The audit sequence number the state file says it includes, if there is a state file. */
async function readStateSeq(path: string): Promise<number | undefined> {
  try {
    const doc = JSON.parse(await readFile(path, "utf8")) as { auditSeq?: unknown };
    return typeof doc.auditSeq === "number" ? doc.auditSeq : undefined;
  } catch {
    return undefined;
  }
}
