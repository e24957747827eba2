/**
 * The serial number of a new X.509 certificate, as the hex node-forge takes, from 16 random
 * bytes (RFC 5280 4.1.2.2: positive, at most 20 octets). The first octet is forced into
 * 0x01..0x7f: positive, and never a leading zero. node-forge strips only one redundant leading
 * zero octet from an INTEGER, so a draw that began with two made a certificate OpenSSL refuses
 * ("illegal padding": DER integers are minimal, X.690 8.3.2). 127 random bits remain.
 */
export function certificateSerial(random: Buffer): string {
  if (random.length !== 16) throw new Error("a certificate serial is drawn from 16 random bytes");
  const bytes = Buffer.from(random);
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return bytes.toString("hex");
}
