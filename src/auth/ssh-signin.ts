import { randomBytes } from "node:crypto";
import { parseSubjectKey } from "../ca/subject-key.js";
import type { Config } from "../config/schema.js";
import { fail, SshcaError } from "../errors.js";
import { type Change, put, remove, type Storage } from "../store/port.js";
import type { CredentialRef } from "../store/state.js";
import { HandshakeTable } from "./handshake-table.js";
import { credentialProblem, keyGeneration, localSignInRefusal, userStatus } from "./credentials.js";
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
  storage: Storage;
  now: () => Date;
  random: (n: number) => Buffer;
  /** The user CA's signing key now (named in each challenge). */
  caFingerprint: () => string;
  /**
   * The fingerprint of the TLS CA this daemon serves under ("SHA256:..."), or "none" when it
   * serves plain HTTP (loopback or a unix socket only). It goes into every challenge, so a
   * client signs only a challenge from the server it verified, never one relayed through another.
   */
  tlsFingerprint: string;
}

/**
 * SSH-key sign-in with no secret stored on the client: the daemon hands out a single-use,
 * expiring challenge; the CLI signs it with `ssh-keygen -Y sign -n sshca-auth` (a key file, a
 * key in ssh-agent, or a hardware token); the daemon verifies the signature itself against the
 * user's registered keys and answers a short-lived session token.
 */
export class SshSignIn {
  private readonly challenges: HandshakeTable<Challenge>;

  constructor(private readonly deps: SignInDeps) {
    this.challenges = new HandshakeTable(deps.storage.handshakes, "ssh-signin");
  }

  /**
   * A challenge for `user`, asked for by the client `address` (its rate-limit key). Unknown users
   * get one too, so this does not reveal who exists. Open challenges are capped per address, per
   * user and in all (ChallengeTable), never by one global count a flood could fill.
   */
  async challenge(
    user: string,
    address: string,
  ): Promise<{ challenge: string; message: string; namespace: string; expiresAt: string }> {
    const now = this.deps.now().getTime();
    const id = `ch_${randomBase32(this.deps.random, 20)}`;
    const expiresAt = now + this.deps.config().auth.challengeTtl * 1000;
    const message = [
      "sshca sign-in",
      `user=${user}`,
      `challenge=${id}`,
      `nonce=${this.deps.random(32).toString("base64url")}`,
      `ca=${this.deps.caFingerprint()}`,
      `tls=${this.deps.tlsFingerprint}`,
      `expires=${new Date(expiresAt).toISOString()}`,
      "",
    ].join("\n");
    const limits = this.deps.config().limits;
    await this.challenges.open(
      id,
      { user, address, expiresAt, value: { user, message, expiresAt } },
      now,
      { perAddress: limits.challengesPerAddress, perUser: limits.challengesPerUser, total: limits.openChallenges },
      "too many open sign-in challenges from this address; retry in {retryAfter}s",
    );
    return { challenge: id, message, namespace: SIGNIN_NAMESPACE, expiresAt: new Date(expiresAt).toISOString() };
  }

  /** Verifies the signed challenge (used up either way) and mints a session token. */
  async signIn(
    id: string,
    signature: string,
  ): Promise<{ user: string; token: string; expiresAt: string; keyFingerprint: string }> {
    const now = this.deps.now();
    const c = await this.challenges.take(id, now.getTime());
    if (!c) throw new SshcaError("unauthenticated", "unknown or expired sign-in challenge; ask for a new one");
    let blob: Buffer;
    try {
      blob = verifySshSignature(signature, Buffer.from(c.message, "utf8"), SIGNIN_NAMESPACE);
    } catch (err) {
      throw new SshcaError("unauthenticated", `SSH sign-in failed: ${(err as Error).message}`);
    }
    const fingerprint = blobFingerprint(blob);
    // A key registered on another replica a moment ago: catch up before refusing it.
    if (!Object.hasOwn(this.deps.storage.state.sshKeys, fingerprint)) await this.deps.storage.sync();
    const state = this.deps.storage.state;
    const registered = Object.hasOwn(state.sshKeys, fingerprint) ? state.sshKeys[fingerprint] : undefined;
    const config = this.deps.config();
    if (!registered || registered.user !== c.user) {
      throw new SshcaError("unauthenticated", `SSH sign-in failed: key ${fingerprint} is not registered for ${c.user}`);
    }
    if (userStatus(config, state, c.user) === "disabled")
      throw new SshcaError("unauthenticated", `SSH sign-in failed: user ${c.user} is disabled`);
    if (!resolveIdentity(config, state, c.user))
      throw new SshcaError("unauthenticated", `SSH sign-in failed: user ${c.user} no longer exists`);
    const local = localSignInRefusal(config, c.user);
    if (local) throw new SshcaError("unauthenticated", `SSH sign-in failed: ${local}`);
    const dead = credentialProblem(state, { kind: "key", id: fingerprint }, now);
    if (dead)
      throw new SshcaError("unauthenticated", `SSH sign-in failed: key ${fingerprint} no longer works: ${dead}`);
    const minted = mintToken(this.deps.random);
    const expiresAt = new Date(now.getTime() + config.auth.sessionTtl * 1000).toISOString();
    await this.deps.storage.commit(
      [
        {
          type: "auth.signed_in",
          actor: c.user,
          fields: { user: c.user, method: "ssh", keyFingerprint: fingerprint, tokenId: minted.id, expiresAt },
        },
      ],
      [
        put("tokens", minted.id, {
          user: c.user,
          hash: minted.hash,
          createdAt: now.toISOString(),
          expiresAt,
          kind: "session",
          // The session dies with the key record: removing the key ends it at once, and the
          // same key added again later is another record (generation) that does not revive it.
          parent: { kind: "key", id: fingerprint, generation: keyGeneration(registered) },
        }),
      ],
    );
    return { user: c.user, token: minted.token, expiresAt, keyFingerprint: fingerprint };
  }
}

/**
 * Registers an SSH public key for sign-in: by an admin (no parent: it lives until removed), or
 * by the user through a token or session whose possession of the new key was proven (see
 * key-registration.ts); such a key dies with the credential it was registered through.
 */
export async function registerSshKey(
  deps: Pick<SignInDeps, "storage" | "now">,
  user: string,
  publicKey: string,
  actor: string,
  parent?: CredentialRef,
): Promise<{ user: string; fingerprint: string }> {
  const key = parseSignInKey(publicKey);
  const state = deps.storage.state;
  const keys = state.sshKeys;
  const existing = Object.hasOwn(keys, key.fingerprint) ? keys[key.fingerprint] : undefined;
  if (existing && existing.user !== user)
    throw fail.conflict(`key ${key.fingerprint} is already registered to another user`);
  const now = deps.now();
  const dead =
    existing !== undefined && credentialProblem(state, { kind: "key", id: key.fingerprint }, now) !== undefined;
  // A live key stays as it is, unless an admin registers it (it then lives until removed). A
  // key that died with the credential it came through is registered anew. Either way it is a
  // new record (generation): the sessions the old one signed in stay ended, and a dead one's
  // are also marked revoked in the same commit.
  if (existing && !dead && (existing.parent === undefined || parent !== undefined))
    return { user, fingerprint: key.fingerprint };
  await deps.storage.commit(
    [
      {
        type: "auth.key_registered",
        actor,
        fields: {
          user,
          keyFingerprint: key.fingerprint,
          keyType: key.line.split(" ")[0],
          ...(parent ? { via: `${parent.kind}:${parent.id}` } : {}),
          ...(existing
            ? { replaces: dead ? "a key that no longer worked" : "a key registered through a credential" }
            : {}),
        },
      },
    ],
    [
      put(
        "sshKeys",
        key.fingerprint,
        {
          user,
          publicKey: key.line,
          addedAt: now.toISOString(),
          addedBy: actor,
          ...(parent ? { parent } : {}),
          // An identifier, not a secret: sessions name the record they signed in with.
          generation: randomBytes(9).toString("base64url"),
        },
        { entry: existing },
      ),
      ...(dead ? endSessionsOf(state, key.fingerprint, now) : []),
    ],
  );
  return { user, fingerprint: key.fingerprint };
}

/**
 * Revokes the sessions signed in with a key that is going away (or being registered anew after
 * it died). Without it they would only be refused while the key is missing or dead, and would
 * work again if the same key were added later.
 */
function endSessionsOf(state: Storage["state"], fingerprint: string, now: Date): Change[] {
  const at = now.toISOString();
  return Object.entries(state.tokens)
    .filter(([, t]) => t.parent?.kind === "key" && t.parent.id === fingerprint && t.revokedAt === undefined)
    .map(([id, t]) => put("tokens", id, { ...t, revokedAt: at }, { entry: t }));
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

/**
 * Removes a sign-in key (its owner, or an admin). Sessions signed in with it, and keys
 * registered through those sessions, stop working at once: they were obtained through it.
 */
export async function removeSshKey(
  deps: Pick<SignInDeps, "storage" | "now">,
  user: string,
  fingerprint: string,
  actor: string,
): Promise<{ user: string; fingerprint: string }> {
  const keys = deps.storage.state.sshKeys;
  const key = Object.hasOwn(keys, fingerprint) ? keys[fingerprint] : undefined;
  if (!key || key.user !== user)
    throw fail.notFound(`no sign-in key ${fingerprint} is registered for ${user} (sshca key list shows them)`);
  await deps.storage.commit(
    [{ type: "auth.key_removed", actor, fields: { user, keyFingerprint: fingerprint } }],
    [remove("sshKeys", fingerprint, { entry: key }), ...endSessionsOf(deps.storage.state, fingerprint, deps.now())],
  );
  return { user, fingerprint };
}
