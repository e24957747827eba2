import { z } from "zod";
import { duration, ident } from "./fields.js";
import { IDENT } from "./names.js";

/**
 * How people prove who they are: API tokens and SSH-key sign-in (built in), and single sign-on
 * through the organisation's OpenID Connect provider (`auth.oidc`).
 */

const oidcSchema = z
  .strictObject({
    /** The provider's issuer URL; its /.well-known/openid-configuration is fetched (discovery). */
    issuer: z.url({ protocol: /^https$/, message: "expected the provider's https:// issuer URL" }),
    /** The client (application) id registered at the provider. */
    clientId: z.string().min(1).max(256),
    /**
     * A file holding the client secret (never the config file itself, never argv). Without it the
     * systemd credential `oidc-client-secret` ($CREDENTIALS_DIRECTORY) is used when present;
     * without either, sshcad is a public client (PKCE only), which some providers allow.
     */
    clientSecretFile: z.string().min(1).optional(),
    /** PEM CA certificates to trust for the provider (a private provider); default: the system CAs. */
    caFile: z.string().min(1).optional(),
    /** Scopes asked for; `openid` is always included. */
    scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "expected a scope name"))
      .default(["openid", "profile", "email"]),
    /** The ID-token claim that names the user. */
    userClaim: z.string().min(1).default("preferred_username"),
    /**
     * How the claim becomes an sshca user name (which must match the user-name rules):
     * `exact`, or `email-local-part` ("alice@example.com" -> "alice"; then `emailDomains` limits
     * which domains are accepted).
     */
    userFormat: z.enum(["exact", "email-local-part"]).default("exact"),
    emailDomains: z
      .array(z.string().regex(/^[a-z0-9.-]+$/, "expected a lowercase domain"))
      .min(1)
      .optional(),
    /** The ID-token claim that carries the user's groups (Okta, Keycloak: "groups"; Entra ID: "groups" with object ids). */
    groupsClaim: z.string().min(1).default("groups"),
    /** Provider group -> sshca group(s). Groups that map to nothing are ignored; a user with no mapped group is refused. */
    groupMap: z.record(z.string().min(1).max(256), z.union([ident("group"), z.array(ident("group")).min(1)])),
    /** Lifetime of the session a sign-in yields: at most this, and never longer than the provider says its session lasts. */
    sessionTtl: duration()
      .pipe(
        z
          .int()
          .min(60)
          .max(7 * 86400),
      )
      .prefault("12h"),
    /**
     * The identity provider is the one place that decides who exists: API tokens and SSH-key
     * sign-in work only for the users named in `auth.localUsers` (machines, break-glass).
     */
    required: z.boolean().default(false),
  })
  .refine((o) => o.userFormat === "email-local-part" || o.emailDomains === undefined, {
    message: "emailDomains applies only with userFormat: email-local-part",
    path: ["emailDomains"],
  })
  // The local part of any address would let alice@elsewhere.example be alice here.
  .refine((o) => o.userFormat !== "email-local-part" || o.emailDomains !== undefined, {
    message: "userFormat: email-local-part needs emailDomains (the domains whose addresses name users here)",
    path: ["emailDomains"],
  });

export type OidcConfig = z.output<typeof oidcSchema>;

export const authSchema = z
  .strictObject({
    /** Lifetime of the session token an SSH-key sign-in (sshca auth ssh) yields. */
    sessionTtl: duration()
      .pipe(
        z
          .int()
          .min(60)
          .max(7 * 86400),
      )
      .prefault("12h"),
    /** How long a sign-in challenge may be answered. */
    challengeTtl: duration().pipe(z.int().min(5).max(600)).prefault("60s"),
    /** Lifetime of API tokens created by `sshcad user add` / `sshcad token create`. */
    tokenTtl: duration()
      .pipe(
        z
          .int()
          .min(60)
          .max(366 * 86400),
      )
      .prefault("90d"),
    /** Single sign-on through an OpenID Connect provider. */
    oidc: oidcSchema.optional(),
    /** With oidc.required: the users (machines) that still sign in with API tokens or SSH keys. */
    localUsers: z.array(z.string().regex(IDENT, "expected a user name")).default([]),
  })
  .prefault({});
