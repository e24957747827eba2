import { Secret, TOTP } from "otpauth";

/** RFC 6238 defaults every authenticator app understands: SHA-1, 6 digits, 30 s steps. */
const PERIOD = 30;
const DIGITS = 6;

/** A new TOTP seed (RFC 4226 section 4: at least 128 bits; 160 here). */
export function newTotpSecret(random: (n: number) => Buffer): Buffer {
  return random(20);
}

/** The otpauth:// URI an authenticator app imports (also shown as text). */
export function totpUri(secret: Buffer, account: string, issuer = "sshca"): string {
  return new TOTP({
    issuer,
    label: account,
    secret: new Secret({ buffer: toArrayBuffer(secret) }),
    period: PERIOD,
    digits: DIGITS,
  }).toString();
}

export const totpBase32 = (secret: Buffer) => new Secret({ buffer: toArrayBuffer(secret) }).base32;

/**
 * The time step a code belongs to, when it is valid at `now` (one step of clock skew either
 * way), else undefined. The caller refuses a step not after the last one used: a code works once.
 */
export function totpStep(secret: Buffer, code: string, now: Date): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const delta = TOTP.validate({
    token: code,
    secret: new Secret({ buffer: toArrayBuffer(secret) }),
    period: PERIOD,
    digits: DIGITS,
    timestamp: now.getTime(),
    window: 1,
  });
  if (delta === null) return undefined;
  return Math.floor(now.getTime() / 1000 / PERIOD) + delta;
}

/** A code for `step` (tests and tools). */
export function totpCode(secret: Buffer, at: Date): string {
  return TOTP.generate({
    secret: new Secret({ buffer: toArrayBuffer(secret) }),
    period: PERIOD,
    digits: DIGITS,
    timestamp: at.getTime(),
  });
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
