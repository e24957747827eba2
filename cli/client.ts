import type {
  ApproveBody,
  AuditPageView,
  AuthMethodsView,
  DevicePollView,
  FactorView,
  DeviceStartView,
  OidcSessionView,
  AuditVerifyView,
  CaView,
  HostCertView,
  KnownHostsView,
  CreateRequestBody,
  DenyBody,
  HostReportBody,
  HostReportView,
  HostWhoamiView,
  ReportSummaryView,
  ReportView,
  OverrideBody,
  ScanView,
  PrincipalsView,
  RequestView,
  WhoamiView,
} from "../src/http/contract.js";
import { CliError } from "./errors.js";
import { callApi, callRaw, decodeAnswer } from "./http.js";
import type { Settings } from "./settings.js";

const TIMEOUT_MS = 30_000;

/** POST /v1/auth/challenge: what to sign with `ssh-keygen -Y sign`. */
export interface SignInChallenge {
  challenge: string;
  message: string;
  namespace: string;
  expiresAt: string;
}

/** The typed sshcad API, one method per endpoint. */
export class ApiClient {
  constructor(private readonly settings: Settings) {}

  private call<T>(method: "GET" | "POST", path: string, body?: unknown, timeoutMs = TIMEOUT_MS): Promise<T> {
    return callApi<T>(this.settings, { method, path, body, timeoutMs });
  }

  /**
   * A sign-in challenge, with the server identity this CLI verified on the connection that
   * brought it ("none" for plain HTTP to loopback or a unix socket, else a TLS CA fingerprint).
   */
  async signInChallenge(user: string): Promise<{ challenge: SignInChallenge; server: string | undefined }> {
    const answer = await callRaw(this.settings, {
      method: "POST",
      path: "/v1/auth/challenge",
      body: { user },
      timeoutMs: TIMEOUT_MS,
    });
    return { challenge: decodeAnswer<SignInChallenge>(this.settings, answer), server: answer.server };
  }

  authMethods(): Promise<AuthMethodsView> {
    return this.call("GET", "/v1/auth/methods");
  }

  oidcStart(body: { redirectUri: string; codeChallenge: string }): Promise<{
    flow: string;
    authorizationUrl: string;
    expiresAt: string;
  }> {
    return this.call("POST", "/v1/auth/oidc/start", body);
  }

  oidcFinish(body: {
    flow: string;
    code: string;
    state: string;
    iss?: string;
    codeVerifier: string;
  }): Promise<OidcSessionView> {
    return this.call("POST", "/v1/auth/oidc/finish", body);
  }

  oidcDevice(): Promise<DeviceStartView> {
    return this.call("POST", "/v1/auth/oidc/device", {});
  }

  oidcPoll(flow: string): Promise<DevicePollView> {
    return this.call("POST", "/v1/auth/oidc/device/poll", { flow });
  }

  factors(): Promise<{ factors: FactorView[] }> {
    this.authed();
    return this.call("GET", "/v1/factors");
  }

  addTotpFactor(): Promise<{ id: string; uri: string; secret: string }> {
    this.authed();
    return this.call("POST", "/v1/factors/totp", {});
  }

  confirmTotpFactor(id: string, code: string): Promise<FactorView> {
    this.authed();
    return this.call("POST", `/v1/factors/${encodeURIComponent(id)}/confirm`, { code });
  }

  async skFactorChallenge(publicKey: string): Promise<{ challenge: SignInChallenge; server: string | undefined }> {
    this.authed();
    const answer = await callRaw(this.settings, {
      method: "POST",
      path: "/v1/factors/sk/challenge",
      body: { publicKey },
      timeoutMs: TIMEOUT_MS,
    });
    return { challenge: decodeAnswer<SignInChallenge>(this.settings, answer), server: answer.server };
  }

  addSkFactor(challenge: string, signature: string): Promise<FactorView> {
    this.authed();
    return this.call("POST", "/v1/factors/sk", { challenge, signature });
  }

  removeFactor(id: string): Promise<{ id: string }> {
    this.authed();
    return this.call("POST", `/v1/factors/${encodeURIComponent(id)}/remove`, {});
  }

  /** Ends the caller's session (or token) on the daemon. */
  logout(): Promise<{ user: string; tokenId: string }> {
    this.authed();
    return this.call("POST", "/v1/auth/logout", {});
  }

  signIn(
    challenge: string,
    signature: string,
  ): Promise<{ user: string; token: string; expiresAt: string; keyFingerprint: string }> {
    return this.call("POST", "/v1/auth/ssh", { challenge, signature });
  }

  /** A key-registration challenge, and the TLS CA the connection was verified with (bound into it). */
  async keyChallenge(publicKey: string): Promise<{ challenge: SignInChallenge; server: string | undefined }> {
    this.authed();
    const answer = await callRaw(this.settings, {
      method: "POST",
      path: "/v1/keys/challenge",
      body: { publicKey },
      timeoutMs: TIMEOUT_MS,
    });
    return { challenge: decodeAnswer<SignInChallenge>(this.settings, answer), server: answer.server };
  }

  /** Registers the challenged key, proven by its signature of the challenge. */
  addKey(challenge: string, signature: string): Promise<{ user: string; fingerprint: string }> {
    this.authed();
    return this.call("POST", "/v1/keys", { challenge, signature });
  }

  removeKey(fingerprint: string): Promise<{ user: string; fingerprint: string }> {
    this.authed();
    return this.call("POST", "/v1/keys/remove", { fingerprint });
  }

  keys(): Promise<{ keys: { fingerprint: string; publicKey: string; addedAt: string; addedBy: string }[] }> {
    this.authed();
    return this.call("GET", "/v1/keys");
  }

  /** The current KRL (public; binary). */
  /** GET /v1/krl (the user CA's, for sshd's RevokedKeys) or /v1/krl/host (host certificates, for ssh's RevokedHostKeys). */
  async krl(which: "user" | "host" = "user"): Promise<Buffer> {
    const { status, body } = await callRaw(this.settings, {
      method: "GET",
      path: which === "host" ? "/v1/krl/host" : "/v1/krl",
      timeoutMs: TIMEOUT_MS,
    });
    if (status !== 200)
      throw new CliError(`the server answered ${status} for the ${which === "host" ? "host " : ""}KRL`);
    return body;
  }

  /** GET /v1/host/whoami: the host a host credential speaks for. */
  hostWhoami(): Promise<HostWhoamiView> {
    this.authed();
    return this.call("GET", "/v1/host/whoami");
  }

  /** GET /v1/host/principals: the caller's own host's principals files. */
  hostPrincipals(): Promise<PrincipalsView> {
    this.authed();
    return this.call("GET", "/v1/host/principals");
  }

  /** GET /v1/host/krl: the KRL, fetched with the host credential. */
  async hostKrl(): Promise<Buffer> {
    this.authed();
    const answer = await callRaw(this.settings, { method: "GET", path: "/v1/host/krl", timeoutMs: TIMEOUT_MS });
    if (answer.status !== 200) decodeAnswer(this.settings, answer);
    return answer.body;
  }

  /** POST /v1/host/report: logins and logouts seen in sshd's log, or a heartbeat. */
  hostReport(body: HostReportBody): Promise<HostReportView> {
    this.authed();
    return this.call("POST", "/v1/host/report", body);
  }

  revoke(body: { serial?: string; request?: string; reason: string }): Promise<RequestView> {
    this.authed();
    return this.call("POST", "/v1/revocations", body);
  }

  relinquish(id: string): Promise<RequestView> {
    this.authed();
    return this.call("POST", `/v1/requests/${encodeURIComponent(id)}/relinquish`, {});
  }

  private authed(): void {
    if (!this.settings.token) {
      throw new CliError("no API token: set SSHCA_TOKEN, pass --token-file, or run: sshca token set < token.txt");
    }
  }

  ca(): Promise<CaView> {
    return this.call("GET", "/v1/ca");
  }

  /** GET /v1/ca/host: the host CA's keys (public). */
  hostCa(): Promise<CaView> {
    return this.call("GET", "/v1/ca/host");
  }

  /** GET /v1/known-hosts: host CA keys and the inventory names they vouch for. */
  knownHosts(): Promise<KnownHostsView> {
    this.authed();
    return this.call("GET", "/v1/known-hosts");
  }

  /** POST /v1/host/certificate with the host credential: a certificate for one of this host's keys. */
  hostCertificate(publicKey: string): Promise<HostCertView> {
    this.authed();
    return this.call("POST", "/v1/host/certificate", { publicKey });
  }

  /** POST /v1/console/links: a one-time link that signs this user in to the web console. */
  consoleLink(): Promise<{ url: string; expiresAt: string }> {
    this.authed();
    return this.call("POST", "/v1/console/links", {});
  }

  whoami(): Promise<WhoamiView> {
    this.authed();
    return this.call("GET", "/v1/whoami");
  }

  principals(host: string): Promise<PrincipalsView> {
    this.authed();
    return this.call("GET", `/v1/principals?host=${encodeURIComponent(host)}`);
  }

  createRequest(body: CreateRequestBody): Promise<RequestView> {
    this.authed();
    return this.call("POST", "/v1/requests", body);
  }

  listRequests(query: {
    state?: string | undefined;
    mine?: boolean | undefined;
  }): Promise<{ requests: RequestView[] }> {
    this.authed();
    const q = new URLSearchParams();
    if (query.state) q.set("state", query.state);
    if (query.mine) q.set("mine", "true");
    const qs = q.toString();
    return this.call("GET", `/v1/requests${qs ? `?${qs}` : ""}`);
  }

  /** With `after`, a long-poll: answers when the version moves past `after.version` or after `after.seconds`. */
  getRequest(id: string, after?: { version: number; seconds: number }): Promise<RequestView> {
    this.authed();
    const path = `/v1/requests/${encodeURIComponent(id)}`;
    if (!after) return this.call("GET", path);
    return this.call(
      "GET",
      `${path}?version=${after.version}&wait=${after.seconds}`,
      undefined,
      (after.seconds + 15) * 1000,
    );
  }

  approve(id: string, body: ApproveBody): Promise<RequestView> {
    this.authed();
    return this.call("POST", `/v1/requests/${encodeURIComponent(id)}/approve`, body);
  }

  deny(id: string, body: DenyBody): Promise<RequestView> {
    this.authed();
    return this.call("POST", `/v1/requests/${encodeURIComponent(id)}/deny`, body);
  }

  /** One page of audit records (oldest first); `cursor` fetches the page before it. */
  auditList(query: Record<string, string | undefined>): Promise<AuditPageView> {
    this.authed();
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, v);
    const qs = q.toString();
    return this.call("GET", `/v1/audit${qs ? `?${qs}` : ""}`, undefined, 120_000);
  }

  /** One request's access report (its requester, the role's approvers, auditors, admins). */
  report(id: string): Promise<ReportView> {
    this.authed();
    return this.call("GET", `/v1/reports/requests/${encodeURIComponent(id)}`, undefined, 120_000);
  }

  /** Per user and host over a period (auditors, admins). */
  reportSummary(query: { since: string; until?: string | undefined }): Promise<ReportSummaryView> {
    this.authed();
    const q = new URLSearchParams({ since: query.since });
    if (query.until) q.set("until", query.until);
    return this.call("GET", `/v1/reports?${q.toString()}`, undefined, 300_000);
  }

  auditVerify(): Promise<AuditVerifyView> {
    this.authed();
    return this.call("GET", "/v1/audit/verify", undefined, 600_000);
  }

  override(id: string, body: OverrideBody): Promise<RequestView> {
    this.authed();
    return this.call("POST", `/v1/requests/${encodeURIComponent(id)}/override`, body);
  }

  scans(query: { request?: string | undefined; host?: string | undefined }): Promise<{ scans: ScanView[] }> {
    this.authed();
    const q = new URLSearchParams();
    if (query.request) q.set("request", query.request);
    if (query.host) q.set("host", query.host);
    const qs = q.toString();
    return this.call("GET", `/v1/scans${qs ? `?${qs}` : ""}`, undefined, 120_000);
  }

  scan(id: string): Promise<ScanView> {
    this.authed();
    return this.call("GET", `/v1/scans/${encodeURIComponent(id)}`, undefined, 120_000);
  }

  /** A manual scan; answers when nmap is done (bounded by the host's scan timeout). */
  scanHost(host: string): Promise<ScanView> {
    this.authed();
    return this.call("POST", "/v1/scans", { host }, 3_700_000);
  }

  cancel(id: string): Promise<RequestView> {
    this.authed();
    return this.call("POST", `/v1/requests/${encodeURIComponent(id)}/cancel`, {});
  }
}
