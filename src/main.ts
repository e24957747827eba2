#!/usr/bin/env node
/**
 * sshcad: the composition root. The only module that reads argv and the environment,
 * handles signals and decides exit codes; everything else gets what it needs passed in.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Command } from "commander";
import { adminRequest } from "./admin/client.js";
import {
  addUser,
  addUserKey,
  createToken,
  type IssuedToken,
  listTokens,
  listUsers,
  revokeToken,
} from "./admin/users.js";
import { parseToken } from "./auth/tokens.js";
import { embeddedConfigPath, loadConfigFile } from "./config/load.js";
import { openCore } from "./daemon/core.js";
import { createLogger } from "./daemon/logger.js";
import { dataPaths } from "./daemon/paths.js";
import { serve, subjectAltNames } from "./daemon/serve.js";
import { STATE_COLLECTIONS } from "./store/state.js";
import { JournaledJsonFile } from "./store/journaled-file.js";
import { ensureTlsMaterial } from "./tls/material.js";
import type { VerifyResult } from "./audit/verify.js";
import { verifyOffline } from "./audit/verify-offline.js";
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
async function admin<T>(
  viaSocket: (socket: string) => Promise<T | undefined>,
  offline: (deps: Parameters<typeof listUsers>[0]) => Promise<T> | T,
  { readOnly = false }: { readOnly?: boolean } = {},
): Promise<T> {
  const g = globals();
  const paths = dataPaths(loadConfigFile(g.configPath), g.dataDirFlag, env);
  const answer = await viaSocket(paths.adminSocket);
  if (answer !== undefined) return answer;
  // Listing never creates a CA key; adding a user to a fresh directory does, as init would.
  const core = await openCore({ ...g, env, log: createLogger(env), now, createCa: !readOnly });
  try {
    return await offline({
      config: () => core.config,
      store: core.store,
      audit: core.audit,
      now,
      random: randomBytes,
    });
  } finally {
    await core.close();
  }
}

function printToken(t: IssuedToken, json: boolean, verb: string): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(t, null, 2)}\n`);
    return;
  }
  say(`${verb} ${t.user} (groups: ${t.groups.join(", ")}). API token, shown once, expires ${t.expiresAt}:`);
  process.stdout.write(`${t.token}\n`);
}

const user = program.command("user").description("manage users");
user
  .command("add <name>")
  .description("add a user and print their API token once")
  .requiredOption("-g, --group <group...>", "group(s) from the config")
  .option("--ssh-key <file>", "also register this public key for SSH sign-in (sshca auth ssh)")
  .option("--json", "print JSON")
  .action(async (name: string, o: { group: string[]; sshKey?: string; json?: boolean }) => {
    const publicKey = o.sshKey ? await readPublicKeyFile(o.sshKey) : undefined;
    const t = await admin(
      (s) => adminRequest<IssuedToken>(s, "POST", "/users", { name, groups: o.group }),
      (deps) => addUser(deps, name, o.group, "admin"),
    );
    printToken(t, o.json === true, "Added user");
    if (publicKey) await addKey(name, publicKey);
  });
user
  .command("key")
  .description("SSH keys for sign-in")
  .command("add <name> <file>")
  .description("register a public key the user signs in with (sshca auth ssh)")
  .action(async (name: string, file: string) => {
    await addKey(name, await readPublicKeyFile(file));
  });

async function readPublicKeyFile(file: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (err) {
    throw new SshcaError(
      "bad_request",
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

async function addKey(name: string, publicKey: string): Promise<void> {
  const r = await admin(
    (s) => adminRequest<{ fingerprint: string }>(s, "POST", `/users/${encodeURIComponent(name)}/keys`, { publicKey }),
    (deps) => addUserKey(deps, name, publicKey),
  );
  say(`Registered SSH key ${r.fingerprint} for ${name}`);
}
user
  .command("list")
  .description("list users and their groups")
  .option("--json", "print JSON")
  .action(async (o: { json?: boolean }) => {
    const { users } = await admin(
      (s) => adminRequest<{ users: ReturnType<typeof listUsers> }>(s, "GET", "/users"),
      (deps) => ({ users: listUsers(deps) }),
      { readOnly: true },
    );
    if (o.json) process.stdout.write(`${JSON.stringify(users, null, 2)}\n`);
    else
      for (const u of users)
        process.stdout.write(`${u.user}\t${u.groups.join(",")}\t${u.source}\ttokens=${u.tokens}\n`);
  });

const token = program.command("token").description("manage API tokens");
token
  .command("create <user>")
  .description("mint another API token for a user (printed once)")
  .option("--json", "print JSON")
  .action(async (name: string, o: { json?: boolean }) => {
    const t = await admin(
      (s) => adminRequest<IssuedToken>(s, "POST", `/users/${encodeURIComponent(name)}/tokens`),
      (deps) => createToken(deps, name, "admin"),
    );
    printToken(t, o.json === true, "New token for");
  });

token
  .command("revoke <tokenId>")
  .description("revoke an API token at once (the id is the part after sshca_ in the token)")
  .action(async (tokenId: string) => {
    const id = parseToken(tokenId)?.id ?? tokenId;
    const r = await admin(
      (s) => adminRequest<{ tokenId: string; user: string }>(s, "POST", `/tokens/${encodeURIComponent(id)}/revoke`),
      (deps) => revokeToken(deps, id, "admin"),
    );
    say(`Revoked token ${r.tokenId} of ${r.user}`);
  });
token
  .command("list")
  .description("token ids, owners and expiry (never the tokens themselves)")
  .option("--user <name>", "only this user's tokens")
  .option("--json", "print JSON")
  .action(async (o: { user?: string; json?: boolean }) => {
    const q = o.user ? `?user=${encodeURIComponent(o.user)}` : "";
    const { tokens } = await admin(
      (s) => adminRequest<{ tokens: ReturnType<typeof listTokens> }>(s, "GET", `/tokens${q}`),
      (deps) => ({ tokens: listTokens(deps, o.user) }),
      { readOnly: true },
    );
    if (o.json) process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
    else
      for (const t of tokens)
        process.stdout.write(
          `${t.tokenId}\t${t.user}\texpires ${t.expiresAt}${t.revokedAt ? `\trevoked ${t.revokedAt}` : ""}\n`,
        );
  });

program
  .command("audit")
  .description("the audit log")
  .command("verify")
  .description("check the hash chain of every audit segment against the heads kept on disk; names the first bad record")
  .option("--expect-head <seq:hash>", "a chain head kept outside (from the daemon's 'audit chain head' log lines)")
  .option("--json", "print JSON")
  .action(async (o: { expectHead?: string; json?: boolean }) => {
    const g = globals();
    const paths = dataPaths(loadConfigFile(g.configPath), g.dataDirFlag, env);
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

/** The audit sequence number the state (snapshot and journal) says it includes, if there is a readable state. */
async function readStateSeq(path: string): Promise<number | undefined> {
  try {
    const doc = await new JournaledJsonFile<{ auditSeq?: unknown }>(path, STATE_COLLECTIONS).read();
    return typeof doc?.auditSeq === "number" ? doc.auditSeq : undefined;
  } catch {
    return undefined;
  }
}
