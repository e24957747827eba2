/** The SSH wire encodings of RFC 4251 section 5 that certificate signing, KRLs and the agent need. */

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

export function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export function uint64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

/** A reader for the SSH wire encoding (RFC 4251 section 5). Throws on truncated input. */
export class SshReader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}

  get atEnd(): boolean {
    return this.off === this.buf.length;
  }

  bytes(n: number): Buffer {
    if (this.off + n > this.buf.length) throw new Error("truncated");
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }

  byte(): number {
    return this.bytes(1)[0]!;
  }

  uint32(): number {
    return this.bytes(4).readUInt32BE(0);
  }

  string(): Buffer {
    return this.bytes(this.uint32());
  }

  text(): string {
    return this.string().toString("utf8");
  }
}
