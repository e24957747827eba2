import { sshString } from "./ssh-wire.js";

/** PROTOCOL.krl: "SSHKRL\n\0", format version 1, certificate section with a serial list. */
const KRL_MAGIC = Buffer.from("SSHKRL\n\0", "binary");
const KRL_FORMAT_VERSION = 1;
const KRL_SECTION_CERTIFICATES = 1;
const KRL_SECTION_CERT_SERIAL_LIST = 0x20;

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
};

/**
 * A key revocation list revoking certificates of one CA by serial (PROTOCOL.krl). An empty
 * list is still a valid KRL: sshd refuses every public-key login if RevokedKeys is missing or
 * unreadable, so there is always a file. Pure.
 */
export function buildKrl(p: {
  caKeyBlob: Buffer;
  serials: readonly bigint[];
  version: bigint;
  generatedAt: Date;
}): Buffer {
  const header = Buffer.concat([
    KRL_MAGIC,
    u32(KRL_FORMAT_VERSION),
    u64(p.version),
    u64(BigInt(Math.floor(p.generatedAt.getTime() / 1000))),
    u64(0n), // flags
    sshString(Buffer.alloc(0)), // reserved
    sshString("sshca"), // comment
  ]);
  const serials = [...new Set(p.serials)].filter((s) => s > 0n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (serials.length === 0) return header;
  const serialList = Buffer.concat(serials.map(u64));
  const certSection = Buffer.concat([
    sshString(p.caKeyBlob),
    sshString(Buffer.alloc(0)), // reserved
    Buffer.from([KRL_SECTION_CERT_SERIAL_LIST]),
    sshString(serialList),
  ]);
  return Buffer.concat([header, Buffer.from([KRL_SECTION_CERTIFICATES]), sshString(certSection)]);
}

/** Does this look like a KRL (the magic and format version)? Used before replacing a file with it. */
export function isKrl(bytes: Buffer): boolean {
  return bytes.length >= 44 && bytes.subarray(0, 8).equals(KRL_MAGIC) && bytes.readUInt32BE(8) === KRL_FORMAT_VERSION;
}
