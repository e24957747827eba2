import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as client from "openid-client";
import type { OidcConfig } from "../../config/auth-schema.js";
import { SshcaError } from "../../errors.js";
import { httpsFetch } from "./https-fetch.js";

/** RFC 8628 section 3.4: the device-code grant type. */
export const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

/** What the token endpoint answered, verified: the ID token's claims and what bounds the session. */
export interface VerifiedTokens {
  claims: Record<string, unknown>;
  refresh_expires_in?: unknown;
  refresh_token?: unknown;
}

/** A refusal by the provider's token endpoint, with its OAuth error code (RFC 6749 section 5.2, RFC 8628 3.5). */
export class ProviderError extends Error {
  constructor(
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * sshcad's side of the identity provider, through openid-client: discovery (kept, and fetched
 * again after a failure), the authorization URL, the code and device-code grants. Every ID token
 * is checked for issuer, audience, expiry, nonce (when one was sent) and its signature against
 * the provider's JWKS — openid-client skips the signature of a token-endpoint ID token unless
 * asked (enableNonRepudiationChecks), and a CA should check it anyway.
 */
export class OidcProvider {
  private configuration: client.Configuration | undefined;
  private pending: Promise<client.Configuration> | undefined;
  private lastFailure = 0;

  private constructor(
    readonly settings: OidcConfig,
    private readonly secret: string | undefined,
    private readonly fetcher: typeof fetch | undefined,
  ) {}

  /** Reads the client secret (file, then systemd credential) and the CA file; contacts nobody yet. */
  static async create(settings: OidcConfig, env: NodeJS.ProcessEnv): Promise<OidcProvider> {
    const secret = await clientSecret(settings, env);
    const ca = settings.caFile ? await readSetting(settings.caFile, "auth.oidc.caFile") : undefined;
    return new OidcProvider(settings, secret, ca ? httpsFetch(ca) : undefined);
  }

  /** The discovered configuration; discovery is retried at most every 5 s after a failure. */
  async config(): Promise<client.Configuration> {
    if (this.configuration) return this.configuration;
    if (!this.pending) {
      if (Date.now() - this.lastFailure < 5000)
        throw new SshcaError(
          "unavailable",
          "the identity provider could not be reached a moment ago; try again shortly",
        );
      this.pending = this.discover().then(
        (c) => {
          this.configuration = c;
          this.pending = undefined;
          return c;
        },
        (err: unknown) => {
          this.lastFailure = Date.now();
          this.pending = undefined;
          throw new SshcaError("unavailable", `identity provider discovery failed: ${describe(err)}`);
        },
      );
    }
    return this.pending;
  }

  private async discover(): Promise<client.Configuration> {
    const auth = this.secret === undefined ? client.None() : client.ClientSecretBasic(this.secret);
    const options: client.DiscoveryRequestOptions = { execute: [client.enableNonRepudiationChecks] };
    if (this.fetcher) options[client.customFetch] = this.fetcher;
    return client.discovery(new URL(this.settings.issuer), this.settings.clientId, undefined, auth, options);
  }

  private lastCheck: { at: number; result: Promise<{ ok: boolean; message: string }> } | undefined;

  /**
   * For /readyz: discovery works and the signing keys (JWKS) can be fetched. Answered from the
   * last check for 15 s, so probes do not turn into a stream of requests to the provider.
   */
  check(): Promise<{ ok: boolean; message: string }> {
    if (this.lastCheck && Date.now() - this.lastCheck.at < 15_000) return this.lastCheck.result;
    this.lastCheck = { at: Date.now(), result: this.checkNow() };
    return this.lastCheck.result;
  }

  private async checkNow(): Promise<{ ok: boolean; message: string }> {
    try {
      const cfg = await this.config();
      const jwksUri = cfg.serverMetadata().jwks_uri;
      if (!jwksUri) return { ok: false, message: "the provider publishes no jwks_uri" };
      const res = await (this.fetcher ?? fetch)(jwksUri, { headers: { accept: "application/json" } });
      if (res.status !== 200) return { ok: false, message: `the provider's JWKS answered ${res.status}` };
      const keys = ((await res.json()) as { keys?: unknown }).keys;
      if (!Array.isArray(keys) || keys.length === 0) return { ok: false, message: "the provider's JWKS holds no keys" };
      return { ok: true, message: `${this.settings.issuer}: discovery and ${keys.length} signing key(s)` };
    } catch (err) {
      return { ok: false, message: describe(err) };
    }
  }

  async authorizationUrl(p: {
    redirectUri: string;
    state: string;
    nonce: string;
    codeChallenge: string;
  }): Promise<URL> {
    const cfg = await this.config();
    return client.buildAuthorizationUrl(cfg, {
      redirect_uri: p.redirectUri,
      scope: this.scope(),
      state: p.state,
      nonce: p.nonce,
      code_challenge: p.codeChallenge,
      code_challenge_method: "S256",
    });
  }

  /** The authorization-code grant (with the client's PKCE verifier), the state and nonce checked. */
  async exchangeCode(p: {
    redirectUri: string;
    callback: Record<string, string>;
    state: string;
    nonce: string;
    codeVerifier: string;
  }): Promise<VerifiedTokens> {
    const cfg = await this.config();
    const url = new URL(p.redirectUri);
    for (const [k, v] of Object.entries(p.callback)) url.searchParams.set(k, v);
    return this.verified(() =>
      client.authorizationCodeGrant(cfg, url, {
        pkceCodeVerifier: p.codeVerifier,
        expectedState: p.state,
        expectedNonce: p.nonce,
        idTokenExpected: true,
      }),
    );
  }

  /** RFC 8628 section 3.1: a device code and the user code to show. */
  async startDevice(): Promise<client.DeviceAuthorizationResponse> {
    const cfg = await this.config();
    try {
      return await client.initiateDeviceAuthorization(cfg, { scope: this.scope() });
    } catch (err) {
      throw new SshcaError("unavailable", `the identity provider refused the device authorization: ${describe(err)}`);
    }
  }

  /** One poll of the token endpoint for a device code (RFC 8628 section 3.4); the caller paces them. */
  async pollDevice(deviceCode: string): Promise<VerifiedTokens> {
    const cfg = await this.config();
    return this.verified(() => client.genericGrantRequest(cfg, DEVICE_GRANT, { device_code: deviceCode }));
  }

  private async verified(
    grant: () => Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers>,
  ): Promise<VerifiedTokens> {
    let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
    try {
      tokens = await grant();
    } catch (err) {
      if (err instanceof client.ResponseBodyError)
        throw new ProviderError(err.error, err.error_description ?? err.error);
      throw new ProviderError("invalid_token", describe(err));
    }
    const claims = tokens.claims();
    if (!claims) throw new ProviderError("invalid_token", "the provider sent no ID token");
    return {
      claims: claims as Record<string, unknown>,
      refresh_expires_in: tokens.refresh_expires_in,
      refresh_token: tokens.refresh_token,
    };
  }

  private scope(): string {
    return [...new Set(["openid", ...this.settings.scopes])].join(" ");
  }
}

/**
 * A short reason, never a token or code. openid-client wraps the specific check (which claim,
 * which header) in `cause`; that is the part a person can act on.
 */
export function describe(err: unknown): string {
  const e = err as { message?: unknown; cause?: unknown; code?: unknown };
  const cause = e?.cause as { code?: unknown; message?: unknown } | undefined;
  const inner = typeof cause?.message === "string" ? cause.message : undefined;
  const outer = typeof e?.message === "string" ? e.message.split("\n")[0]! : String(err);
  if (e?.code === "OAUTH_KEY_SELECTION_FAILED")
    return "the ID token is signed with an unknown key (no key in the provider's JWKS matches its kid)";
  if (inner && /signature verification failed/.test(inner)) return "the ID token's signature does not verify";
  const text = inner ?? outer;
  const why = typeof cause?.code === "string" && !inner ? ` (${cause.code})` : "";
  return `${text.replace(/^unexpected /, "the ID token has an unexpected ")}${why}`;
}

async function clientSecret(settings: OidcConfig, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (settings.clientSecretFile) return readSetting(settings.clientSecretFile, "auth.oidc.clientSecretFile");
  if (!env.CREDENTIALS_DIRECTORY) return undefined;
  const file = join(env.CREDENTIALS_DIRECTORY, "oidc-client-secret");
  try {
    return (await readFile(file, "utf8")).trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new SshcaError("config_invalid", `cannot read the systemd credential ${file}: ${(err as Error).message}`);
  }
}

async function readSetting(path: string, what: string): Promise<string> {
  let text: string;
  try {
    text = (await readFile(path, "utf8")).trim();
  } catch (err) {
    throw new SshcaError(
      "config_invalid",
      `${what}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (!text) throw new SshcaError("config_invalid", `${what}: ${path} is empty`);
  return text;
}
