import { allow, type Decision, refuse } from "../../domain/decision.js";
import type { OidcConfig } from "../../config/auth-schema.js";
import { IDENT, isReservedName } from "../../config/names.js";

/** Who a verified ID token says the person is, in sshca's terms. */
export interface MappedIdentity {
  user: string;
  /** sshca groups, from the provider's groups through auth.oidc.groupMap. */
  groups: string[];
  /** The provider groups that mapped to something (the others are not recorded). */
  providerGroups: string[];
  issuer: string;
  subject: string;
}

/** Clock skew tolerated between the provider and sshcad, for iat (exp and nbf are checked by openid-client). */
export const CLOCK_SKEW_SECONDS = 60;

/**
 * Turns the claims of an ID token whose signature, issuer, audience, expiry and nonce were
 * already verified into an sshca user and groups, or a refusal that says what is wrong. Groups
 * come only from the provider, through the configured map; nothing the client sends counts. Pure.
 */
export function mapClaims(oidc: OidcConfig, claims: Record<string, unknown>, now: Date): Decision<MappedIdentity> {
  const iat = claims.iat;
  if (typeof iat === "number" && iat > now.getTime() / 1000 + CLOCK_SKEW_SECONDS)
    return refuse(
      "unauthenticated",
      "the ID token is not valid yet (issued in the future): check the clocks of sshcad and the provider",
    );
  const issuer = claims.iss;
  const subject = claims.sub;
  if (typeof issuer !== "string" || typeof subject !== "string" || subject === "")
    return refuse("unauthenticated", "the ID token has no issuer or subject");

  const raw = claims[oidc.userClaim];
  if (typeof raw !== "string" || raw === "")
    return refuse(
      "unauthenticated",
      `the ID token has no "${oidc.userClaim}" claim (configure the provider to send it, or choose another auth.oidc.userClaim)`,
    );
  const named = userName(oidc, raw, claims);
  if (!named.ok) return named;
  const user = named.value;

  if (claims._claim_names && typeof claims._claim_names === "object" && oidc.groupsClaim in claims._claim_names)
    return refuse(
      "unauthenticated",
      `the provider left the "${oidc.groupsClaim}" claim out (Entra ID sends a group overage claim past 200 groups); have the app registration emit only the groups sshca maps`,
    );
  const given = claims[oidc.groupsClaim];
  const providerGroups =
    given === undefined ? [] : Array.isArray(given) ? given.filter((g): g is string => typeof g === "string") : [];
  const mapped = new Set<string>();
  const used: string[] = [];
  for (const g of providerGroups) {
    if (!Object.hasOwn(oidc.groupMap, g)) continue;
    const to = oidc.groupMap[g]!;
    for (const x of Array.isArray(to) ? to : [to]) mapped.add(x);
    used.push(g);
  }
  if (mapped.size === 0)
    return refuse(
      "forbidden",
      `none of ${user}'s groups at the identity provider maps to an sshca group (auth.oidc.groupMap); ask an admin to map one`,
    );
  return allow({ user, groups: [...mapped].sort(), providerGroups: [...new Set(used)].sort(), issuer, subject });
}

function userName(oidc: OidcConfig, raw: string, claims: Record<string, unknown>): Decision<string> {
  let name = raw;
  if (oidc.userFormat === "email-local-part") {
    // An address the provider did not verify names nobody in particular (OIDC Core 5.1).
    if (oidc.userClaim === "email" && claims.email_verified !== true)
      return refuse("forbidden", "the provider does not say this e-mail address is verified (email_verified)");
    const at = raw.lastIndexOf("@");
    if (at <= 0) return refuse("unauthenticated", `"${oidc.userClaim}" is not an e-mail address`);
    const domain = raw.slice(at + 1).toLowerCase();
    if (oidc.emailDomains && !oidc.emailDomains.includes(domain))
      return refuse("forbidden", `e-mail domain ${domain} is not accepted here (auth.oidc.emailDomains)`);
    name = raw.slice(0, at).toLowerCase();
  }
  if (!IDENT.test(name))
    return refuse(
      "forbidden",
      `the provider names you "${printable(name)}", which is not a valid sshca user name (${IDENT.source}); ask an admin to map another claim (auth.oidc.userClaim)`,
    );
  if (isReservedName(name)) return refuse("forbidden", `"${name}" names the daemon itself and cannot sign in`);
  return allow(name);
}

/** A claim value safe to echo in a message: printable ASCII, bounded. */
const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, "?").slice(0, 64);

/**
 * When a session minted now ends: at most auth.oidc.sessionTtl, and never after the provider's
 * own session when its token response says how long that lasts (`refresh_expires_in`, as
 * Keycloak sends; the refresh token's own `exp` when it is a JWT). Pure.
 */
export function sessionEnd(
  now: Date,
  ttlSeconds: number,
  tokens: { refresh_expires_in?: unknown; refresh_token?: unknown },
): Date {
  let end = now.getTime() + ttlSeconds * 1000;
  if (typeof tokens.refresh_expires_in === "number" && tokens.refresh_expires_in > 0)
    end = Math.min(end, now.getTime() + tokens.refresh_expires_in * 1000);
  const exp = jwtExp(tokens.refresh_token);
  if (exp !== undefined) end = Math.min(end, exp * 1000);
  return new Date(end);
}

function jwtExp(token: unknown): number | undefined {
  if (typeof token !== "string" || token.split(".").length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as { exp?: unknown };
    return typeof payload.exp === "number" ? payload.exp : undefined;
  } catch {
    return undefined;
  }
}
