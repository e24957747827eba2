/**
 * The test OpenID provider's configuration file (JSON). The provider reads `clients` once at
 * start; `users` and the lifetimes are read again on every lookup, so a test can change them
 * while the provider runs (write the file atomically: temp file, then rename).
 */
import { readFileSync } from "node:fs";
import type { ClientMetadata } from "oidc-provider";

/** One person at the provider. `sub` is the stable subject; `claims` are released by scope. */
export interface IdpUser {
  password: string;
  sub: string;
  claims: {
    /** scope `profile` */
    preferred_username?: string;
    name?: string;
    /** scope `email` */
    email?: string;
    email_verified?: boolean;
    /** scope `groups` */
    groups?: string[];
  };
}

/** OpenID Connect Dynamic Client Registration 1.0 section 2 client metadata, as oidc-provider takes it. */
export type IdpClient = ClientMetadata & { client_id: string; client_secret: string; redirect_uris: string[] };

export interface IdpConfig {
  clients: IdpClient[];
  /** Keyed by the login name typed into the sign-in form. */
  users: Record<string, IdpUser>;
  /** Seconds. Defaults: ID token 600, access token 600, session 3600, device code 600, refresh 86400. */
  idTokenTtl?: number;
  accessTokenTtl?: number;
  sessionTtl?: number;
  deviceCodeTtl?: number;
  refreshTokenTtl?: number;
  /** Seconds between device-code polls, sent as `interval` (RFC 8628 section 3.2); unset: 5. */
  deviceInterval?: number;
}

/** The client the CLI registers as: confidential, native (RFC 8252 loopback redirects), all three grants. */
export function nativeClient(clientId: string, clientSecret: string): IdpClient {
  return {
    client_id: clientId,
    client_secret: clientSecret,
    // RFC 8252 section 7.3: the port is left out; any port on 127.0.0.1 matches (native clients only).
    redirect_uris: ["http://127.0.0.1/callback"],
    application_type: "native",
    grant_types: ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  };
}

export function readIdpConfig(path: string): IdpConfig {
  return JSON.parse(readFileSync(path, "utf8")) as IdpConfig;
}
