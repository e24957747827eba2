import { createHash } from "node:crypto";
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";
import { fail } from "../../errors.js";
import type { Handshakes } from "../../store/port.js";
import type { FactorRecord } from "../../store/state.js";
import { HandshakeTable } from "../handshake-table.js";
import { approvalMessage } from "./approval-message.js";

/** The relying party: the console's origin and its host name (WebAuthn's RP ID). */
export interface RelyingParty {
  origin: string;
  rpId: string;
}

/** The relying party for a console origin such as https://ca.example.com:8443. */
export function relyingParty(origin: string): RelyingParty {
  return { origin, rpId: new URL(origin).hostname };
}

/**
 * The WebAuthn challenge of one approval: SHA-256 over the approval message (request id, digest,
 * approver; the same text a security key signs through ssh-keygen) and a single-use server nonce.
 * The authenticator signs clientDataJSON, which holds this challenge (WebAuthn level 3, 7.2 step
 * 12), so its assertion covers exactly this request as reviewed.
 */
export function approvalChallenge(p: { request: string; digest: string; approver: string; nonce: string }): string {
  return createHash("sha256")
    .update(`${approvalMessage(p)}nonce=${p.nonce}\n`, "utf8")
    .digest("base64url");
}

interface Pending {
  user: string;
  expiresAt: number;
  /** Registration, or the approval of one request (its nonce; id and digest are taken again at use). */
  purpose: { kind: "register"; name: string } | { kind: "approve"; request: string; nonce: string };
}

/** Open ceremonies per user, and in all: enough for people, never a way to fill memory. */
const PER_USER = 8;
const TOTAL = 10_000;
const TIMEOUT_MS = 120_000;

/**
 * WebAuthn registration and assertion ceremonies (through @simplewebauthn/server). Pending
 * challenges are kept here, single-use and short-lived; the credentials themselves are factor
 * records (see factors.ts).
 */
export class WebAuthnCeremonies {
  private readonly pending: HandshakeTable<Pending>;

  constructor(
    private readonly now: () => Date,
    private readonly random: (n: number) => Buffer,
    handshakes: Handshakes,
  ) {
    this.pending = new HandshakeTable(handshakes, "webauthn");
  }

  /** Options for navigator.credentials.create(): a new credential for `user`, none already theirs. */
  async registrationOptions(
    rp: RelyingParty,
    user: string,
    name: string,
    existing: FactorRecord[],
  ): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const options = await generateRegistrationOptions({
      rpName: "sshca",
      rpID: rp.rpId,
      userName: user,
      userID: new Uint8Array(createHash("sha256").update(`sshca user\n${user}`).digest().subarray(0, 16)),
      challenge: new Uint8Array(this.random(32)),
      timeout: TIMEOUT_MS,
      attestationType: "none",
      excludeCredentials: existing.flatMap((f) => (f.webauthn ? [{ id: f.webauthn.credentialId }] : [])),
      authenticatorSelection: { residentKey: "discouraged", userVerification: "preferred" },
      // EdDSA, ES256, RS256 (COSE, RFC 9053): what security keys and platform authenticators sign with.
      supportedAlgorithmIDs: [-8, -7, -257],
    });
    await this.hold(options.challenge, { user, purpose: { kind: "register", name } });
    return options;
  }

  /** Verifies a registration response against its pending challenge (used up either way). */
  async register(
    rp: RelyingParty,
    user: string,
    response: RegistrationResponseJSON,
  ): Promise<{ name: string; credential: NonNullable<FactorRecord["webauthn"]> }> {
    const challenge = clientChallenge(response.response.clientDataJSON);
    const p = await this.take(challenge, user);
    if (p?.purpose.kind !== "register")
      throw fail.badRequest("unknown or expired registration; start adding the authenticator again");
    let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    try {
      verified = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: rp.origin,
        expectedRPID: rp.rpId,
        requireUserVerification: false,
      });
    } catch (err) {
      throw fail.badRequest(`the authenticator's registration does not hold: ${(err as Error).message}`);
    }
    if (!verified.verified || !verified.registrationInfo)
      throw fail.badRequest("the authenticator's registration does not hold");
    const c = verified.registrationInfo.credential;
    return {
      name: p.purpose.name,
      credential: {
        credentialId: c.id,
        publicKey: Buffer.from(c.publicKey).toString("base64url"),
        counter: c.counter,
        ...(c.transports ? { transports: [...c.transports] } : {}),
        name: p.purpose.name,
      },
    };
  }

  /** Options for navigator.credentials.get(): the challenge of this approval, for the approver's credentials. */
  async approvalOptions(
    rp: RelyingParty,
    approver: string,
    request: { id: string; digest: string },
    credentials: FactorRecord[],
    userVerification: boolean,
  ): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const nonce = this.random(32).toString("base64url");
    const challenge = approvalChallenge({ request: request.id, digest: request.digest, approver, nonce });
    const options = await generateAuthenticationOptions({
      rpID: rp.rpId,
      challenge: new Uint8Array(Buffer.from(challenge, "base64url")),
      timeout: TIMEOUT_MS,
      allowCredentials: credentials.flatMap((f) =>
        f.webauthn
          ? [
              {
                id: f.webauthn.credentialId,
                ...(f.webauthn.transports ? { transports: f.webauthn.transports as never } : {}),
              },
            ]
          : [],
      ),
      userVerification: userVerification ? "required" : "preferred",
    });
    await this.hold(options.challenge, { user: approver, purpose: { kind: "approve", request: request.id, nonce } });
    return options;
  }

  /**
   * Verifies an approval's assertion: its challenge must be one handed out to this approver for
   * this request, and must equal the challenge derived from the request's id and digest *now*, so
   * an assertion made for what the approver saw earlier does not approve what the request is now.
   */
  async verifyApproval(
    rp: RelyingParty,
    approver: string,
    request: { id: string; digest: string },
    response: AuthenticationResponseJSON,
    credentials: [string, FactorRecord][],
    userVerification: boolean,
  ): Promise<{ factor: string; counter: number; userVerified: boolean }> {
    const given = clientChallenge(response.response?.clientDataJSON);
    const p = await this.take(given, approver);
    if (p?.purpose.kind !== "approve" || p.purpose.request !== request.id)
      throw fail.forbidden("unknown or expired WebAuthn challenge for this request; approve again");
    const expected = approvalChallenge({
      request: request.id,
      digest: request.digest,
      approver,
      nonce: p.purpose.nonce,
    });
    if (given !== expected)
      throw fail.forbidden("the authenticator signed another version of this request; review it again");
    const found = credentials.find(([, f]) => f.webauthn?.credentialId === response.id);
    if (!found?.[1].webauthn) throw fail.forbidden(`that authenticator is not registered as a factor of ${approver}`);
    const w = found[1].webauthn;
    let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
    try {
      verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: expected,
        expectedOrigin: rp.origin,
        expectedRPID: rp.rpId,
        credential: {
          id: w.credentialId,
          publicKey: new Uint8Array(Buffer.from(w.publicKey, "base64url")),
          counter: w.counter,
        },
        requireUserVerification: userVerification,
      });
    } catch (err) {
      throw fail.forbidden(`the second factor does not hold: ${(err as Error).message}`);
    }
    if (!verified.verified) throw fail.forbidden("the second factor does not hold");
    const info = verified.authenticationInfo;
    return { factor: found[0], counter: info.newCounter, userVerified: info.userVerified };
  }

  /**
   * Keeps a ceremony under its user and challenge, so only that user's response can use it up
   * (another user's cannot even find it).
   */
  private async hold(challenge: string, p: Omit<Pending, "expiresAt">): Promise<void> {
    const now = this.now().getTime();
    const expiresAt = now + TIMEOUT_MS;
    await this.pending.open(
      `${p.user}\n${challenge}`,
      { user: p.user, address: p.user, expiresAt, value: { ...p, expiresAt } },
      now,
      { perAddress: PER_USER, perUser: PER_USER + 1, total: TOTAL },
      "too many WebAuthn ceremonies open; finish or let them expire first (retry in {retryAfter}s)",
    );
  }

  /** The pending ceremony of this challenge, if it is this user's and not expired; it is used up. */
  private take(challenge: string, user: string): Promise<Pending | undefined> {
    return this.pending.take(`${user}\n${challenge}`, this.now().getTime());
  }
}

/** The challenge inside a response's clientDataJSON (base64url JSON), or "" when unreadable. */
function clientChallenge(clientDataJSON: unknown): string {
  if (typeof clientDataJSON !== "string" || clientDataJSON.length > 8192) return "";
  try {
    const parsed = JSON.parse(Buffer.from(clientDataJSON, "base64url").toString("utf8")) as { challenge?: unknown };
    return typeof parsed.challenge === "string" ? parsed.challenge : "";
  } catch {
    return "";
  }
}
