#!/usr/bin/env node
/**
 * sshcad: the composition root. The only module that reads argv and the environment,
 * handles signals and decides exit codes; everything else gets what it needs passed in.
 */
import { existsSync } from "node:fs";
import { Command } from "commander";
import { adminRequest } from "./admin/client.js";
import { OidcProvider } from "./auth/oidc/provider.js";
import { embeddedConfigPath, loadConfigFile, packageVersion } from "./config/load.js";
import { caPassphrase, openCore } from "./daemon/core.js";
import { signingKey } from "./ca/keyset.js";
import { caView } from "./http/routes/info.js";
import { trustedUserCaKeys } from "./http/trust-lines.js";
import { offlineAdminDeps, offlineCa, offlineHostCerts } from "./daemon/admin-deps.js";
import type { Core } from "./daemon/core.js";
import { type HostCertAdmin, hostCertCommands } from "./daemon/host-cert-commands.js";
import type { Logger } from "pino";
import { type CaAdmin, caCommands } from "./daemon/ca-commands.js";
import { banner, invocation } from "./daemon/banner.js";
import { createLogger } from "./daemon/logger.js";
import { type Admin, userCommands } from "./daemon/user-commands.js";
import { hostCommands } from "./daemon/host-commands.js";
import { dataPaths } from "./daemon/paths.js";
import { serve, subjectAltNames } from "./daemon/serve.js";
import { JournaledJsonFile } from "./store/journaled-file.js";
import { ensureTlsMaterial } from "./tls/material.js";
import type { VerifyResult } from "./audit/verify.js";
import { verifyOffline } from "./audit/verify-offline.js";
import { isSshcaError, SshcaError, safeErr } from "./errors.js";
import { migrate } from "./store/postgres/migrations.js";
import { openPostgres } from "./store/postgres/pool.js";
import { readPostgresUrl } from "./store/postgres/url.js";
import { copyToPostgres } from "./store/copy.js";
import { STATE_COLLECTIONS, StateStore } from "./store/state.js";
import { acquireLock } from "./daemon/lock.js";
import { readCaKey } from "./ca/custody.js";
import { Sealer } from "./auth/factors/sealed.js";

process.umask(0o077);
const env = process.env;
const now = () => new Date();
const program = new Command("sshcad")
  .description("sshca daemon: approval-gated, short-lived OpenSSH user certificates")
  .option("-c, --config <file>", "config file (default: $SSHCAD_CONFIG or the embedded example config)")
  .option("-d, --data-dir <dir>", "data directory (default: config dataDir, $STATE_DIRECTORY or ./data)")
  .version(packageVersion(), "-V, --version", "print the version")
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
    const user = core.cas.user.set;
    say(`CA fingerprint ${signingKey(user).fingerprint}`);
    if (core.config.listen.tls.enabled) {
      const tls = await ensureTlsMaterial(core.paths.tlsDir, subjectAltNames(core.config.listen), now());
      if (tls.created.ca) await core.storage.append("tls.ca_created", "sshcad", { fingerprint: tls.fingerprint });
      say(`${tls.created.ca ? "Created" : "Kept"} TLS CA ${core.paths.tlsDir}/ca.crt, fingerprint ${tls.fingerprint}`);
    }
    say("TrustedUserCAKeys line(s) for target hosts:");
    process.stdout.write(trustedUserCaKeys(caView(user)));
    await core.close();
  });

program
  .command("serve")
  .description("run the daemon (creates the CA key on first start)")
  .option("-p, --port <port>", "listen on this TCP port instead of the config's listen.port (0: any free port)")
  .option("-a, --address <ip>", "listen on this IP address instead of the config's listen.address")
  .action(async (o: { port?: string; address?: string }) => {
    const log = createLogger(env);
    if (o.port !== undefined && !/^\d{1,5}$/.test(o.port))
      throw new SshcaError("config_invalid", `--port ${o.port} is not a port number`);
    const overrides = { listen: { port: o.port === undefined ? undefined : Number(o.port), address: o.address } };
    const daemon = await serve({ ...globals(), overrides, env, log });
    const { core } = daemon;
    const g = program.opts<{ config?: string; dataDir?: string }>();
    say(
      banner({
        url: daemon.url,
        caFingerprint: caView(core.cas.user.set).fingerprint,
        caAlgorithm: caView(core.cas.user.set).signatureAlgorithm,
        caCreated: core.caCreated,
        tlsFingerprint: daemon.tlsFingerprint,
        configPath: core.configPath,
        dataDir: core.paths.dataDir,
        run: invocation({
          daemonScript: process.argv[1] ?? "sshcad",
          cwd: process.cwd(),
          path: env.PATH,
          config: g.config ?? env.SSHCAD_CONFIG,
          dataDir: g.dataDir,
        }),
      }),
    );
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) {
        // A second signal while the shutdown waits (a long scan answering, say): stop now.
        log.warn({ signal }, "second signal during the shutdown: exiting without finishing it");
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, "stopping");
      daemon.stop().then(
        () => process.exit(0),
        (err) => {
          log.error({ err: safeErr(err) }, "unclean stop");
          process.exit(1);
        },
      );
    };
    // on, not once: execa's child cleanup (signal-exit) re-raises a signal nobody else listens to
    // any more, which killed the daemon mid-shutdown whenever an nmap or ssh-keygen was running.
    process.on("SIGTERM", () => shutdown("SIGTERM"));
    process.on("SIGINT", () => shutdown("SIGINT"));
    process.on("SIGHUP", () => {
      log.info({ signal: "SIGHUP" }, "reloading the config");
      daemon.reload().then(
        (r) => {
          if (r.ok) log.info(r.message); // a failure was logged by reload itself
        },
        (err) => log.error({ err: safeErr(err) }, "config reload failed"),
      );
    });
  });

/**
 * Runs an admin operation through the daemon's socket, or on the data directory (under its lock)
 * when no daemon runs there.
 */
async function onDataDir<T>(
  viaSocket: (socket: string) => Promise<T | undefined>,
  offline: (core: Core, log: Logger) => Promise<T> | T,
): Promise<T> {
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
    return await offline(core, log);
  } finally {
    await core.close();
  }
}

const admin: Admin = (viaSocket, offline) =>
  onDataDir(viaSocket, (core, log) => offline(offlineAdminDeps(core, log, now)));
const caAdmin: CaAdmin = (viaSocket, offline) =>
  onDataDir(viaSocket, (core, log) => offlineCa(core, log, now, offline));
const hostCertAdmin: HostCertAdmin = (viaSocket, offline) =>
  onDataDir(viaSocket, (core, log) => offline(offlineHostCerts(core, log, now)));

userCommands(program, { admin, say });
caCommands(program, { caAdmin, say });
// `sshcad host credential …` first: `sshcad host cert …` joins the same `host` command.
hostCommands(program, { admin, say });
hostCertCommands(program, { hostCertAdmin, say });

program
  .command("audit")
  .description("the audit log")
  .command("verify")
  .description("check the hash chain of every audit segment against the heads kept on disk; names the first bad record")
  .option("--expect-head <seq:hash>", "a chain head kept outside (from the daemon's 'audit chain head' log lines)")
  .option("--json", "print JSON")
  .action(async (o: { expectHead?: string; json?: boolean }) => {
    const g = globals();
    const cfg = loadConfigFile(g.configPath);
    const paths = dataPaths(cfg, g.dataDirFlag, env);
    let expectHead: { seq: number; hash: string } | undefined;
    if (o.expectHead) {
      const m = /^(\d+):([0-9a-f]{64})$/.exec(o.expectHead);
      if (!m) throw new SshcaError("bad_request", "--expect-head must be SEQ:HASH (64 hex digits)");
      expectHead = { seq: Number(m[1]), hash: m[2]! };
    }
    // A running daemon verifies its own log (up to its head); otherwise read the files directly.
    let result =
      expectHead === undefined
        ? await adminRequest<VerifyResult>(paths.adminSocket, "GET", "/audit/verify", undefined, 600_000)
        : undefined;
    if (result === undefined && cfg.storage.backend === "postgres") {
      // The chain lives in the database: walk it there, and hold it to --expect-head.
      const core = await openCore({ ...g, env, log: createLogger(env), now, createCa: false });
      try {
        result = await core.storage.audit.verify();
        const at = expectHead ? (await core.storage.cursor(expectHead.seq - 1).read(1))[0] : undefined;
        if (result.ok && expectHead && at?.hash !== expectHead.hash) {
          const message = `record ${expectHead.seq} ${at ? "does not have the expected hash" : "is missing"} (--expect-head)`;
          result = {
            ...result,
            ok: false,
            problem: { kind: "modified", segment: "database", line: expectHead.seq, message },
          };
        }
      } finally {
        await core.close();
      }
    }
    result ??= await verifyOffline(paths.auditDir, { stateSeq: await readStateSeq(paths.state), expectHead });
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
  .description("the config file")
  .command("check")
  .description("validate the config file (and that the files it names can be read) and exit")
  .action(async () => {
    const { configPath } = globals();
    const cfg = loadConfigFile(configPath);
    // Single sign-on: the client secret and CA file must be readable now, not at the first sign-in.
    if (cfg.auth.oidc) await OidcProvider.create(cfg.auth.oidc, env);
    // The database URL too (read and checked, not used: the database may not be up yet).
    if (cfg.storage.backend === "postgres") await readPostgresUrl(cfg.storage, env);
    say(
      `${configPath}: ok (${Object.keys(cfg.roles).length} roles, ${Object.keys(cfg.hosts).length} hosts${cfg.auth.oidc ? `, single sign-on with ${cfg.auth.oidc.issuer}` : ""}, ${cfg.storage.backend} storage)`,
    );
  });

const storageCommand = program.command("storage").description("the storage backend");
storageCommand
  .command("migrate")
  .description("create or upgrade the PostgreSQL schema (storage.backend: postgres); safe while other replicas run")
  .action(async () => {
    const cfg = loadConfigFile(globals().configPath);
    if (cfg.storage.backend !== "postgres") {
      say("storage.backend is embedded: nothing to migrate");
      return;
    }
    const url = await readPostgresUrl(cfg.storage, env);
    const db = openPostgres({ url, log: createLogger(env), applicationName: "sshcad storage migrate", max: 1 });
    try {
      const r = await migrate(db);
      say(
        r.applied.length > 0
          ? `database schema migrated from version ${r.from} to ${r.to}`
          : `database schema is at version ${r.to}; nothing to migrate`,
      );
    } finally {
      await db.close();
    }
  });

storageCommand
  .command("copy")
  .description(
    "copy the embedded data directory (state and the whole audit chain, verified on both sides) into the empty PostgreSQL database of storage.urlFile",
  )
  .requiredOption("--to <backend>", "the backend to copy to: postgres")
  .action(async (o: { to: string }) => {
    if (o.to !== "postgres") throw new SshcaError("bad_request", `--to ${o.to}: only postgres is supported`);
    const g = globals();
    const cfg = loadConfigFile(g.configPath);
    if (cfg.storage.backend !== "postgres") {
      throw new SshcaError(
        "config_invalid",
        "set storage.backend: postgres and storage.urlFile in the config first (the data directory it names is the one copied)",
      );
    }
    const paths = dataPaths(cfg, g.dataDirFlag, env);
    if (!existsSync(paths.state)) {
      throw new SshcaError("state_invalid", `no embedded data directory at ${paths.dataDir} (no state.json there)`);
    }
    const log = createLogger(env);
    // The data directory's lock: a daemon still writing it would make the copy stale at once.
    const lock = await acquireLock(paths.lock);
    const db = openPostgres({
      url: await readPostgresUrl(cfg.storage, env),
      log,
      applicationName: "sshcad storage copy",
    });
    try {
      await migrate(db);
      const store = await StateStore.open(paths.state, now());
      const ca = await readCaKey(paths.caKey, await caPassphrase(env));
      const sealer = await Sealer.open(paths.sealKey);
      const r = await copyToPostgres({
        auditDir: paths.auditDir,
        state: store,
        db,
        keys: [
          { name: "ca_fingerprint", fingerprint: ca.fingerprint, path: paths.caKey },
          { name: "seal_key_fingerprint", fingerprint: sealer.fingerprint, path: paths.sealKey },
        ],
      });
      say(
        `copied ${r.records} audit records and ${r.entries} live entries; the chain verifies in the database with head ${r.head.seq}:${r.head.hash}`,
      );
      say("start sshcad with this config now; keep the data directory's ca/ and tls/ (each replica needs a copy)");
    } finally {
      await db.close();
      await lock.release();
    }
  });

// The root help lists every command, nested ones included, each with what it does.
program.addHelpText("after", () => `\nAll commands:\n${commandTree(program)}`);

program.parseAsync().catch((err: unknown) => {
  if (isSshcaError(err)) {
    process.stderr.write(`sshcad: ${err.message}\n`);
    process.exit(err.code === "config_invalid" || err.code === "state_invalid" ? 78 : 1);
  }
  process.stderr.write(`sshcad: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(1);
});

/** The audit sequence number the state (snapshot and journal) says it includes, if there is a readable state. */
async function readStateSeq(path: string): Promise<number | undefined> {
  try {
    const doc = await new JournaledJsonFile<{ auditSeq?: unknown }>(path, STATE_COLLECTIONS).read();
    return typeof doc?.auditSeq === "number" ? doc.auditSeq : undefined;
  } catch {
    return undefined;
  }
}

/** "  user disable <name>   cut a user off ..." for every leaf command, in the order defined. */
function commandTree(root: Command): string {
  const rows: [string, string][] = [];
  const walk = (cmd: Command, prefix: string) => {
    for (const sub of cmd.commands) {
      if (sub.name() === "help") continue;
      const usage = `${prefix}${sub.name()}${sub.registeredArguments.map((a) => (a.required ? ` <${a.name()}>` : ` [${a.name()}]`)).join("")}`;
      if (sub.commands.length > 0) walk(sub, `${prefix}${sub.name()} `);
      else rows.push([usage, sub.description()]);
    }
  };
  walk(root, "");
  const width = Math.max(...rows.map(([u]) => u.length));
  return rows.map(([u, d]) => `  ${u.padEnd(width)}  ${d}`).join("\n");
}
