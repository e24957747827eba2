import { randomBytes } from "node:crypto";
import { chmod, unlink } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { AccessService } from "../access/service.js";
import { createAdminApp } from "../admin/socket-app.js";
import { safeErr } from "../errors.js";
import { createApp } from "../http/app.js";
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
  /** Base URL of the API ("http://127.0.0.1:8443" or "unix:/path"). */
  url: string;
  stop(): Promise<void>;
}

/** How often pending requests are expired and failed issuances retried. */
const SWEEP_MS = 1000;

/** Opens everything, listens on the API address and the admin socket, and starts the sweeper. */
export async function serve(opts: ServeOptions): Promise<RunningDaemon> {
  const now = opts.now ?? (() => new Date());
  const core = await openCore({ ...opts, now, createCa: true });
  const { config, store, audit, ca, paths } = core;
  const log = opts.log;
  const getConfig = () => core.config;

  const autoRoles = Object.entries(config.roles)
    .filter(([, r]) => r.autoApprove)
    .map(([name]) => name);
  for (const role of autoRoles) log.warn({ role }, "role is auto-approve: certificates are issued without approval");
  await audit.append("config.loaded", "sshcad", {
    path: core.configPath,
    roles: Object.keys(config.roles).sort(),
    hosts: Object.keys(config.hosts).sort(),
    autoApproveRoles: autoRoles,
  });

  const access = new AccessService({
    config: getConfig,
    store,
    audit,
    ca,
    now,
    random: randomBytes,
    log,
  });
  const app = createApp({ config: getConfig, store, audit, ca, access, now, log });
  const server = createServer(app);
  server.requestTimeout = 120_000;
  server.headersTimeout = 30_000;

  const listen = config.listen;
  let url: string;
  if (listen.socket) {
    await unlink(listen.socket).catch(() => undefined);
    await listenOn(server, listen.socket);
    url = `unix:${listen.socket}`;
  } else {
    await listenOn(server, listen.port, listen.address);
    const { port } = server.address() as AddressInfo;
    const host = listen.address.includes(":") ? `[${listen.address}]` : listen.address;
    url = `http://${host}:${port}`;
  }

  const adminServer = createServer(createAdminApp({ config: getConfig, store, audit, now, random: randomBytes }, log));
  await unlink(paths.adminSocket).catch(() => undefined);
  await listenOn(adminServer, paths.adminSocket);
  await chmod(paths.adminSocket, 0o600);

  // Requests approved before a crash, or whose issuance failed, are retried here too.
  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    access
      .sweep()
      .catch((err) => log.error({ err: safeErr(err) }, "sweep failed"))
      .finally(() => {
        sweeping = false;
      });
  }, SWEEP_MS);
  sweeper.unref();

  await audit.append("daemon.started", "sshcad", {
    url,
    pid: process.pid,
    caFingerprint: ca.fingerprint,
  });
  log.info({ url, caFingerprint: ca.fingerprint, dataDir: paths.dataDir }, "sshcad listening");

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      clearInterval(sweeper);
      const closed = Promise.all([closeServer(server), closeServer(adminServer)]);
      access.watch.wakeAll();
      server.closeIdleConnections();
      await closed;
      await unlink(paths.adminSocket).catch(() => undefined);
      await core.close();
      log.info("sshcad stopped");
    })();
    return stopping;
  };
  return { core, access, url, stop };
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
