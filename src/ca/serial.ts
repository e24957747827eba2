/**
 * Certificate serials: 64 random bits, never zero (PROTOCOL.krl: serial 0 cannot be revoked
 * by serial). `random` is injected so tests can force the zero case.
 */
export function randomSerial(random: (n: number) => Buffer): { bytes: Buffer; decimal: string } {
  for (;;) {
    const bytes = random(8);
    const value = bytes.readBigUInt64BE(0);
    if (value !== 0n) return { bytes, decimal: value.toString(10) };
  }
}

/** Parses a decimal serial as given by users ("sshca revoke --serial N"). */
export function parseSerial(text: string): bigint | undefined {
  if (!/^[1-9]\d{0,19}$/.test(text)) return undefined;
  const value = BigInt(text);
  return value <= 0xffffffffffffffffn ? value : undefined;
}
