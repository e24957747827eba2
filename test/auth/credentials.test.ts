import { describe, expect, test } from "vitest";
import { credentialProblem, userStatus } from "../../src/auth/credentials.js";
import type { CredentialRef, StateView } from "../../src/store/state.js";
import { config } from "../helpers/config.js";

const now = new Date("2026-06-01T00:00:00Z");
const future = "2027-01-01T00:00:00Z";
const past = "2026-01-01T00:00:00Z";
const tok = (patch: object = {}) => ({ user: "alice", hash: "h", createdAt: past, expiresAt: future, ...patch });
const key = (patch: object = {}) => ({ user: "alice", publicKey: "k", addedAt: past, addedBy: "admin", ...patch });

const state = {
  tokens: {
    api: tok(),
    revoked: tok({ revokedAt: past }),
    expired: tok({ expiresAt: past }),
    sessionOfAdminKey: tok({ kind: "session", parent: { kind: "key", id: "adminKey" } }),
    sessionOfTokenKey: tok({ kind: "session", parent: { kind: "key", id: "keyViaRevoked" } }),
  },
  sshKeys: {
    adminKey: key(),
    keyViaApi: key({ parent: { kind: "token", id: "api" } }),
    keyViaRevoked: key({ parent: { kind: "token", id: "revoked" } }),
    keyViaExpired: key({ parent: { kind: "token", id: "expired" } }),
    keyViaSession: key({ parent: { kind: "token", id: "sessionOfAdminKey" } }),
    keyViaGone: key({ parent: { kind: "token", id: "gone" } }),
  },
} as unknown as Pick<StateView, "tokens" | "sshKeys">;

describe("no credential outlives the one it came from", () => {
  test.each<[string, CredentialRef, RegExp | undefined]>([
    ["ok/an API token", { kind: "token", id: "api" }, undefined],
    ["ok/a key an admin registered", { kind: "key", id: "adminKey" }, undefined],
    ["ok/a key registered with a live token", { kind: "key", id: "keyViaApi" }, undefined],
    ["ok/a session of a live key", { kind: "token", id: "sessionOfAdminKey" }, undefined],
    ["ok/a key registered through a live session", { kind: "key", id: "keyViaSession" }, undefined],
    ["fail/a revoked token", { kind: "token", id: "revoked" }, /token revoked was revoked/],
    ["fail/an expired token", { kind: "token", id: "expired" }, /has expired/],
    [
      "fail/a key registered with a revoked token",
      { kind: "key", id: "keyViaRevoked" },
      /obtained through .*was revoked/,
    ],
    ["fail/a key registered with an expired token", { kind: "key", id: "keyViaExpired" }, /has expired/],
    ["fail/a key whose token is gone", { kind: "key", id: "keyViaGone" }, /token gone no longer exists/],
    [
      "fail/a session of a key registered with a revoked token",
      { kind: "token", id: "sessionOfTokenKey" },
      /was revoked/,
    ],
    ["fail/a removed key", { kind: "key", id: "nope" }, /was removed/],
  ])("%s", (_name, ref, problem) => {
    const why = credentialProblem(state, ref, now);
    if (problem === undefined) expect(why).toBeUndefined();
    else expect(why).toMatch(problem);
  });

  test("a chain that loops (a corrupt state) is refused, not followed forever", () => {
    const loop = {
      tokens: { a: tok({ parent: { kind: "key", id: "b" } }) },
      sshKeys: { b: key({ parent: { kind: "token", id: "a" } }) },
    } as unknown as Pick<StateView, "tokens" | "sshKeys">;
    expect(credentialProblem(loop, { kind: "token", id: "a" }, now)).toMatch(/too long/);
  });

  test.each([
    ["active", { users: { alice: { groups: ["dev"], createdAt: past } } }],
    ["disabled", { users: { alice: { groups: ["dev"], createdAt: past, disabled: { at: past, by: "admin" } } } }],
    ["unknown", { users: {} }],
  ] as const)("user status %s", (status, s) => {
    expect(userStatus(config(), s as unknown as Pick<StateView, "users">, "alice")).toBe(status);
  });
});
