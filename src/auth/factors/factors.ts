import type { FactorEvidence } from "../../domain/request.js";
import type { Config } from "../../config/schema.js";
import { fail, isSshcaError } from "../../errors.js";
import { type Change, put, remove, type Storage } from "../../store/port.js";
import type { FactorRecord, TokenRecord } from "../../store/state.js";
import { parseSignInKey } from "../ssh-signin.js";
import { blobFingerprint, verifySshSignature, verifySshSignatureDetails } from "../sshsig.js";
import { signedInWithin } from "../credentials.js";
import { randomBase32 } from "../tokens.js";
import { KeyProofs } from "../key-proofs.js";
import type { Sealer } from "./sealed.js";
import { newTotpSecret, totpBase32, totpStep, totpUri } from "./totp.js";
import { approvalMessage } from "./approval-message.js";
import { FailureWindow } from "./attempts.js";
import { relyingParty, WebAuthnCeremonies } from "./webauthn.js";

/** ssh-keygen -Y namespaces: enrolment proofs and approval signatures are never interchangeable. */
export const FACTOR_ADD_NAMESPACE = "sshca-factor-add";
export const APPROVAL_NAMESPACE = "sshca-approve";

/** How recent an interactive sign-in must be to enrol a factor (a stolen old session cannot). */
export const FRESH_SIGN_IN_SECONDS = 600;

/** What an approver signs with their security key: exactly this request, as reviewed. */
export { approvalMessage } from "./approval-message.js";

export interface FactorDeps {
  config: () => Config;
  storage: Storage;
  now: () => Date;
  random: (n: number) => Buffer;
  sealer: Sealer;
  /** The TLS CA fingerprint clients pin, or "none" (bound into enrolment challenges). */
  tlsFingerprint: string;
  /** The web console's origin (https://HOST:PORT): WebAuthn's origin, its host name the RP ID. */
  consoleOrigin: () => string;
}

/** A factor that held, and what using it changes (a TOTP step used up, a WebAuthn counter moved on). */
export interface VerifiedFactor {
  evidence: FactorEvidence;
  changes: Change[];
}

/** The second factor an approval carries, as the API receives it. */
export type FactorInput =
  | { kind: "sk"; signature: string }
  | { kind: "totp"; code: string }
  | { kind: "webauthn"; response: Record<string, unknown> };

/** A factor as its owner sees it (never a seed). */
export interface FactorView {
  id: string;
  kind: "sk" | "totp" | "webauthn";
  name?: string;
  addedAt: string;
  confirmed: boolean;
  fingerprint?: string;
}

/**
 * Second factors for step-up approvals. Enrolling one needs a fresh interactive sign-in (an
 * identity-provider or SSH-key session at most 10 minutes old), so a stolen API token or an old
 * stolen session cannot add its own factor; each enrolment is audited and announced to the user
 * and the admins. A TOTP seed is sealed at rest and shown once; a code works once.
 */
export class Factors {
  private readonly challenges: KeyProofs;
  readonly webauthn: WebAuthnCeremonies;

  /** Failed factor checks per approver (a code guessed at leisure is no second factor). */
  private readonly failed = new FailureWindow();

  constructor(private readonly deps: FactorDeps) {
    this.webauthn = new WebAuthnCeremonies(deps.now, deps.random, deps.storage.handshakes);
    this.challenges = new KeyProofs(deps.storage.handshakes, {
      kind: "factor-sk",
      prefix: "fc",
      title: "sshca factor enrolment",
      namespace: FACTOR_ADD_NAMESPACE,
      caps: { perAddress: 8, perUser: 9, total: 10_000 },
      refusal: "too many open factor enrolments; finish or let them expire first (retry in {retryAfter}s)",
      random: deps.random,
      tlsFingerprint: deps.tlsFingerprint,
    });
  }

  list(user: string): FactorView[] {
    return Object.entries(this.deps.storage.state.factors)
      .filter(([, f]) => f.user === user)
      .map(([id, f]) => ({
        id,
        kind: f.kind,
        addedAt: f.addedAt,
        confirmed: f.confirmedAt !== undefined,
        ...(f.sk ? { fingerprint: f.sk.fingerprint } : {}),
        ...(f.webauthn ? { name: f.webauthn.name } : {}),
      }));
  }

  /** WebAuthn registration, step 1 (fresh sign-in only): options for navigator.credentials.create(). */
  async webauthnOptions(user: string, token: TokenRecord, name: string) {
    this.mayEnrol(token);
    const existing = Object.values(this.deps.storage.state.factors).filter((f) => f.user === user);
    return this.webauthn.registrationOptions(this.rp(), user, name, existing);
  }

  /** WebAuthn registration, step 2: the authenticator's response becomes a factor (audited, announced). */
  async addWebauthn(user: string, token: TokenRecord, response: Record<string, unknown>): Promise<FactorView> {
    this.mayEnrol(token);
    const { name, credential } = await this.webauthn.register(this.rp(), user, response as never);
    if (
      Object.values(this.deps.storage.state.factors).some((f) => f.webauthn?.credentialId === credential.credentialId)
    )
      throw fail.conflict("that authenticator is registered already");
    const id = `fa_${randomBase32(this.deps.random, 16)}`;
    const at = this.deps.now().toISOString();
    await this.deps.storage.commit(
      [
        {
          type: "auth.factor_added",
          actor: user,
          fields: { user, factor: id, kind: "webauthn", name, origin: this.rp().origin },
        },
      ],
      [put("factors", id, { user, kind: "webauthn", addedAt: at, confirmedAt: at, webauthn: credential })],
    );
    return this.list(user).find((x) => x.id === id)!;
  }

  /** The WebAuthn challenge of one approval, for the approver's registered authenticators. */
  async webauthnApprovalOptions(approver: string, request: { id: string; digest: string }, userVerification: boolean) {
    const mine = this.confirmed(approver, "webauthn").map(([, f]) => f);
    if (mine.length === 0)
      throw fail.forbidden(
        `${approver} has no WebAuthn authenticator registered (the console's Security keys page adds one)`,
      );
    return this.webauthn.approvalOptions(this.rp(), approver, request, mine, userVerification);
  }

  private rp() {
    return relyingParty(this.deps.consoleOrigin());
  }

  private confirmed(user: string, kind: FactorRecord["kind"]): [string, FactorRecord][] {
    return Object.entries(this.deps.storage.state.factors).filter(
      ([, f]) => f.user === user && f.kind === kind && f.confirmedAt !== undefined,
    );
  }

  /** A new TOTP factor, pending until its first code confirms it. The seed is shown this once. */
  async addTotp(user: string, token: TokenRecord): Promise<{ id: string; uri: string; secret: string }> {
    this.mayEnrol(token);
    // Enrolments never confirmed are forgotten, so they cannot pile up.
    const stale = this.deps.now().getTime() - FRESH_SIGN_IN_SECONDS * 1000;
    const forgotten = Object.entries(this.deps.storage.state.factors)
      .filter(([, f]) => f.user === user && !f.confirmedAt && Date.parse(f.addedAt) < stale)
      .map(([old]) => remove("factors", old));
    const seed = newTotpSecret(this.deps.random);
    const id = `fa_${randomBase32(this.deps.random, 16)}`;
    // A pending enrolment is bookkeeping: the factor is audited when its first code confirms it.
    await this.deps.storage.commit(
      [],
      [
        ...forgotten,
        put("factors", id, {
          user,
          kind: "totp",
          addedAt: this.deps.now().toISOString(),
          totp: { sealed: this.deps.sealer.seal(seed, `totp:${id}:${user}`) },
        }),
      ],
    );
    return { id, uri: totpUri(seed, user), secret: totpBase32(seed) };
  }

  /** Confirms a pending TOTP factor with a current code (which is then used up). */
  async confirmTotp(user: string, token: TokenRecord, id: string, code: string): Promise<FactorView> {
    this.mayEnrol(token);
    const f = this.own(user, id);
    if (f.kind !== "totp" || !f.totp) throw fail.badRequest(`factor ${id} is not a TOTP factor`);
    if (f.confirmedAt) throw fail.conflict(`factor ${id} is confirmed already`);
    const now = this.deps.now();
    const step = totpStep(this.seed(id, f), code, now);
    if (step === undefined)
      throw fail.badRequest("that code is not valid now (check the phone's clock, or wait for the next code)");
    await this.deps.storage.commit(
      [{ type: "auth.factor_added", actor: user, fields: { user, factor: id, kind: "totp" } }],
      [put("factors", id, { ...f, confirmedAt: now.toISOString(), lastStep: step }, { entry: f })],
    );
    return this.list(user).find((x) => x.id === id)!;
  }

  /** A challenge the new security key signs to prove it is held (and present). */
  async skChallenge(user: string, token: TokenRecord, publicKey: string) {
    this.mayEnrol(token);
    const key = parseSignInKey(publicKey);
    if (!key.line.startsWith("sk-"))
      throw fail.badRequest("a step-up factor must be a FIDO security key (sk-ssh-ed25519 or sk-ecdsa-sha2-nistp256)");
    return this.challenges.open(user, key, this.deps.now().getTime(), this.deps.config().auth.challengeTtl);
  }

  /** Enrols the challenged security key if `signature` is its (user-present) signature of the challenge. */
  async addSk(user: string, token: TokenRecord, challengeId: string, signature: string): Promise<FactorView> {
    this.mayEnrol(token);
    const c = await this.challenges.take(user, challengeId, this.deps.now().getTime());
    if (!c) throw fail.badRequest("unknown or expired enrolment challenge; ask for a new one");
    let blob: Buffer;
    try {
      blob = verifySshSignature(signature, Buffer.from(c.message, "utf8"), FACTOR_ADD_NAMESPACE);
    } catch (err) {
      throw fail.badRequest(`the signature does not prove the security key: ${(err as Error).message}`);
    }
    if (blobFingerprint(blob) !== c.fingerprint) throw fail.badRequest("the challenge was signed by another key");
    if (Object.values(this.deps.storage.state.factors).some((f) => f.sk?.fingerprint === c.fingerprint))
      throw fail.conflict(`security key ${c.fingerprint} is enrolled already`);
    const id = `fa_${randomBase32(this.deps.random, 16)}`;
    const at = this.deps.now().toISOString();
    await this.deps.storage.commit(
      [
        {
          type: "auth.factor_added",
          actor: user,
          fields: { user, factor: id, kind: "sk", keyFingerprint: c.fingerprint },
        },
      ],
      [
        put("factors", id, {
          user,
          kind: "sk",
          addedAt: at,
          confirmedAt: at,
          sk: { publicKey: c.line, fingerprint: c.fingerprint },
        }),
      ],
    );
    return this.list(user).find((x) => x.id === id)!;
  }

  async remove(user: string, id: string, actor: string): Promise<{ id: string }> {
    const f = this.own(user, id);
    await this.deps.storage.commit(
      [{ type: "auth.factor_removed", actor, fields: { user, factor: id, kind: f.kind } }],
      [remove("factors", id, { entry: f })],
    );
    return { id };
  }

  /**
   * Checks an approver's factor against this exact request (its id and digest): a security-key
   * signature of the approval message with user presence, or a TOTP code not used before (its
   * time step is recorded at once, so the same code cannot approve twice). Throws a 403 saying why.
   */
  async verify(
    approver: string,
    request: { id: string; digest: string },
    input: FactorInput,
    userVerification = false,
    action: "approve" | "override" = "approve",
  ): Promise<VerifiedFactor> {
    const now = this.deps.now().getTime();
    const wait = this.failed.waitFor(approver, now);
    if (wait > 0)
      throw fail.rateLimited(`too many failed second-factor attempts by ${approver}; try again in ${wait}s`, wait);
    try {
      return await this.check(approver, request, input, userVerification, action);
    } catch (err) {
      if (isSshcaError(err) && err.code === "forbidden") {
        this.failed.fail(approver, now);
        await this.deps.storage
          .append("auth.factor_failed", approver, {
            user: approver,
            kind: input.kind,
            request: request.id,
            reason: err.message,
          })
          .catch(() => undefined);
      }
      throw err;
    }
  }

  private async check(
    approver: string,
    request: { id: string; digest: string },
    input: FactorInput,
    userVerification: boolean,
    action: "approve" | "override",
  ): Promise<VerifiedFactor> {
    const mine = this.confirmed(approver, input.kind);
    if (mine.length === 0)
      throw fail.forbidden(
        input.kind === "webauthn"
          ? `${approver} has no WebAuthn authenticator registered (the console's Security keys page adds one)`
          : `${approver} has no ${input.kind} factor enrolled (sshca factor add ${input.kind})`,
      );
    if (input.kind === "webauthn") {
      const v = await this.webauthn.verifyApproval(
        this.rp(),
        approver,
        request,
        input.response as never,
        mine,
        userVerification,
      );
      // The signature counter moves on (a cloned authenticator shows up as a counter going back).
      const f = mine.find(([id]) => id === v.factor)![1];
      return {
        evidence: { kind: "webauthn", factor: v.factor, userVerified: v.userVerified },
        changes: [put("factors", v.factor, { ...f, webauthn: { ...f.webauthn!, counter: v.counter } }, { entry: f })],
      };
    }
    if (input.kind === "sk") {
      const message = approvalMessage({ request: request.id, digest: request.digest, approver, action });
      let verified: ReturnType<typeof verifySshSignatureDetails>;
      try {
        verified = verifySshSignatureDetails(input.signature, Buffer.from(message, "utf8"), APPROVAL_NAMESPACE);
      } catch (err) {
        throw fail.forbidden(`the second factor does not hold: ${(err as Error).message}`);
      }
      const fingerprint = blobFingerprint(verified.publicKey);
      const found = mine.find(([, f]) => f.sk?.fingerprint === fingerprint);
      if (!found) throw fail.forbidden(`security key ${fingerprint} is not enrolled as a factor of ${approver}`);
      return {
        evidence: { kind: "sk", factor: found[0], userVerified: verified.sk?.userVerified === true },
        changes: [],
      };
    }
    const now = this.deps.now();
    for (const [id, f] of mine) {
      const step = totpStep(this.seed(id, f), input.code, now);
      if (step === undefined) continue;
      if (f.lastStep !== undefined && step <= f.lastStep)
        throw fail.forbidden("that TOTP code was used already; wait for the next one");
      // Stored with the approval, and only if nobody used a code of this factor meanwhile.
      return {
        evidence: { kind: "totp", factor: id },
        changes: [put("factors", id, { ...f, lastStep: step }, { entry: f })],
      };
    }
    throw fail.forbidden("that TOTP code is not valid now");
  }

  private own(user: string, id: string): FactorRecord {
    const factors = this.deps.storage.state.factors;
    const f = Object.hasOwn(factors, id) ? factors[id] : undefined;
    if (!f || f.user !== user) throw fail.notFound(`no factor ${id} of ${user} (sshca factor list shows them)`);
    return f;
  }

  private seed(id: string, f: FactorRecord): Buffer {
    return this.deps.sealer.open(f.totp!.sealed, `totp:${id}:${f.user}`);
  }

  /**
   * Enrolment needs a fresh interactive sign-in (credentials.ts interactiveSignInAt): not an API
   * token, not a session older than 10 minutes, not a session of a key that was registered with
   * a token. A console session counts from the sign-in it came from.
   */
  private mayEnrol(token: TokenRecord): void {
    if (!signedInWithin(this.deps.storage.state, token, this.deps.now(), FRESH_SIGN_IN_SECONDS)) {
      throw fail.forbidden(
        token.method === "console"
          ? "adding a second factor needs a fresh sign-in (within the last 10 minutes): sign out of the console and sign in again"
          : "enrolling a second factor needs a fresh sign-in (sshca auth oidc, or sshca auth ssh) within the last 10 minutes, not an API token",
      );
    }
  }
}
