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
