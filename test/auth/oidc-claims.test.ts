import { describe, expect, test } from "vitest";
import { mapClaims, sessionEnd } from "../../src/auth/oidc/claims.js";
import type { OidcConfig } from "../../src/config/auth-schema.js";
import { config } from "../helpers/config.js";

const now = new Date("2026-06-01T12:00:00Z");
const t = now.getTime() / 1000;
const oidc = (patch: Partial<OidcConfig> = {}): OidcConfig =>
  config((c) => {
    (c as Record<string, unknown>).auth = {
      oidc: {
        issuer: "https://idp.example",
        clientId: "sshca",
        groupMap: { Engineering: "dev", SRE: ["sre", "leads"], "0f3c-entra-guid": "auditors" },
        ...patch,
      },
    };
  }).auth.oidc!;
const claims = (patch: Record<string, unknown> = {}) => ({
  iss: "https://idp.example",
  sub: "u-123",
  iat: t - 5,
  preferred_username: "alice",
  groups: ["Engineering", "Marketing"],
  ...patch,
});

describe("an ID token becomes an sshca user and groups", () => {
  test.each([
    {
      name: "ok/groups map through groupMap; unmapped groups are ignored",
      cfg: {},
      c: {},
      user: "alice",
      groups: ["dev"],
    },
    {
      name: "ok/one provider group maps to several",
      cfg: {},
      c: { groups: ["SRE"] },
      user: "alice",
      groups: ["leads", "sre"],
    },
    {
      name: "ok/Entra ID object ids map like names",
      cfg: {},
      c: { groups: ["0f3c-entra-guid"] },
      user: "alice",
      groups: ["auditors"],
    },
    {
      name: "ok/e-mail local part, domain accepted",
      cfg: { userClaim: "email", userFormat: "email-local-part" as const, emailDomains: ["example.com"] },
      c: { email: "Alice@Example.com", email_verified: true },
      user: "alice",
      groups: ["dev"],
    },
  ])("$name", ({ cfg, c, user, groups }) => {
    const d = mapClaims(oidc(cfg), claims(c), now);
    expect(d.ok && d.value).toMatchObject({ user, groups, issuer: "https://idp.example", subject: "u-123" });
  });

  test.each([
    { name: "fail/no group maps to anything", cfg: {}, c: { groups: ["Marketing"] }, reason: /maps to an sshca group/ },
    { name: "fail/no groups claim at all", cfg: {}, c: { groups: undefined }, reason: /maps to an sshca group/ },
    {
      name: "fail/a name outside the user-name rules",
      cfg: {},
      c: { preferred_username: "Alice Smith" },
      reason: /not a valid sshca user name/,
    },
    {
      name: "fail/the daemon's own actor name",
      cfg: {},
      c: { preferred_username: "sshcad" },
      reason: /names the daemon itself/,
    },
    {
      name: "fail/no user claim",
      cfg: {},
      c: { preferred_username: undefined },
      reason: /no "preferred_username" claim/,
    },
    { name: "fail/issued in the future", cfg: {}, c: { iat: t + 3600 }, reason: /not valid yet/ },
    {
      name: "fail/an e-mail domain not accepted",
      cfg: { userClaim: "email", userFormat: "email-local-part" as const, emailDomains: ["example.com"] },
      c: { email: "alice@evil.example", email_verified: true },
      reason: /domain evil\.example is not accepted/,
    },
    {
      name: "fail/an e-mail address the provider did not verify",
      cfg: { userClaim: "email", userFormat: "email-local-part" as const, emailDomains: ["example.com"] },
      c: { email: "alice@example.com", email_verified: false },
      reason: /not .*verified/,
    },
    {
      name: "fail/Entra ID group overage: the groups were left out",
      cfg: {},
      c: { groups: undefined, _claim_names: { groups: "src1" } },
      reason: /group overage/,
    },
  ])("$name", ({ cfg, c, reason }) => {
    const d = mapClaims(oidc(cfg), claims(c), now);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toMatch(reason);
  });

  test("a session ends at sessionTtl, or earlier when the provider says its own session ends sooner", () => {
    expect(sessionEnd(now, 12 * 3600, {}).toISOString()).toBe("2026-06-02T00:00:00.000Z");
    expect(sessionEnd(now, 12 * 3600, { refresh_expires_in: 1800 }).toISOString()).toBe("2026-06-01T12:30:00.000Z");
    const jwt = `x.${Buffer.from(JSON.stringify({ exp: t + 600 })).toString("base64url")}.y`;
    expect(sessionEnd(now, 12 * 3600, { refresh_token: jwt }).toISOString()).toBe("2026-06-01T12:10:00.000Z");
    expect(sessionEnd(now, 3600, { refresh_expires_in: 86400 }).toISOString()).toBe("2026-06-01T13:00:00.000Z");
  });

  test("config: groups in groupMap must exist; the secret never in the file; https issuer", () => {
    expect(() => oidc({ groupMap: { X: "nope" } })).toThrow(/auth\.oidc\.groupMap\.X\.0: unknown group "nope"/);
    expect(() => oidc({ clientSecret: "s3cret" } as never)).toThrow(/Unrecognized key/);
    expect(() => oidc({ issuer: "http://idp.example" })).toThrow(/https:\/\/ issuer URL/);
    expect(() => oidc({ userFormat: "email-local-part" })).toThrow(/email-local-part needs emailDomains/);
  });
});
