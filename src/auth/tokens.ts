import { createHash, timingSafeEqual } from "node:crypto";
import type { TokenRecord } from "../store/state.js";

/**
 * API tokens look like "sshca_<id>_<secret>". The id finds the record; only SHA-256 of the
 * 256-bit secret is stored (a slow hash adds nothing for a random secret of that size), and
 * it is compared in constant time.
 */
const TOKEN = /^sshca_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$/;

export interface MintedToken {
  id: string;
  /** Shown once, never stored. */
  token: string;
  hash: string;
}

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/** Random lowercase base32 text of `length` characters (5 bits each). */
export function randomBase32(random: (n: number) => Buffer, length: number): string {
  const bytes = random(length);
  let out = "";
  for (let i = 0; i < length; i++) out += BASE32[bytes[i]! & 31];
  return out;
}

export const hashSecret = (secret: string) => createHash("sha256").update(secret, "utf8").digest("hex");

export function mintToken(random: (n: number) => Buffer): MintedToken {
  const id = randomBase32(random, 16);
  const secret = random(32).toString("base64url");
  return { id, token: `sshca_${id}_${secret}`, hash: hashSecret(secret) };
}

export function parseToken(text: string): { id: string; secret: string } | undefined {
  const m = TOKEN.exec(text);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

/**
 * Is this secret the token's? Compared in constant time (a missing record costs the same).
 * Whether the token is still usable is decided by http/auth.ts stillValid.
 */
export function secretMatches(record: TokenRecord | undefined, secret: string): boolean {
  const given = Buffer.from(hashSecret(secret), "hex");
  const stored = Buffer.from(record?.hash ?? "00".repeat(32), "hex");
  const match = stored.length === given.length && timingSafeEqual(stored, given);
  return record !== undefined && match;
}
