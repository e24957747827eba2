import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { AccessService } from "../access/service.js";
import { Factors } from "../auth/factors/factors.js";
import { Sealer } from "../auth/factors/sealed.js";
import { KeyRegistration } from "../auth/key-registration.js";
import { OidcProvider } from "../auth/oidc/provider.js";
import { OidcSignIn } from "../auth/oidc/signin.js";
import { SshSignIn } from "../auth/ssh-signin.js";
import { krlContent } from "../ca/krl.js";
import { KrlService } from "../ca/krl-service.js";
import { startNotifications } from "../notify/start.js";
import { Metrics } from "../ops/metrics.js";
import { safeErr } from "../errors.js";
import { findNmap } from "../scan/runner.js";
import { ScanService } from "../scan/service.js";
import { krlPaths } from "./admin-deps.js";
import type { Core } from "./core.js";
import { consoleOrigin } from "../console/origin.js";
import { signingKey } from "../ca/keyset.js";
import { HostCertService } from "../hostcerts/service.js";
import { HostReports } from "../evidence/host-reports.js";

/** How often pending requests are expired and failed issuances retried. */
export const SWEEP_MS = 1000;
/** How often due scans are looked for: an expiry scan starts well within 2 s of validBefore. */
export const SCAN_TICK_MS = 250;
/** How often the KRL is rebuilt anyway (expired serials drop out; a failed write is retried). */
export const KRL_REFRESH_MS = 60_000;

/** How often hosts that stopped reporting are looked for (evidence.silentAfter is at least 1m). */
export const SILENCE_CHECK_MS = 5000;

/** The daemon's domain services, wired together over an opened Core. */
export interface Services {
  hostReports: HostReports;
  access: AccessService;
  krl: KrlService;
  /** Host certificates and their KRL (absent without a host CA). */
  hostCerts: HostCertService | undefined;
  hostKrl: KrlService | undefined;
  scans: ScanService | undefined;
  signIn: SshSignIn;
  keyRegistration: KeyRegistration;
  factors: Factors;
  /** Single sign-on (auth.oidc), and the provider it talks to (for /readyz). */
  oidc: OidcSignIn | undefined;
  oidcProvider: OidcProvider | undefined;
  metrics: Metrics;
  nmapPath: string | undefined;
  stopNotifications: () => Promise<void>;
}

export async function buildServices(
  core: Core,
  env: NodeJS.ProcessEnv,
  now: () => Date,
  log: Logger,
  /** The TLS CA fingerprint clients pin, or "none" for plain HTTP (bound into sign-in challenges). */
  tlsFingerprint: string,
  /** Where the API listens, once it does (the console's default origin takes its port). */
  site: { apiUrl?: string } = {},
): Promise<Services> {
  const { storage, cas } = core;
  const config = () => core.config;
  // Scanning is on unless the config turns it off; then nmap must be there.
  const nmap = core.config.scanning.enabled ? await findNmap(core.config.scanning.nmap) : undefined;

  const factors = new Factors({
    config,
    storage,
    now,
    random: randomBytes,
    sealer: await Sealer.open(core.paths.sealKey),
    tlsFingerprint,
    consoleOrigin: () => consoleOrigin(core.config, site.apiUrl),
  });
  let scans: ScanService | undefined;
  const access: AccessService = new AccessService({
    factors,
    config,
    storage,
    ca: cas.user,
    now,
    random: randomBytes,
    log,
    expiryWorkDone: (req) => scans?.expiryWorkDone(req) ?? true,
    // Called only after start-up, once `krl` below exists.
    publishRevocations: (): Promise<void> => krl.rebuild(),
  });
  await access.adoptRevoked();
  const metrics = new Metrics(() => access.liveRequests(), now);
  core.embedded?.audit.onSync((s) => metrics.auditSync.observe(s));
  storage.onCommit((records) => {
    metrics.auditRecords.inc(records.length);
    for (const r of records)
      if (r.type === "finding.raised")
        metrics.findings.inc({ finding: String((r.fields as { finding?: unknown }).finding) });
  });
  access.onChange((req, event) => {
    if (event === "request.approved" || event === "request.auto_approved") metrics.approvals.inc();
    const approved = req.approvals.at(-1)?.at;
    if (event === "certificate.issued" && approved)
      metrics.issuance.observe((now().getTime() - Date.parse(approved)) / 1000);
  });

  // The KRL exists from the first start on (a missing RevokedKeys file locks everyone out).
  const krl: KrlService = new KrlService({
    content: () => krlContent(cas.user.set, access.revokedEntries(now())),
    paths: krlPaths(core),
    now,
    log,
    version: () => BigInt(storage.head.seq),
  });
  await krl.rebuild();
  // A rotation phase (here or on another replica) changes what the KRL lists and revokes: publish it at once.
  cas.user.onChange(() => {
    krl.rebuild().catch((err) => log.error({ err: safeErr(err) }, "KRL rebuild after a CA key change failed"));
  });
  const host = buildHostCerts(core, now, log);
  if (host) await host.hostKrl.rebuild();
  // Another replica's changes (PostgreSQL): long-polls wake, deadlines follow, revocations reach the KRL.
  storage.onExternalChange((changed) => {
    access
      .changedElsewhere(changed)
      .catch((err) => log.error({ err: safeErr(err) }, "applying another replica's change failed"));
  });

  if (nmap) {
    scans = new ScanService({
      config,
      audit: storage,
      access,
      now,
      random: randomBytes,
      log,
      nmapVersion: nmap.version,
      onScan: (record, drift) => {
        metrics.scans.inc({ outcome: record.outcome, trigger: record.trigger });
        if (drift) metrics.drift.inc();
      },
    });
    const scanner = scans;
    access.onChange(() => scanner.requestTick());
    metrics.scansWaiting = () => scanner.waiting();
  } else {
    log.warn("scanning is turned off (scanning.enabled: false)");
  }

  const stopNotifications = await startNotifications({
    config,
    storage,
    env,
    log,
    onWebhookFailure: (hook) => metrics.webhookFailures.inc({ webhook: hook }),
  });
  const signIn = new SshSignIn({
    config,
    storage,
    now,
    random: randomBytes,
    caFingerprint: () => signingKey(cas.user.set).fingerprint,
    tlsFingerprint,
  });
  const provider = core.config.auth.oidc ? await OidcProvider.create(core.config.auth.oidc, env) : undefined;
  const oidc = provider ? new OidcSignIn({ config, storage, now, random: randomBytes, provider, log }) : undefined;
  const keyRegistration = new KeyRegistration({ config, storage, now, random: randomBytes, tlsFingerprint });
  // Logins reported by target hosts, judged against the certificates' audit records.
  const hostReports = new HostReports({
    storage,
    audit: () => storage.audit,
    // Every key the user CA has had (a rotation's old and next keys too): a login with one of them is no stranger's.
    caFingerprints: () => cas.user.set.keys.map((k) => k.fingerprint),
    now,
    log,
  });
  return {
    hostReports,
    access,
    krl,
    hostCerts: host?.hostCerts,
    hostKrl: host?.hostKrl,
    scans,
    signIn,
    keyRegistration,
    factors,
    oidc,
    oidcProvider: provider,
    metrics,
    nmapPath: nmap?.path,
    stopNotifications,
  };
}

/**
 * Host certificates over the host CA, with their own KRL (for users' RevokedHostKeys), rebuilt
 * on a revocation, on a host CA rotation phase and on another replica's change.
 */
function buildHostCerts(
  core: Core,
  now: () => Date,
  log: Logger,
): { hostCerts: HostCertService; hostKrl: KrlService } | undefined {
  const hostCa = core.cas.host;
  if (!hostCa) return undefined;
  const { storage } = core;
  // The service publishes through the KRL, which is built from the service's revocations.
  const hostCerts: HostCertService = new HostCertService({
    config: () => core.config,
    storage,
    ca: hostCa,
    now,
    random: randomBytes,
    log,
    publishRevocations: () => hostKrl.rebuild(),
  });
  const hostKrl: KrlService = new KrlService({
    content: () => krlContent(hostCa.set, hostCerts.revokedEntries(now())),
    paths: [],
    now,
    log,
    version: () => BigInt(storage.head.seq),
  });
  const rebuild = () => {
    hostKrl.rebuild().catch((err) => log.error({ err: safeErr(err) }, "host KRL rebuild failed"));
  };
  hostCa.onChange(rebuild);
  storage.onExternalChange((changed) => {
    if (changed.some((c) => c.collection === "hostCerts")) rebuild();
  });
  return { hostCerts, hostKrl };
}
