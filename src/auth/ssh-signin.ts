import type { AuditLog } from "../audit/log.js";
import { parseSubjectKey } from "../ca/subject-key.js";
import type { Config } from "../config/schema.js";
import { fail, SshcaError } from "../errors.js";
import type { StateStore } from "../store/state.js";
import { ChallengeTable } from "./challenge-table.js";
import { parseSecurityKey, SK_ECDSA, SK_ED25519 } from "./sk-key.js";
import { resolveIdentity } from "./identity.js";
import { blobFingerprint, verifySshSignature } from "./sshsig.js";
import { mintToken, randomBase32 } from "./tokens.js";

/** The ssh-keygen -Y namespace of sign-in signatures, so no other signature can be replayed here. */
export const SIGNIN_NAMESPACE = "sshca-auth";

interface Challenge {
  user: string;
  message: string;
  expiresAt: number;
}

export interface SignInDeps {
  config: () => Config;
  store: StateStore;
  audit: AuditLog;
  now: () => Date;
  random: (n: number) => Buffer;
  caFingerprint: string;
}

/**
 * SSH-key sign-in with no secret stored on the client: the daemon hands out a single-use,
 * expiring challenge; the CLI signs it with `ssh-keygen -Y sign -n sshca-auth` (a key file, a
 * key in ssh-agent, or a hardware token); the daemon verifies the signature itself against the
 * user's registered keys and answers a short-lived session token.
 */
export class SshSignIn {
  private readonly challenges = new ChallengeTable<Challenge>();

  constructor(private readonly deps: SignInDeps) {}

  /**
   * A challenge for `user`, asked for by the client `address` (its rate-limit key). Unknown users
   * get one too, so this does not reveal who exists. Open challenges are capped per address, per
   * user and in all (ChallengeTable), never by one global count a flood could fill.
   */
  challenge(
    user: string,
    address: string,
  ): { challenge: string; message: string; namespace: string; expiresAt: string } {
    const now = this.deps.now().getTime();
    const id = `ch_${randomBase32(this.deps.random, 20)}`;
    const expiresAt = now + this.deps.config().auth.challengeTtl * 1000;
    const message = [
      "sshca sign-in",
      `user=${user}`,
      `challenge=${id}`,
      `nonce=${this.deps.random(32).toString("base64url")}`,
      `ca=${this.deps.caFingerprint}`,
      `expires=${new Date(expiresAt).toISOString()}`,
      "",
    ].join("\n");
    const limits = this.deps.config().limits;
    const opened = this.challenges.add(id, { user, address, expiresAt, value: { user, message, expiresAt } }, now, {
      perAddress: limits.challengesPerAddress,
      perUser: limits.challengesPerUser,
      total: limits.openChallenges,
    });
    if (!opened.ok) {
      const retryAfter = opened.retryAfterSeconds;
      throw new SshcaError(
        "rate_limited",
        `too many open sign-in challenges from this address; retry in ${retryAfter}s`,
        { details: { retryAfter } },
      );
    }
    return { challenge: id, message, namespace: SIGNIN_NAMESPACE, expiresAt: new Date(expiresAt).toISOString() };
  }

  /** Verifies the signed challenge (used up either way) and mints a session token. */
  async signIn(
    id: string,
    signature: string,
  ): Promise<{ user: string; token: string; expiresAt: string; keyFingerprint: string }> {
    const now = this.deps.now();
    const c = this.challenges.take(id, now.getTime());
    if (!c) throw new SshcaError("unauthenticated", "unknown or expired sign-in challenge; ask for a new one");
    let blob: Buffer;
    try {
      blob = verifySshSignature(signature, Buffer.from(c.message, "utf8"), SIGNIN_NAMESPACE);
    } catch (err) {
      throw new SshcaError("unauthenticated", `SSH sign-in failed: ${(err as Error).message}`);
    }
    const fingerprint = blobFingerprint(blob);
    const keys = this.deps.store.data.sshKeys;
    const registered = Object.hasOwn(keys, fingerprint) ? keys[fingerprint] : undefined;
    const config = this.deps.config();
    if (!registered || registered.user !== c.user || !resolveIdentity(config, this.deps.store.data, c.user)) {
      throw new SshcaError("unauthenticated", `SSH sign-in failed: key ${fingerprint} is not registered for ${c.user}`);
    }
    const minted = mintToken(this.deps.random);
    const expiresAt = new Date(now.getTime() + config.auth.sessionTtl * 1000).toISOString();
    const rec = await this.deps.audit.append("auth.signed_in", c.user, {
      user: c.user,
      method: "ssh",
      keyFingerprint: fingerprint,
      tokenId: minted.id,
      expiresAt,
    });
    this.deps.store.put("tokens", minted.id, {
      user: c.user,
      hash: minted.hash,
      createdAt: now.toISOString(),
      expiresAt,
      kind: "session",
    });
    this.deps.store.noteAuditSeq(rec.seq);
    await this.deps.store.persist();
    return { user: c.user, token: minted.token, expiresAt, keyFingerprint: fingerprint };
  }
}

/** Registers an SSH public key for sign-in (by the user with a token, or by an admin). */
export async function registerSshKey(
  deps: Pick<SignInDeps, "store" | "audit" | "now">,
  user: string,
  publicKey: string,
  actor: string,
): Promise<{ user: string; fingerprint: string }> {
  const key = parseSignInKey(publicKey);
  const keys = deps.store.data.sshKeys;
  const existing = Object.hasOwn(keys, key.fingerprint) ? keys[key.fingerprint] : undefined;
  if (existing && existing.user !== user)
    throw fail.conflict(`key ${key.fingerprint} is already registered to another user`);
  if (existing) return { user, fingerprint: key.fingerprint };
  const rec = await deps.audit.append("auth.key_registered", actor, { user, keyFingerprint: key.fingerprint });
  deps.store.put("sshKeys", key.fingerprint, {
    user,
    publicKey: key.line,
    addedAt: deps.now().toISOString(),
    addedBy: actor,
  });
  deps.store.noteAuditSeq(rec.seq);
  await deps.store.persist();
  return { user, fingerprint: key.fingerprint };
}

const SK_TYPES = [SK_ED25519, SK_ECDSA];

/**
 * A public key that may sign in: what parseSubjectKey accepts (Ed25519, ECDSA, RSA >= 2048),
 * plus security-key types, which sshpk cannot read: their blob is parsed field by field
 * (parseSecurityKey) and kept as it is.
 */
export function parseSignInKey(text: string): { line: string; fingerprint: string } {
  const [type, b64] = text.trim().split(/\s+/);
  if (type && SK_TYPES.includes(type)) {
    if (/[\r\n\0]/.test(text.trim())) throw fail.badRequest("publicKey must be a single line");
    return parseSecurityKey(type, b64 ?? "");
  }
  const key = parseSubjectKey(text);
  return { line: key.line, fingerprint: key.fingerprint };
}
