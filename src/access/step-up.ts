import type { RoleConfig } from "../config/schema.js";
import { allow, type Decision, refuse } from "../domain/decision.js";
import type { FactorEvidence, FactorKind } from "../domain/request.js";

const HOW: Record<FactorKind, string> = {
  webauthn:
    "a security key or platform authenticator in the web console (the request's page; register one under Security keys)",
  sk: "a signature of the request by your security key (sshca approve ID --sk KEY; enrol it with sshca factor add sk)",
  totp: "a code from your authenticator app (sshca approve ID --totp; enrol it with sshca factor add totp)",
};

/**
 * Does this approval carry the second factor the role asks for? The evidence was checked against
 * this request's digest by the caller; here only the role's rule is applied. Pure.
 */
export function decideStepUp(
  roleName: string,
  role: RoleConfig | undefined,
  evidence: FactorEvidence | undefined,
): Decision<FactorEvidence | undefined> {
  const rule = role?.stepUp;
  if (!rule) return allow(evidence);
  if (!evidence) {
    return refuse(
      "forbidden",
      `role ${roleName} requires a second factor with each approval, bound to this request: ${rule.methods.map((m) => HOW[m]).join(", or ")}`,
    );
  }
  if (!rule.methods.includes(evidence.kind))
    return refuse(
      "forbidden",
      `role ${roleName} does not accept a ${evidence.kind} factor; it takes ${rule.methods.map((m) => HOW[m]).join(", or ")}`,
    );
  if (evidence.kind === "webauthn" && rule.userVerification && !evidence.userVerified)
    return refuse(
      "forbidden",
      `role ${roleName} requires user verification: the authenticator did not verify the user (PIN or biometric)`,
    );
  if (evidence.kind === "sk" && rule.userVerification && !evidence.userVerified)
    return refuse(
      "forbidden",
      `role ${roleName} requires user verification: the security key did not verify the user (PIN or biometric); use a key made with ssh-keygen -O verify-required`,
    );
  return allow(evidence);
}
