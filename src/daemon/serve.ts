import { randomBytes } from "node:crypto";
import { chmod, unlink } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { AccessService } from "../access/service.js";
import { createAdminApp } from "../admin/socket-app.js";
import { type ConfigOverrides, loadConfigFile } from "../config/load.js";
import { SshcaError, safeErr } from "../errors.js";
import { createApp } from "./app.js";
import { applyConnectionLimits, limitConnectionsPerAddress, serverOptions } from "../http/connections.js";
import { readiness } from "../ops/readiness.js";
import { ensureTlsMaterial } from "../tls/material.js";
import { type Core, openCore } from "./core.js";
import { startAuditQueries } from "./storage.js";
import { applyReload } from "./reload.js";
import { consoleOrigin } from "../console/origin.js";
import { keysNeedingPrivateHalf, signingKey } from "../ca/keyset.js";
import type { CaKeys } from "./ca-keys.js";
import type { Check } from "../ops/readiness.js";
import { buildServices, KRL_REFRESH_MS, SCAN_TICK_MS, SILENCE_CHECK_MS, SWEEP_MS } from "./services.js";
import { checkSilence } from "../evidence/silence.js";

export interface ServeOptions {
  configPath: string;
  overrides?: ConfigOverrides | undefined;
  dataDirFlag?: string | undefined;
  env: NodeJS.ProcessEnv;
  log: Logger;
  now?: () => Date;
}

export interface RunningDaemon {
  core: Core;
  access: AccessService;
  /** Base URL of the API ("https://127.0.0.1:8443" or "unix:/path"). */
  url: string;
  /** The TLS CA fingerprint clients pin (sshca bootstrap --fingerprint), when serving HTTPS. */
  tlsFingerprint: string | undefined;
  /**
   * SIGTERM: stop accepting connections, let in-flight requests finish (waiting long-polls
   * answer at once), stop the background work, flush the audit log and state, release the lock.
   */
  stop(): Promise<void>;
  /** SIGHUP: re-read users and roles; a bad file keeps the old config and says why (logged here). */
  reload(): Promise<{ ok: boolean; message: string }>;
}

/** Opens everything, listens on the API address and the admin socket, and starts the background work. */
export async function serve(opts: ServeOptions): Promise<RunningDaemon> {
  const now = opts.now ?? (() => new Date());
  const log = opts.log;
  const core = await openCore({ ...opts, now, createCa: true, journal: true });
  const { storage, cas, paths } = core;
  const config = () => core.config;
  const timers: (() => void)[] = [];
  const servers: { server: Server; after?: () => Promise<void> }[] = [];
  let services: Awaited<ReturnType<typeof buildServices>> | undefined;

  let shuttingDown = false;
  const shutdown = async () => {
    shuttingDown = true;
    // 1. No new connections; in-flight requests finish, long-polls answer now.
    const closing = servers.map(async ({ server, after }) => {
      const closed = closeServer(server);
      // Connections that answered their last request are closed as soon as they are idle.
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      server.closeIdleConnections();
      await closed.finally(() => clearInterval(sweep));
      await after?.();
    });
    services?.access.watch.wakeAll();
    await Promise.all(closing);
    // 2. Background work stops.
    for (const stopTimer of timers) stopTimer();
    await services
      ?.stopNotifications()
      .catch((err) => log.error({ err: safeErr(err) }, "stopping notifications failed"));
    // 3. Everything queued reaches the audit log and the state file; the head is logged last.
    await core.close();
    log.info({ audit: storage.head }, "audit chain head");
  };

  try {
    // The TLS material first: its CA fingerprint is bound into SSH sign-in challenges.
    const tls = core.config.listen.tls.enabled
      ? await ensureTlsMaterial(paths.tlsDir, subjectAltNames(core.config.listen), now())
      : undefined;
    if (tls?.created.ca) await storage.append("tls.ca_created", "sshcad", { fingerprint: tls.fingerprint });
    const site: { apiUrl?: string } = {};
    services = await buildServices(core, opts.env, now, log, tls?.fingerprint ?? "none", site);
    const { access, krl, scans, signIn, keyRegistration, factors, oidc, oidcProvider, metrics, nmapPath, hostReports } =
      services;
    const { hostCerts, hostKrl } = services;
    await auditConfig(core, log, false);
    const { indexLag } = startAuditQueries(core, paths.auditIndex, log);
    if (indexLag) metrics.watchAuditIndex(indexLag);
    const query = storage.audit;

    const app = createApp({
      config,
      storage: core.storage,
      auditQuery: query,
      cas,
      access,
      scans,
      krl,
      hostCerts,
      hostKrl,
      hostReports,
      signIn,
      keyRegistration,
      factors,
      oidc,
      metrics,
      now,
      log,
      stopping: () => shuttingDown,
      consoleOrigin: () => consoleOrigin(core.config, site.apiUrl),
      ready: () =>
        readiness({
          storage: () => core.storageChecks(),
          caKey: () => caKeyCheck(cas),
          nmapPath,
          ...(oidcProvider ? { oidc: () => oidcProvider.check() } : {}),
        }),
    });
    const { handshakeTimeout, ...httpOptions } = serverOptions(core.config.limits);
    const server: Server = tls
      ? createHttpsServer(
          { key: tls.key, cert: tls.chain, minVersion: "TLSv1.2", handshakeTimeout, ...httpOptions },
          app,
        )
      : createServer(httpOptions, app);
    applyConnectionLimits(server, core.config.limits);
    limitConnectionsPerAddress(
      server,
      () => core.config.limits,
      (reason) => metrics.connectionsRefused.inc({ reason }),
    );
    const url = await listenApi(server, core.config.listen, tls ? "https" : "http");
    site.apiUrl = url;
    servers.push({ server });

    const adminServer = createServer(
      createAdminApp(
        { config, storage: core.storage, auditQuery: query, now, random: randomBytes, access, cas, hostCerts },
        log,
      ),
    );
    await unlink(paths.adminSocket).catch(() => undefined);
    await listenOn(adminServer, paths.adminSocket);
    await chmod(paths.adminSocket, 0o600);
    servers.push({ server: adminServer, after: () => unlink(paths.adminSocket).catch(() => undefined) });

    timers.push(every(SWEEP_MS, () => access.sweep(), log, "sweep"));
    timers.push(every(KRL_REFRESH_MS, () => krl.rebuild(), log, "krl refresh"));
    if (hostCerts && hostKrl) {
      // Expired host certificates leave the live state (and the host KRL) after the skew margin.
      const refresh = async () => {
        await hostCerts.prune(now());
        await hostKrl.rebuild();
      };
      timers.push(every(KRL_REFRESH_MS, refresh, log, "host krl refresh"));
    }
    const silence = async () => {
      await checkSilence({ storage: core.storage, config, now, log });
    };
    timers.push(every(SILENCE_CHECK_MS, silence, log, "silent hosts"));
    if (scans) {
      const scanner = scans;
      timers.push(every(SCAN_TICK_MS, async () => scanner.tick(), log, "scan schedule"));
      scanner.tick(); // scans that fell due while the daemon was down start now
    }
    // The chain head, regularly, so an outside system can keep it and detect a rewritten log.
    const logHead = async () => log.info({ audit: storage.head }, "audit chain head");
    timers.push(every(core.config.audit.headLogInterval * 1000, logHead, log, "audit head"));

    const caFingerprint = signingKey(cas.user.set).fingerprint;
    await storage.append("daemon.started", "sshcad", { url, pid: process.pid, caFingerprint });
    log.info(
      { url, caFingerprint, dataDir: paths.dataDir, storage: storage.backend, audit: storage.head },
      "sshcad listening",
    );
    await logHead();

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= shutdown().then(() => log.info("sshcad stopped"));
      return stopping;
    };
    const reload = async () => {
      let next: Core["config"];
      try {
        next = loadConfigFile(core.configPath, core.overrides);
      } catch (err) {
        const message = `config reload failed; keeping the running config: ${(err as Error).message}`;
        // Logged here, once; the caller only reports success.
        log.error({ problems: (err as SshcaError).details?.problems ?? [(err as Error).message] }, message);
        return { ok: false, message };
      }
      const { config: merged, needsRestart } = applyReload(core.config, next);
      core.config = merged;
      applyConnectionLimits(server, merged.limits);
      if (needsRestart.length) log.warn({ needsRestart }, "some config changes take effect only after a restart");
      await auditConfig(core, log, true, needsRestart);
      return {
        ok: true,
        message: `config reloaded${needsRestart.length ? `; restart to apply changes to ${needsRestart.join(", ")}` : ""}`,
      };
    };
    return { core, access, url, tlsFingerprint: tls?.fingerprint, stop, reload };
  } catch (err) {
    await shutdown().catch(() => undefined);
    throw err;
  }
}

/** Records what configuration is in force; auto-approve roles are announced loudly. */
async function auditConfig(core: Core, log: Logger, reload: boolean, needsRestart: string[] = []): Promise<void> {
  const autoRoles = Object.entries(core.config.roles)
    .filter(([, r]) => r.autoApprove)
    .map(([name]) => name);
  for (const role of autoRoles) log.warn({ role }, "role is auto-approve: certificates are issued without approval");
  await core.storage.append("config.loaded", "sshcad", {
    path: core.configPath,
    reload,
    roles: Object.keys(core.config.roles).sort(),
    hosts: Object.keys(core.config.hosts).sort(),
    autoApproveRoles: autoRoles,
    ...(needsRestart.length ? { needsRestart } : {}),
  });
}

/** Runs `task` every `ms` (never overlapping itself); returns the function that stops it. */
export function every(ms: number, task: () => Promise<void>, log: Logger, name: string): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    task()
      .catch((err) => log.error({ err: safeErr(err), task: name }, "background task failed"))
      .finally(() => {
        running = false;
      });
  }, ms);
  timer.unref();
  return () => clearInterval(timer);
}

/** The names in the server certificate: configured, else localhost and the listen address. */
export function subjectAltNames(listen: Core["config"]["listen"]): string[] {
  return listen.tls.subjectAltNames ?? [...new Set(["localhost", listen.address])];
}

async function listenApi(server: Server, listen: Core["config"]["listen"], scheme: "http" | "https"): Promise<string> {
  if (listen.socket) {
    await unlink(listen.socket).catch(() => undefined);
    await listenOn(server, listen.socket);
    return `unix:${listen.socket}`;
  }
  try {
    await listenOn(server, listen.port, listen.address);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SshcaError(
      "config_invalid",
      `cannot listen on ${listen.address}:${listen.port} (${code}): ${code === "EADDRINUSE" ? "the port is taken; change listen.port" : (err as Error).message}`,
    );
  }
  const { port } = server.address() as AddressInfo;
  const host = listen.address.includes(":") ? `[${listen.address}]` : listen.address;
  return `${scheme}://${host}:${port}`;
}

function listenOn(server: Server, portOrPath: number | string, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      resolve();
    };
    if (typeof portOrPath === "string") server.listen(portOrPath, done);
    else server.listen(portOrPath, host, done);
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}

/** /readyz: can this replica sign with every key the rotation phase needs (key files, or the agent)? */
async function caKeyCheck(cas: CaKeys): Promise<Check> {
  const problems: string[] = [];
  for (const ring of [cas.user, cas.host]) {
    if (!ring) continue;
    for (const key of keysNeedingPrivateHalf(ring.set)) {
      const problem = await ring.problem(key);
      if (problem) problems.push(`${ring.kind} CA ${key.status} key: ${problem}`);
    }
  }
  return problems.length ? { ok: false, detail: problems.join("; ") } : { ok: true };
}
