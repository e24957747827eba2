import type { Request } from "express";
import { z } from "zod";
import { formatIssues } from "../config/load.js";
import { SshcaError } from "../errors.js";

/**
 * Request bodies and queries, validated once at the edge. Unknown fields are errors: a
 * client that sends "principals" must learn that principals come from the role.
 */
const text = (max: number) => z.string().max(max);

export const createRequestBody = z.strictObject({
  role: text(64),
  hosts: z.array(text(253)).min(1, "at least one host is required").max(64),
  ttl: z
    .union([
      text(32),
      z
        .int()
        .min(0)
        .max(10 * 365 * 86400),
    ])
    .optional(),
  reason: text(2000),
  publicKey: text(16 * 1024),
  breakGlass: z.boolean().optional(),
  /** false: make a new request even when a live certificate covers this one. */
  reuse: z.boolean().optional(),
  start: text(64).optional(),
  reviewers: z.array(text(64)).max(5, "at most 5 suggested reviewers").optional(),
});

const b64url = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/, "expected base64url");

/** A WebAuthn assertion as @simplewebauthn/browser's startAuthentication() returns it (AuthenticationResponseJSON). */
export const webauthnAssertion = z.object({
  id: b64url(1024),
  rawId: b64url(1024),
  type: z.literal("public-key"),
  response: z.object({
    clientDataJSON: b64url(4096),
    authenticatorData: b64url(4096),
    signature: b64url(4096),
    userHandle: b64url(1024).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
});

/** A WebAuthn registration as startRegistration() returns it (RegistrationResponseJSON). */
export const webauthnRegistration = z.object({
  id: b64url(1024),
  rawId: b64url(1024),
  type: z.literal("public-key"),
  response: z.object({
    clientDataJSON: b64url(4096),
    attestationObject: b64url(8192),
    authenticatorData: b64url(4096).optional(),
    transports: z.array(z.string().max(32)).max(8).optional(),
    publicKeyAlgorithm: z.int().optional(),
    publicKey: b64url(4096).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
});

/** A second factor bound to the request (roles with stepUp): a security-key signature, a TOTP code, a WebAuthn assertion. */
export const factorBody = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("sk"), signature: text(8192) }),
  z.strictObject({ kind: z.literal("totp"), code: z.string().regex(/^\d{6}$/, "a TOTP code is 6 digits") }),
  z.strictObject({ kind: z.literal("webauthn"), response: webauthnAssertion }),
]);

export const approveBody = z.strictObject({
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, "digest must be the request's sha256:... digest"),
  comment: text(500).optional(),
  factor: factorBody.optional(),
});

export const overrideBody = z.strictObject({
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, "digest must be the request's sha256:... digest"),
  reason: text(500).refine((r) => r.trim().length > 0, "an override needs a reason"),
  factor: factorBody.optional(),
});

export const denyBody = z.strictObject({
  reason: text(500).refine((r) => r.trim().length > 0, "a reason is required"),
});

export const emptyBody = z.strictObject({});

export const reviewBody = z.strictObject({
  comment: text(500).refine((r) => r.trim().length > 0, "a review needs a comment saying what you found"),
});

export const resolveBody = z.strictObject({
  comment: text(500).refine((r) => r.trim().length > 0, "resolving drift needs a comment saying what you found"),
});

/** An inventory host name in a path. */
export const hostParam = z.string().regex(/^[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?$/, "malformed host name");

export const requestIdParam = z.string().regex(/^rq_[a-z2-7]{16}$/, "malformed request id");

export const waitQuery = z.strictObject({
  wait: z.coerce.number().int().min(0).max(3600).optional(),
  version: z.coerce.number().int().min(0).optional(),
});

export const listQuery = z.strictObject({
  state: z.enum(["pending", "approved", "blocked", "issued", "revoked", "denied", "cancelled", "expired"]).optional(),
  mine: z.enum(["true", "false"]).optional(),
  /** Break-glass requests by review state ("open": still waiting for an approver's review). */
  review: z.enum(["open", "done"]).optional(),
});

export const principalsQuery = z.strictObject({ host: text(253) });

/** An SSH key fingerprint as ssh-keygen -l prints it: SHA256 and 43 base64 characters. */
export const FINGERPRINT = z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, "expected a key fingerprint SHA256:...");

/** Parses `value` or throws a 400 that names each bad field. */
export function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = formatIssues(result.error.issues);
  throw new SshcaError("bad_request", `invalid ${what}: ${problems.join("; ")}`, {
    details: { problems },
  });
}

/** The JSON body of a POST, insisting on a JSON content type (415 otherwise). */
export function jsonBody(req: Request): unknown {
  if (!req.is("application/json")) {
    throw new SshcaError("unsupported_media_type", "request body must be JSON (Content-Type: application/json)");
  }
  return req.body ?? {};
}
