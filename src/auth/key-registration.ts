import type { Config } from "../config/schema.js";
import { fail } from "../errors.js";
import type { Storage } from "../store/port.js";
import type { CredentialRef } from "../store/state.js";
import { parseSignInKey, registerSshKey } from "./ssh-signin.js";
import { blobFingerprint, verifySshSignature } from "./sshsig.js";
import { randomBase32 } from "./tokens.js";
import { HandshakeTable } from "./handshake-table.js";

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

interface Pending {
  user: string;
  line: string;
  fingerprint: string;
  message: string;
  expiresAt: number;
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
  private readonly pending: HandshakeTable<Pending>;

  constructor(private readonly deps: KeyRegistrationDeps) {
    this.pending = new HandshakeTable(deps.storage.handshakes, "key-registration");
  }

  async challenge(
    user: string,
    publicKey: string,
  ): Promise<{ challenge: string; message: string; namespace: string; expiresAt: string }> {
    const key = parseSignInKey(publicKey);
    const keys = this.deps.storage.state.sshKeys;
    if (Object.hasOwn(keys, key.fingerprint) && keys[key.fingerprint]!.user !== user)
      throw fail.conflict(`key ${key.fingerprint} is already registered to another user`);
    const now = this.deps.now().getTime();
    const id = `kc_${randomBase32(this.deps.random, 20)}`;
    const expiresAt = now + this.deps.config().auth.challengeTtl * 1000;
    const message = [
      "sshca key registration",
      `user=${user}`,
      `key=${key.fingerprint}`,
      `challenge=${id}`,
      `nonce=${this.deps.random(32).toString("base64url")}`,
      `tls=${this.deps.tlsFingerprint}`,
      `expires=${new Date(expiresAt).toISOString()}`,
      "",
    ].join("\n");
    // Kept under the user and the id: only this user's answer can find (and use up) it.
    await this.pending.open(
      `${user}\n${id}`,
      {
        user,
        address: user,
        expiresAt,
        value: { user, line: key.line, fingerprint: key.fingerprint, message, expiresAt },
      },
      now,
      { perAddress: PER_USER, perUser: PER_USER + 1, total: TOTAL },
      "too many open key registrations; finish or let them expire first (retry in {retryAfter}s)",
    );
    return { challenge: id, message, namespace: KEY_ADD_NAMESPACE, expiresAt: new Date(expiresAt).toISOString() };
  }

  /** Registers the challenged key for `user` if `signature` is its signature of the challenge (used up either way). */
  async register(
    user: string,
    parent: CredentialRef,
    challengeId: string,
    signature: string,
  ): Promise<{ user: string; fingerprint: string }> {
    const p = await this.pending.take(`${user}\n${challengeId}`, this.deps.now().getTime());
    if (!p || p.user !== user)
      throw fail.badRequest("unknown or expired key-registration challenge; ask for a new one");
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
