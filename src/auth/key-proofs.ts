import type { Handshakes } from "../store/port.js";
import type { ChallengeCaps } from "./challenge-table.js";
import { HandshakeTable } from "./handshake-table.js";
import { randomBase32 } from "./tokens.js";

/** A pending proof that a user holds a key: the message its signature must cover. */
export interface KeyProof {
  user: string;
  line: string;
  fingerprint: string;
  message: string;
  expiresAt: number;
}

export interface KeyProofOptions {
  /** The handshake kind and the challenge id's prefix ("kc", "fc"). */
  kind: string;
  prefix: string;
  /** The message's first line: what the signature is for. */
  title: string;
  namespace: string;
  caps: ChallengeCaps;
  /** The 429 message ({retryAfter} is filled in). */
  refusal: string;
  random: (n: number) => Buffer;
  /** The TLS certificate the client verified: a challenge relayed through another server is useless. */
  tlsFingerprint: string;
}

/**
 * Proof of possession of a new key (registering a sign-in key, enrolling a security key): a
 * single-use, expiring challenge naming the user, the key and the server, which only a
 * signature by exactly that key answers. Kept under the user and the id, so only that user's
 * answer can find (and use up) it.
 */
export class KeyProofs {
  private readonly table: HandshakeTable<KeyProof>;

  constructor(
    handshakes: Handshakes,
    private readonly o: KeyProofOptions,
  ) {
    this.table = new HandshakeTable(handshakes, o.kind);
  }

  async open(
    user: string,
    key: { line: string; fingerprint: string },
    now: number,
    ttlSeconds: number,
  ): Promise<{ challenge: string; message: string; namespace: string; expiresAt: string }> {
    const id = `${this.o.prefix}_${randomBase32(this.o.random, 20)}`;
    const expiresAt = now + ttlSeconds * 1000;
    const message = [
      this.o.title,
      `user=${user}`,
      `key=${key.fingerprint}`,
      `challenge=${id}`,
      `nonce=${this.o.random(32).toString("base64url")}`,
      `tls=${this.o.tlsFingerprint}`,
      `expires=${new Date(expiresAt).toISOString()}`,
      "",
    ].join("\n");
    await this.table.open(
      `${user}\n${id}`,
      {
        user,
        address: user,
        expiresAt,
        value: { user, line: key.line, fingerprint: key.fingerprint, message, expiresAt },
      },
      now,
      this.o.caps,
      this.o.refusal,
    );
    return { challenge: id, message, namespace: this.o.namespace, expiresAt: new Date(expiresAt).toISOString() };
  }

  /** This user's pending proof (used up), or undefined when unknown, expired or another's. */
  async take(user: string, id: string, now: number): Promise<KeyProof | undefined> {
    const p = await this.table.take(`${user}\n${id}`, now);
    return p?.user === user ? p : undefined;
  }
}
