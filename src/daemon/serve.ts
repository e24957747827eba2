import { randomBytes } from "node:crypto";
import { chmod, unlink } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { ensureTlsMaterial } from "../tls/material.js";
import { KrlService } from "../ca/krl-service.js";
import { SshSignIn } from "../auth/ssh-signin.js";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { AccessService } from "../access/service.js";
import { createAdminApp } from "../admin/socket-app.js";
import { SshcaError, safeErr } from "../errors.js";
import { createApp } from "../http/app.js";
import { startNotifications } from "../notify/start.js";
import { nmapVersion } from "../scan/runner.js";
import { ScanService } from "../scan/service.js";
import { type Core, openCore } from "./core.js";

export interface ServeOptions {
  configPath: string;
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
  stop(): Promise<void>;
}

/** How often pending requests are expired and failed issuances retried. */
const SWEEP_MS = 1000;
/** How often due scans are looked for: an expiry scan starts well within 2 s of validBefore. */
const SCAN_TICK_MS = 250;
/** How often the KRL is rebuilt anyway (expired serials drop out; a failed write is retried). */
const KRL_REFRESH_MS = 60_000;

/**
 * Opens everything, listens on the API address and the admin socket, and starts the sweeper.
 * Whatever was started is stopped again, in reverse order, on stop() or when start-up fails.
 */
export async function serve(opts: ServeOptions): Promise<RunningDaemon> {
  const now = opts.now ?? (() => new Date());
  const log = opts.log;
  const core = await openCore({ ...opts, now, createCa: true });
  const cleanups: (() => Promise<void> | void)[] = [() => core.close()];
  const runCleanups = async () => {
    for (const fn of cleanups.reverse()) {
      await Promise.resolve()
        .then(fn)
        .catch((err) => log.error({ err: safeErr(err) }, "shutdown step failed"));
    }
  };
  try {
    const { config, store, audit, ca, paths } = core;
    const getConfig = () => core.config;
    cleanups.push(await startNotifications({ config: getConfig, audit, store, env: opts.env, log }));
    await auditConfig(core, log);

    // Scanning is on unless the config turns it off; then nmap must be there.
    const nmap = config.scanning.enabled ? await nmapVersion(config.scanning.nmap) : undefined;
    let scans: ScanService | undefined;
    const access: AccessService = new AccessService({
      config: getConfig,
      store,
      audit,
      ca,
      now,
      random: randomBytes,
      log,
      expiryWorkDone: (req) => scans?.expiryWorkDone(req) ?? true,
      // Called only after start-up, once `revocations` below exists.
      publishRevocations: (): Promise<void> => revocations.rebuild(),
    });
    // The KRL exists from the first start on (a missing RevokedKeys file locks everyone out).
    const revocations: KrlService = new KrlService({
      ca,
      paths: [paths.krl, ...(config.revocation.krlFile ? [config.revocation.krlFile] : [])],
      serials: () => access.revokedSerials(now()),
      now,
      log,
    });
    await revocations.rebuild();
    cleanups.push(every(KRL_REFRESH_MS, () => revocations.rebuild(), log, "krl refresh"));
    if (nmap !== undefined) {
      const scanner = new ScanService({
        config: getConfig,
        audit,
        access,
        now,
        random: randomBytes,
        log,
        nmapVersion: nmap,
      });
      scans = scanner;
      access.onChange(() => scanner.tick());
      cleanups.push(every(SCAN_TICK_MS, async () => scanner.tick(), log, "scan schedule"));
      scanner.tick(); // overdue scans (the daemon was down at a certificate's expiry) start now
    } else {
      log.warn("scanning is turned off (scanning.enabled: false)");
    }
    const signIn = new SshSignIn({
      config: getConfig,
      store,
      audit,
      now,
      random: randomBytes,
      caFingerprint: ca.fingerprint,
    });
    const app = createApp({ config: getConfig, store, audit, ca, access, scans, krl: revocations, signIn, now, log });
    const tls = config.listen.tls.enabled
      ? await ensureTlsMaterial(paths.tlsDir, subjectAltNames(config.listen), now())
      : undefined;
    if (tls?.created.ca) await audit.append("tls.ca_created", "sshcad", { fingerprint: tls.fingerprint });
    const server: Server = tls
      ? createHttpsServer({ key: tls.key, cert: tls.chain, minVersion: "TLSv1.2" }, app)
      : createServer(app);
    server.requestTimeout = 120_000;
    server.headersTimeout = 30_000;
    const url = await listenApi(server, config.listen, tls ? "https" : "http");
    cleanups.push(async () => {
      const closed = closeServer(server);
      access.watch.wakeAll(); // waiting long-polls answer now instead of holding the close
      server.closeIdleConnections();
      await closed;
    });

    const adminServer = createServer(
      createAdminApp({ config: getConfig, store, audit, now, random: randomBytes }, log),
    );
    await unlink(paths.adminSocket).catch(() => undefined);
    await listenOn(adminServer, paths.adminSocket);
    await chmod(paths.adminSocket, 0o600);
    cleanups.push(async () => {
      await closeServer(adminServer);
      await unlink(paths.adminSocket).catch(() => undefined);
    });

    cleanups.push(every(SWEEP_MS, () => access.sweep(), log, "sweep"));
    // The chain head, regularly, so an outside system can keep it and detect a rewritten log.
    const logHead = async () => log.info({ audit: audit.head }, "audit chain head");
    cleanups.push(every(config.audit.headLogInterval * 1000, logHead, log, "audit head"));
    cleanups.push(logHead);

    await audit.append("daemon.started", "sshcad", { url, pid: process.pid, caFingerprint: ca.fingerprint });
    log.info({ url, caFingerprint: ca.fingerprint, dataDir: paths.dataDir, audit: audit.head }, "sshcad listening");

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= runCleanups().then(() => log.info("sshcad stopped"));
      return stopping;
    };
    return { core, access, url, tlsFingerprint: tls?.fingerprint, stop };
  } catch (err) {
    await runCleanups();
    throw err;
  }
}

/** Records what configuration is in force; auto-approve roles are announced loudly. */
async function auditConfig(core: Core, log: Logger): Promise<void> {
  const autoRoles = Object.entries(core.config.roles)
    .filter(([, r]) => r.autoApprove)
    .map(([name]) => name);
  for (const role of autoRoles) log.warn({ role }, "role is auto-approve: certificates are issued without approval");
  await core.audit.append("config.loaded", "sshcad", {
    path: core.configPath,
    roles: Object.keys(core.config.roles).sort(),
    hosts: Object.keys(core.config.hosts).sort(),
    autoApproveRoles: autoRoles,
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
  return new Promise((resolve) => server.close(() => resolve()));
}
