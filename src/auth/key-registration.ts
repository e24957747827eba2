import type { Config } from "../config/schema.js";
import { fail } from "../errors.js";
import type { Storage } from "../store/port.js";
import type { CredentialRef } from "../store/state.js";
import { parseSignInKey, registerSshKey } from "./ssh-signin.js";
import { blobFingerprint, verifySshSignature } from "./sshsig.js";
import { KeyProofs } from "./key-proofs.js";

/** The ssh-keygen -Y namespace of key-registration proofs: no sign-in signature can be replayed here. */
export const KEY_ADD_NAMESPACE = "sshca-key-add";

export interface KeyRegistrationDeps {
  config: () => Config;
  storage: Storage;
  now: () => Date;
  random: (n: number) => Buffer;
  /** The TLS CA fingerprint clients pin, or "none" (bound into the challenge, as for sign-in). */
  tlsFingerprint: string;
}

/** Open proofs per user: enough for a few tries, never a way to fill memory. */
const PER_USER = 8;
const TOTAL = 10_000;

/**
 * Self-service registration of a sign-in key proves possession of the new key: the daemon hands
 * out a single-use challenge naming the user and the key, the CLI signs it with that key
 * (`ssh-keygen -Y sign -n sshca-key-add`), and only a signature by exactly that key registers it.
 * A token that leaked cannot register a key its thief does not hold; and the key it registers
 * dies with the token or session it was registered through.
 */
export class KeyRegistration {
  private readonly pending: KeyProofs;

  constructor(private readonly deps: KeyRegistrationDeps) {
    this.pending = new KeyProofs(deps.storage.handshakes, {
      kind: "key-registration",
      prefix: "kc",
      title: "sshca key registration",
      namespace: KEY_ADD_NAMESPACE,
      caps: { perAddress: PER_USER, perUser: PER_USER + 1, total: TOTAL },
      refusal: "too many open key registrations; finish or let them expire first (retry in {retryAfter}s)",
      random: deps.random,
      tlsFingerprint: deps.tlsFingerprint,
    });
  }

  async challenge(
    user: string,
    publicKey: string,
  ): Promise<{ challenge: string; message: string; namespace: string; expiresAt: string }> {
    const key = parseSignInKey(publicKey);
    const keys = this.deps.storage.state.sshKeys;
    if (Object.hasOwn(keys, key.fingerprint) && keys[key.fingerprint]!.user !== user)
      throw fail.conflict(`key ${key.fingerprint} is already registered to another user`);
    return this.pending.open(user, key, this.deps.now().getTime(), this.deps.config().auth.challengeTtl);
  }

  /** Registers the challenged key for `user` if `signature` is its signature of the challenge (used up either way). */
  async register(
    user: string,
    parent: CredentialRef,
    challengeId: string,
    signature: string,
  ): Promise<{ user: string; fingerprint: string }> {
    const p = await this.pending.take(user, challengeId, this.deps.now().getTime());
    if (!p) throw fail.badRequest("unknown or expired key-registration challenge; ask for a new one");
    let blob: Buffer;
    try {
      blob = verifySshSignature(signature, Buffer.from(p.message, "utf8"), KEY_ADD_NAMESPACE);
    } catch (err) {
      throw fail.badRequest(`the signature does not prove possession of ${p.fingerprint}: ${(err as Error).message}`);
    }
    if (blobFingerprint(blob) !== p.fingerprint)
      throw fail.badRequest(
        `the challenge was signed by ${blobFingerprint(blob)}, not by the key to register (${p.fingerprint})`,
      );
    return registerSshKey(this.deps, user, p.line, user, parent);
  }
}
