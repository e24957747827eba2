import { randomBytes } from "node:crypto";
import express, { type Express } from "express";
import { consoleOrigin } from "../console/origin.js";
import { SshcaError } from "../errors.js";
import { consoleApiRoutes, consoleRoutes } from "../console/routes.js";
import { ConsoleSessions } from "../console/sessions.js";
import { LongPolls } from "../http/long-polls.js";
import { ChangeHub, eventRoutes } from "../http/routes/events.js";
import { historyRoutes } from "../http/routes/history.js";
import type { Logger } from "pino";
import type { AccessService } from "../access/service.js";
import type { AuditQuery } from "../audit/query.js";
import type { CaKeys } from "./ca-keys.js";
import type { Config } from "../config/schema.js";
import type { Storage } from "../store/port.js";
import { authenticate, stillValid } from "../http/auth.js";
import { errorHandler, notFoundHandler } from "../http/errors.js";
import { auditRoutes } from "../http/routes/audit.js";
import { caRoutes, infoRoutes } from "../http/routes/info.js";
import { requestRoutes } from "../http/routes/requests.js";
import { scanRoutes } from "../http/routes/scans.js";
import { opsRoutes } from "../http/routes/ops.js";
import { requestLog } from "../http/request-log.js";
import type { Metrics } from "../ops/metrics.js";
import type { Check } from "../ops/readiness.js";
import { factorRoutes } from "../http/routes/factors.js";
import { oidcRoutes } from "../http/routes/oidc.js";
import { keyRoutes, logoutRoutes, methodRoutes, signInRoutes } from "../http/routes/signin.js";
import { RateLimiter } from "../http/rate-limit.js";
import type { Factors } from "../auth/factors/factors.js";
import type { KeyRegistration } from "../auth/key-registration.js";
import type { OidcSignIn } from "../auth/oidc/signin.js";
import type { SshSignIn } from "../auth/ssh-signin.js";
import { krlRoutes, revocationRoutes } from "../http/routes/revocations.js";
import { hostCertRoutes, knownHostsRoutes } from "../http/routes/host-certs.js";
import type { HostCertService } from "../hostcerts/service.js";
import type { RequestHandler } from "express";
import { authenticateHost } from "../http/host-auth.js";
import { hostRoutes } from "../http/routes/host.js";
import { reportRoutes } from "../http/routes/reports.js";
import type { HostReports } from "../evidence/host-reports.js";
import type { KrlService } from "../ca/krl-service.js";
import type { ScanService } from "../scan/service.js";
import type { HostHealth } from "../scan/hosts.js";
import { hostStatusRoutes } from "../http/routes/hosts.js";
import { membersOf } from "../auth/identity.js";

export interface AppDeps {
  config: () => Config;
  storage: Storage;
  /** Look-ups and verification of the audit log (never on this event loop). */
  auditQuery: AuditQuery;
  /** The user and host CAs' keys. */
  cas: CaKeys;
  access: AccessService;
  /** Absent when scanning is turned off. */
  scans?: ScanService | undefined;
  /** Each host's latest scan and open drift (scan-aware roles). */
  hosts?: HostHealth | undefined;
  krl: KrlService;
  /** Host certificates and their KRL (absent without a host CA). */
  hostCerts?: HostCertService | undefined;
  hostKrl?: KrlService | undefined;
  /** Logins reported by target hosts' companions. */
  hostReports: HostReports;
  signIn: SshSignIn;
  keyRegistration: KeyRegistration;
  factors: Factors;
  /** Single sign-on, when auth.oidc is configured. */
  oidc?: OidcSignIn | undefined;
  metrics: Metrics;
  ready: () => Promise<{ ready: boolean; checks: Record<string, Check> }>;
  /** True once SIGTERM started the shutdown: connections are closed after each answer. */
  stopping: () => boolean;
  now: () => Date;
  log: Logger;
  /** The web console's origin (console.url, else https://localhost:<port>). */
  consoleOrigin?: () => string;
}

/** Request bodies are small JSON documents; 16 KiB holds the largest RSA public key with room. */
export const BODY_LIMIT = "16kb";

/** The API as an express app; it never listens (main.ts does), so tests run it on any port. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(requestLog(deps.log));
  // While stopping: answer what is in flight, close each connection after its answer, and
  // turn away new requests on kept-alive connections instead of starting new work.
  app.use((_req, res, next) => {
    if (!deps.stopping()) return next();
    res.set("Connection", "close");
    res.status(503).json({ error: { code: "unavailable", message: "sshcad is shutting down; try again shortly" } });
  });
  app.set("etag", false);
  app.set("query parser", "simple");
  app.use((_req, res, next) => {
    res.set({
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
      "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
      "Referrer-Policy": "no-referrer",
      "X-Frame-Options": "DENY",
    });
    next();
  });
  // The API uses GET and POST only; anything else gets a JSON 405, not express's automatic answers.
  app.use((req, res, next) => {
    if (req.method === "GET" || req.method === "POST") return next();
    res
      .status(405)
      .set("Allow", "GET, POST")
      .json({ error: { code: "method_not_allowed", message: `${req.method} is not supported` } });
  });
  app.use(express.json({ limit: BODY_LIMIT, strict: true, type: "application/json" }));

  app.use("/v1/ca", caRoutes(deps.cas));
  app.use("/v1/krl", krlRoutes(deps.krl));

  const clock = () => deps.now().getTime();
  const tracked = () => deps.config().limits.trackedClients;
  // Each limiter also counts in the bucket every replica shares (PostgreSQL; see RateLimiter).
  const shared = (scope: string) => (key: string, perMinute: number) => deps.storage.takeToken(scope, key, perMinute);
  const failures = new RateLimiter(
    () => deps.config().limits.failedAuthPerMinute,
    clock,
    tracked,
    shared("failed-auth"),
  );
  const origin = deps.consoleOrigin ?? (() => consoleOrigin(deps.config(), undefined));
  const consoleSessions = new ConsoleSessions({
    config: deps.config,
    storage: deps.storage,
    now: deps.now,
    random: randomBytes,
    origin,
  });
  const authDeps = {
    config: deps.config,
    storage: deps.storage,
    now: deps.now,
    failures,
    cookie: consoleSessions,
    // Failed sign-ins are audit events; the append is not awaited (the caller is refused anyway).
    onFailure: (reason: string, ip: string) => {
      deps.storage.append("auth.failed", "anonymous", { reason, ip }).catch(() => undefined);
    },
  };
  const auth = authenticate(authDeps);
  // A target host, with its host credential (and only with that): the companion's routes and
  // host certificate signing share the one host authentication.
  const hostReports = new RateLimiter(() => deps.config().limits.hostReportsPerMinute, clock, tracked);
  app.use(
    "/v1/host",
    authenticateHost(authDeps),
    hostRoutes({ config: deps.config, krl: deps.krl, reports: deps.hostReports, limiter: hostReports }),
    hostCertRoutes({ certs: deps.hostCerts }),
  );
  app.use(opsRoutes({ config: deps.config, metrics: deps.metrics, ready: deps.ready, auth }));
  const challenges = new RateLimiter(
    () => 3 * deps.config().limits.failedAuthPerMinute,
    clock,
    tracked,
    shared("challenges"),
  );
  const creations = new RateLimiter(() => deps.config().limits.requestsPerMinute, clock, tracked, shared("requests"));
  app.use("/v1/auth/methods", methodRoutes(deps.config));
  app.use("/v1/auth/oidc", oidcRoutes(deps.config, deps.oidc, authDeps, challenges));
  app.use(
    "/v1/auth/logout",
    auth,
    logoutRoutes(deps.storage, deps.now, (u) => deps.access.watch.wakeUser(u)),
  );
  app.use("/v1/auth", signInRoutes(deps.signIn, authDeps, challenges));
  app.use(
    "/v1/keys",
    auth,
    keyRoutes(deps.storage, deps.keyRegistration, (user) => deps.access.watch.wakeUser(user), deps.now),
  );
  app.use("/v1/factors", auth, factorRoutes(deps.storage, deps.factors));
  const recheck = (tokenId: string) => stillValid(authDeps, tokenId);
  const longPolls = new LongPolls();
  const hub = new ChangeHub();
  deps.access.onChange((req) => hub.publish(req));
  app.use("/v1/events", auth, eventRoutes({ ...deps, hub, longPolls, recheck }));
  // The page asks first whether it is signed in: no cookie is no session, not a failed sign-in.
  app.use("/v1/console/session", (req, _res, next) => {
    if (!req.get("authorization") && consoleSessions.cookieToken(req) === undefined)
      throw new SshcaError("unauthenticated", "not signed in to the console");
    next();
  });
  app.use("/v1/console", auth, consoleApiRoutes(consoleSessions));
  app.use("/v1/requests", auth, historyRoutes(deps.access, deps.auditQuery));
  app.use(
    "/v1/requests",
    auth,
    requestRoutes({
      longPolls,
      access: deps.access,
      audit: deps.storage,
      config: deps.config,
      now: deps.now,
      creations,
      recheck,
      members: (groups) => membersOf(deps.config(), deps.storage.state, groups),
    }),
  );
  app.use("/v1/audit", auth, auditRoutes(deps.config, deps.auditQuery));
  app.use(
    "/v1/reports",
    auth,
    reportRoutes({ config: deps.config, access: deps.access, audit: deps.auditQuery, now: deps.now }),
  );
  const manualScans = new RateLimiter(
    () => deps.config().limits.manualScansPerMinute,
    clock,
    tracked,
    shared("manual-scans"),
  );
  app.use("/v1/scans", auth, scanRoutes(deps.config, deps.auditQuery, deps.scans, manualScans));
  app.use("/v1/revocations", auth, revocationRoutes(deps.access));
  mountHostCerts(app, deps, auth);
  if (deps.hosts) app.use("/v1/hosts", auth, hostStatusRoutes(deps.hosts));
  app.use("/v1", auth, infoRoutes(deps.config));

  app.use(
    "/console",
    consoleRoutes({ config: deps.config, sessions: consoleSessions, oidc: deps.oidc, origin, stillValid: recheck }),
  );

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log));
  return app;
}

/**
 * Host certificates for users: the host KRL (public, like the user KRL) and the known_hosts
 * material (/v1/known-hosts). Signing is under /v1/host/, with the host credential.
 */
function mountHostCerts(app: Express, deps: AppDeps, auth: RequestHandler): void {
  const none = () => {
    throw new SshcaError("not_found", "this CA signs no host certificates (no host CA key)");
  };
  app.use("/v1/krl/host", deps.hostKrl ? krlRoutes(deps.hostKrl) : none);
  app.use("/v1/known-hosts", auth, knownHostsRoutes({ config: deps.config, hostCa: () => deps.cas.host?.set }));
}
