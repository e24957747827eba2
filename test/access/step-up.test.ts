import { describe, expect, test } from "vitest";
import { decideStepUp } from "../../src/access/step-up.js";
import type { FactorEvidence } from "../../src/domain/request.js";
import { config } from "../helpers/config.js";

const cfg = config((c) => {
  Object.assign(c.roles.debug, { stepUp: { methods: ["sk", "totp"] } });
  Object.assign(c.roles.dba, { stepUp: { methods: ["sk"], userVerification: true } });
});
const sk = (userVerified: boolean): FactorEvidence => ({ kind: "sk", factor: "fa_x", userVerified });
const totp: FactorEvidence = { kind: "totp", factor: "fa_y" };

describe("step-up: does an approval carry the factor its role asks for?", () => {
  test.each([
    { name: "ok/a role without stepUp needs nothing", role: "auto", evidence: undefined, ok: true },
    { name: "ok/a role without stepUp keeps a factor given anyway", role: "auto", evidence: totp, ok: true },
    {
      name: "fail/none given where the role asks",
      role: "debug",
      evidence: undefined,
      ok: false,
      reason: /requires a second factor with each approval/,
    },
    { name: "ok/totp where allowed", role: "debug", evidence: totp, ok: true },
    { name: "ok/sk without verification where not asked", role: "debug", evidence: sk(false), ok: true },
    {
      name: "fail/totp where only sk is allowed",
      role: "dba",
      evidence: totp,
      ok: false,
      reason: /does not accept a totp factor/,
    },
    {
      name: "fail/sk without verification where asked",
      role: "dba",
      evidence: sk(false),
      ok: false,
      reason: /requires user verification/,
    },
    { name: "ok/sk with verification where asked", role: "dba", evidence: sk(true), ok: true },
  ])("$name", ({ role, evidence, ok, reason }) => {
    const d = decideStepUp(role, cfg.roles[role], evidence);
    expect(d.ok).toBe(ok);
    if (!d.ok) {
      expect(d.code).toBe("forbidden");
      expect(d.reason).toMatch(reason!);
    }
  });
});
