import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { Config } from "../../config/schema.js";
import { type ErrorCode, fail, SshcaError } from "../../errors.js";
import { put, retryStale, StaleState, type Storage } from "../../store/port.js";
import { HandshakeTable } from "../handshake-table.js";
import { userStatus } from "../credentials.js";
import { mintToken, randomBase32 } from "../tokens.js";
import { mapClaims, type MappedIdentity, sessionEnd } from "./claims.js";
import { type OidcProvider, ProviderError, type VerifiedTokens } from "./provider.js";

export interface OidcSignInDeps {
  config: () => Config;
  storage: Storage;
  now: () => Date;
  random: (n: number) => Buffer;
  provider: OidcProvider;
  log: Logger;
}

/** A session minted after a sign-in at the identity provider. The token is shown once. */
export interface OidcSession {
  user: string;
  groups: string[];
  token: string;
  expiresAt: string;
}

interface BrowserFlow {
  kind: "browser";
  ip: string;
  redirectUri: string;
  state: string;
  nonce: string;
  expiresAt: number;
}

/** A console sign-in: sshcad is the whole client, so it keeps the PKCE verifier too. */
interface ConsoleFlow {
  kind: "console";
  ip: string;
  redirectUri: string;
  state: string;
  nonce: string;
  codeVerifier: string;
  expiresAt: number;
}

interface DeviceFlow {
  kind: "device";
  ip: string;
  deviceCode: string;
  /** Seconds between polls (RFC 8628 section 3.5: slow_down adds 5). */
  interval: number;
  nextPollAt: number;
  expiresAt: number;
}

type Flow = BrowserFlow | DeviceFlow | ConsoleFlow;

/** How long a browser sign-in may take before its flow is forgotten. */
const BROWSER_FLOW_SECONDS = 600;
/** Open flows per client address, and in all: enough for people, never a way to fill memory. */
const PER_ADDRESS = 20;
const TOTAL = 10_000;
/** A confirmed device flow's take, tried this often, waiting 0.25 s, 0.5 s, ... in between (about 5 s in all). */
const TAKE_ATTEMPTS = 6;
const TAKE_RETRY_MS = 250;

/** RFC 8252 section 7.3: a native app's redirect is the loopback IP literal on any port. */
const LOOPBACK_REDIRECT = /^http:\/\/(127\.0\.0\.1|\[::1\]):\d{1,5}\/[A-Za-z0-9/_-]{0,64}$/;

/**
 * Single sign-on through the organisation's OpenID Connect provider, with sshcad as the
 * (confidential) client: the CLI never sees the client secret or the provider's tokens, only the
 * sshca session minted at the end.
 *
 * Browser (authorization code + PKCE, RFC 7636; loopback redirect, RFC 8252): the CLI keeps the
 * PKCE verifier and sends only its challenge; sshcad chooses state and nonce and keeps them with
 * the flow, which is single-use, so a replayed code or a forged callback has nothing to finish.
 * Device (RFC 8628): sshcad holds the device code; the CLI polls sshcad, which asks the provider
 * once per poll and passes back what RFC 8628 says to do.
 */
export class OidcSignIn {
  /**
   * Sign-ins in progress, bounded like sign-in challenges (challenge-table.ts): a client address
   * over its cap is refused, and past the total the oldest is dropped, so a flood from many
   * addresses cannot lock everyone out of single sign-on.
   */
  private readonly flows: HandshakeTable<Flow>;

  constructor(private readonly deps: OidcSignInDeps) {
    this.flows = new HandshakeTable(deps.storage.handshakes, "oidc-flow");
  }

  /** Starts a browser sign-in; answers the URL to open. */
  async startBrowser(
    ip: string,
    redirectUri: string,
    codeChallenge: string,
  ): Promise<{ flow: string; authorizationUrl: string; expiresAt: string }> {
    if (!LOOPBACK_REDIRECT.test(redirectUri))
      throw fail.badRequest("redirectUri must be http://127.0.0.1:PORT/... or http://[::1]:PORT/... (RFC 8252)");
    const now = this.deps.now().getTime();
    const state = this.deps.random(24).toString("base64url");
    const nonce = this.deps.random(24).toString("base64url");
    const url = await this.deps.provider.authorizationUrl({ redirectUri, state, nonce, codeChallenge });
    const id = `of_${randomBase32(this.deps.random, 20)}`;
    const expiresAt = now + BROWSER_FLOW_SECONDS * 1000;
    await this.keep(id, { kind: "browser", ip, redirectUri, state, nonce, expiresAt }, now);
    return { flow: id, authorizationUrl: url.toString(), expiresAt: new Date(expiresAt).toISOString() };
  }

  /** Finishes a browser sign-in with what reached the CLI's loopback callback. The flow is used up either way. */
  async finishBrowser(
    id: string,
    callback: { code: string; state: string; iss?: string | undefined },
    codeVerifier: string,
  ): Promise<OidcSession> {
    const flow = await this.take(id, "browser");
    if (callback.state !== flow.state)
      throw await this.refused("the state does not match this sign-in (a forged or mixed-up callback)");
    const params: Record<string, string> = { code: callback.code, state: callback.state };
    if (callback.iss !== undefined) params.iss = callback.iss;
    let tokens: VerifiedTokens;
    try {
      tokens = await this.deps.provider.exchangeCode({
        redirectUri: flow.redirectUri,
        callback: params,
        state: flow.state,
        nonce: flow.nonce,
        codeVerifier,
      });
    } catch (err) {
      throw await this.refused(providerReason(err));
    }
    return this.complete(tokens, "browser");
  }

  /**
   * Starts a web-console sign-in: the provider redirects back to the console's own origin
   * (`redirectUri`, https). The flow id goes into a pre-session cookie; state, nonce and the PKCE
   * verifier never leave sshcad.
   */
  async startConsole(ip: string, redirectUri: string): Promise<{ flow: string; authorizationUrl: string }> {
    const now = this.deps.now().getTime();
    const state = this.deps.random(24).toString("base64url");
    const nonce = this.deps.random(24).toString("base64url");
    const codeVerifier = this.deps.random(32).toString("base64url");
    const codeChallenge = createHash("sha256").update(codeVerifier).digest("base64url");
    const url = await this.deps.provider.authorizationUrl({ redirectUri, state, nonce, codeChallenge });
    const id = `of_${randomBase32(this.deps.random, 20)}`;
    await this.keep(
      id,
      { kind: "console", ip, redirectUri, state, nonce, codeVerifier, expiresAt: now + BROWSER_FLOW_SECONDS * 1000 },
      now,
    );
    return { flow: id, authorizationUrl: url.toString() };
  }

  /** Finishes a console sign-in (the flow from the pre-session cookie; used up either way): a console session. */
  async finishConsole(
    id: string,
    callback: { code: string; state: string; iss?: string | undefined },
  ): Promise<OidcSession & { maxAge: number }> {
    const flow = await this.take(id, "console");
    if (callback.state !== flow.state)
      throw await this.refused("the state does not match this sign-in (a forged or mixed-up callback)");
    const params: Record<string, string> = { code: callback.code, state: callback.state };
    if (callback.iss !== undefined) params.iss = callback.iss;
    let tokens: VerifiedTokens;
    try {
      tokens = await this.deps.provider.exchangeCode({
        redirectUri: flow.redirectUri,
        callback: params,
        state: flow.state,
        nonce: flow.nonce,
        codeVerifier: flow.codeVerifier,
      });
    } catch (err) {
      throw await this.refused(providerReason(err));
    }
    const session = await this.complete(tokens, "console");
    return { ...session, maxAge: (Date.parse(session.expiresAt) - this.deps.now().getTime()) / 1000 };
  }

  /** Starts a device sign-in (RFC 8628 section 3.1): the code to show and where to enter it. */
  async startDevice(ip: string): Promise<{
    flow: string;
    userCode: string;
    verificationUri: string;
    verificationUriComplete?: string;
    interval: number;
    expiresAt: string;
  }> {
    const now = this.deps.now().getTime();
    const d = await this.deps.provider.startDevice();
    const id = `of_${randomBase32(this.deps.random, 20)}`;
    const interval = Math.max(1, Math.min(60, d.interval ?? 5));
    const expiresAt = now + Math.max(30, Math.min(1800, d.expires_in)) * 1000;
    await this.keep(id, { kind: "device", ip, deviceCode: d.device_code, interval, nextPollAt: now, expiresAt }, now);
    return {
      flow: id,
      userCode: d.user_code,
      verificationUri: d.verification_uri,
      ...(typeof d.verification_uri_complete === "string"
        ? { verificationUriComplete: d.verification_uri_complete }
        : {}),
      interval,
      expiresAt: new Date(expiresAt).toISOString(),
    };
  }

  /**
   * One poll (RFC 8628 section 3.4/3.5): pending (poll again after `interval`), slow_down (the
   * interval grew by 5 s), done (with the session); access_denied and expired_token end the flow
   * with a 401. Polling sooner than the interval is answered slow_down without asking the provider.
   */
  async pollDevice(
    id: string,
  ): Promise<{ status: "pending" | "slow_down"; interval: number } | { status: "done"; session: OidcSession }> {
    const now = this.deps.now().getTime();
    const flow = await this.peek(id, "device");
    if (now >= flow.expiresAt) {
      await this.flows.take(id, this.deps.now().getTime());
      throw await this.refused("the device code expired before the sign-in was confirmed; start again");
    }
    // The flow is kept in the store that every replica reads, so the poll interval holds
    // whichever replica a poll reaches. Each poll claims its slot by replacing the flow it read:
    // of two polls at once one asks the provider, the other hears slow_down, and a flow taken
    // meanwhile (finished) is not brought back.
    if (now < flow.nextPollAt) {
      const slower = { ...flow, interval: flow.interval + 5, nextPollAt: now + (flow.interval + 5) * 1000 };
      await this.flows.replace(id, flow, slower, now);
      return { status: "slow_down", interval: slower.interval };
    }
    const polling = { ...flow, nextPollAt: now + flow.interval * 1000 };
    if (!(await this.flows.replace(id, flow, polling, now))) {
      if (!(await this.flows.get(id, now)))
        throw new SshcaError("unauthenticated", "unknown or expired sign-in; start again");
      return { status: "slow_down", interval: flow.interval + 5 };
    }
    let tokens: VerifiedTokens;
    try {
      tokens = await this.deps.provider.pollDevice(polling.deviceCode);
    } catch (err) {
      if (err instanceof ProviderError && err.error === "authorization_pending")
        return { status: "pending", interval: polling.interval };
      if (err instanceof ProviderError && err.error === "slow_down") {
        const slower = { ...polling, interval: polling.interval + 5, nextPollAt: now + (polling.interval + 5) * 1000 };
        await this.flows.replace(id, polling, slower, now);
        return { status: "slow_down", interval: slower.interval };
      }
      await this.flows.take(id, this.deps.now().getTime());
      if (err instanceof ProviderError && err.error === "access_denied")
        throw await this.refused("the sign-in was denied at the identity provider");
      if (err instanceof ProviderError && err.error === "expired_token")
        throw await this.refused("the device code expired before the sign-in was confirmed; start again");
      throw await this.refused(providerReason(err));
    }
    // Taken before the session is minted: of two polls that both got tokens, one finishes.
    if (!(await this.takeConfirmed(id)))
      throw new SshcaError("unauthenticated", "unknown or expired sign-in; start again");
    return { status: "done", session: await this.complete(tokens, "device") };
  }

  /**
   * Takes a device flow the provider has just confirmed. The provider has spent its device code,
   * so a 503 here (the handshake store busy, see in-flight.ts) would waste a sign-in the user
   * already approved: it is tried again for a few seconds first.
   */
  private async takeConfirmed(id: string): Promise<Flow | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.flows.take(id, this.deps.now().getTime());
      } catch (err) {
        if (!(err instanceof SshcaError && err.code === "unavailable") || attempt >= TAKE_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, TAKE_RETRY_MS * attempt));
      }
    }
  }

  /**
   * The verified ID token becomes a user and a session: the user name is bound to the provider's
   * issuer and subject, their groups are what the provider's groups map to now (replacing those
   * of the last sign-in), and the session is short. Audited with method, issuer, subject and groups.
   */
  private async complete(tokens: VerifiedTokens, flow: "browser" | "device" | "console"): Promise<OidcSession> {
    const config = this.deps.config();
    const oidc = config.auth.oidc!;
    const now = this.deps.now();
    const mapped = mapClaims(oidc, tokens.claims, now);
    if (!mapped.ok) throw await this.refused(mapped.reason, mapped.code);
    const who = mapped.value;
    // Decided on the user record as it is now; stored only if it is still that record (an admin
    // disabling or removing the user meanwhile wins, and the sign-in is decided again).
    let session: { token: string; expiresAt: string };
    try {
      session = await retryStale(() => this.store(who, tokens, flow, now));
    } catch (err) {
      if (err instanceof StaleState)
        throw await this.refused(`user ${who.user} changed during the sign-in; sign in again`, "forbidden", who);
      throw err;
    }
    return { user: who.user, groups: who.groups, ...session };
  }

  /** Binds the provider identity to the user (groups as mapped now) and mints the session, audited. */
  private async store(
    who: MappedIdentity,
    tokens: VerifiedTokens,
    flow: "browser" | "device" | "console",
    now: Date,
  ): Promise<{ token: string; expiresAt: string }> {
    const config = this.deps.config();
    const oidc = config.auth.oidc!;
    const problem = this.bindingProblem(config, who);
    if (problem) throw await this.refused(problem, "forbidden", who);
    const state = this.deps.storage.state;
    const existing = Object.hasOwn(state.users, who.user) ? state.users[who.user] : undefined;
    const minted = mintToken(this.deps.random);
    // A console session is short (console.sessionMax), and never outlives the provider's session.
    const ttl = flow === "console" ? Math.min(oidc.sessionTtl, config.console.sessionMax) : oidc.sessionTtl;
    const expiresAt = sessionEnd(now, ttl, tokens).toISOString();
    // When the person last proved themselves at the provider (auth_time), not only when this
    // session was made: a silently reused provider session is not a fresh sign-in.
    const authTime = typeof tokens.claims.auth_time === "number" ? new Date(tokens.claims.auth_time * 1000) : now;
    await this.deps.storage.commit(
      [
        {
          type: "auth.signed_in",
          actor: who.user,
          fields: {
            user: who.user,
            method: flow === "console" ? "console" : "oidc",
            ...(flow === "console" ? { through: "oidc" } : {}),
            flow,
            issuer: who.issuer,
            subject: who.subject,
            groups: who.groups,
            providerGroups: who.providerGroups,
            tokenId: minted.id,
            expiresAt,
            ...(existing ? {} : { firstSignIn: true }),
          },
        },
      ],
      [
        // Everything else the record holds stays (never drops `disabled`).
        put(
          "users",
          who.user,
          {
            ...existing,
            groups: who.groups,
            createdAt: existing?.createdAt ?? now.toISOString(),
            oidc: { issuer: who.issuer, subject: who.subject, signedInAt: now.toISOString() },
          },
          { entry: existing },
        ),
        put("tokens", minted.id, {
          user: who.user,
          hash: minted.hash,
          createdAt: now.toISOString(),
          expiresAt,
          kind: "session",
          authenticatedAt: authTime.toISOString(),
          ...(flow === "console" ? { method: "console", signedInThrough: "oidc" } : { method: "oidc" }),
        }),
      ],
    );
    return { token: minted.token, expiresAt };
  }

  /** Why this provider identity may not become this user, or undefined. */
  private bindingProblem(config: Config, who: MappedIdentity): string | undefined {
    const state = this.deps.storage.state;
    if (userStatus(config, state, who.user) === "disabled") return `user ${who.user} is disabled`;
    if (Object.hasOwn(config.users, who.user) || config.auth.localUsers.includes(who.user))
      return `${who.user} is a local user of this CA (users: or auth.localUsers in the config), not one from the identity provider`;
    const existing = Object.hasOwn(state.users, who.user) ? state.users[who.user] : undefined;
    if (existing && !existing.oidc)
      return `user ${who.user} exists as a local user (sshcad user add); an admin removes it (sshcad user remove ${who.user}) before ${who.user} signs in through the identity provider`;
    if (existing?.oidc && (existing.oidc.issuer !== who.issuer || existing.oidc.subject !== who.subject))
      return `the user name ${who.user} belongs to another identity at the provider; an admin resolves it (sshcad user remove ${who.user})`;
    return undefined;
  }

  /** A failed sign-in: audited with its reason (never a code or token), then the error to throw. */
  private async refused(
    reason: string,
    code: ErrorCode = "unauthenticated",
    who?: MappedIdentity,
  ): Promise<SshcaError> {
    const fields = {
      method: "oidc",
      reason,
      issuer: this.deps.config().auth.oidc?.issuer,
      ...(who ? { user: who.user, subject: who.subject } : {}),
    };
    await this.deps.storage.append("auth.failed", "anonymous", fields).catch(() => undefined);
    this.deps.log.warn({ reason }, "single sign-on refused");
    return new SshcaError(code, `sign-in refused: ${reason}`);
  }

  /** Keeps a new flow, or refuses (429) a client address that has too many open. */
  private async keep(id: string, flow: Flow, now: number): Promise<void> {
    await this.flows.open(
      id,
      { user: id, address: flow.ip, expiresAt: flow.expiresAt, value: flow },
      now,
      { perAddress: PER_ADDRESS, perUser: 1, total: TOTAL },
      "too many sign-ins in progress from this address; finish or let them expire first",
    );
  }

  private async peek<K extends Flow["kind"]>(id: string, kind: K): Promise<Extract<Flow, { kind: K }>> {
    const flow = await this.flows.get(id, this.deps.now().getTime());
    if (!flow || flow.kind !== kind) throw new SshcaError("unauthenticated", "unknown or expired sign-in; start again");
    return flow as Extract<Flow, { kind: K }>;
  }

  /** Takes the flow (single-use on every replica); a flow of another kind is used up too. */
  private async take<K extends Flow["kind"]>(id: string, kind: K): Promise<Extract<Flow, { kind: K }>> {
    const flow = await this.flows.take(id, this.deps.now().getTime());
    if (!flow || flow.kind !== kind) throw new SshcaError("unauthenticated", "unknown or expired sign-in; start again");
    return flow as Extract<Flow, { kind: K }>;
  }
}

/** The provider's refusal in words, naming the check that failed; never a code or token. */
function providerReason(err: unknown): string {
  if (err instanceof ProviderError) {
    if (err.error === "invalid_grant")
      return `the identity provider refused the code (used already, expired, or not for this sign-in): ${err.message}`;
    return `${err.error === "invalid_token" ? "" : `${err.error}: `}${err.message}`;
  }
  if (err instanceof SshcaError) return err.message;
  return (err as Error)?.message ?? String(err);
}
