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
