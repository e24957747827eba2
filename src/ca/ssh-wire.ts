/** The SSH wire encodings of RFC 4251 section 5 that certificate signing needs. */

export function sshString(data: Buffer | string): Buffer {
  const body = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length, 0);
  return Buffer.concat([len, body]);
}

/** mpint: two's complement, big-endian, no superfluous leading zeros, 0x00 before a high bit. */
export function sshMpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length && unsigned[start] === 0) start++;
  let body = unsigned.subarray(start);
  if (body.length > 0 && (body[0]! & 0x80) !== 0) body = Buffer.concat([Buffer.from([0]), body]);
  return sshString(body);
}
