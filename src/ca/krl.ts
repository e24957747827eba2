import sshpk from "sshpk";
import type { CaKeySet } from "../domain/ca.js";
import { krlKeys } from "./keyset.js";
import { sshString, uint32, uint64 } from "./ssh-wire.js";

/** PROTOCOL.krl: "SSHKRL\n\0", format version 1, certificate sections with serial lists, explicit keys. */
const KRL_MAGIC = Buffer.from("SSHKRL\n\0", "binary");
const KRL_FORMAT_VERSION = 1;
const KRL_SECTION_CERTIFICATES = 1;
const KRL_SECTION_EXPLICIT_KEY = 2;
const KRL_SECTION_CERT_SERIAL_LIST = 0x20;

/** What one KRL revokes: serials per CA key, and keys revoked outright (retired CA keys). */
export interface KrlContent {
  /** One certificate section per CA key (PROTOCOL.krl: serials are scoped by the CA key). */
  sections: { caKeyBlob: Buffer; serials: readonly bigint[] }[];
  /** Public key blobs revoked whole; a revoked CA key revokes every certificate it signed. */
  revokedKeys: Buffer[];
}

/**
 * A key revocation list (PROTOCOL.krl). An empty list is still a valid KRL: sshd refuses every
 * public-key login if RevokedKeys is missing or unreadable, so there is always a file. Sections
 * in the order ssh-keygen -k writes them: certificates first, then explicit keys. Pure.
 */
export function buildKrl(p: KrlContent & { version: bigint; generatedAt: Date }): Buffer {
  const header = Buffer.concat([
    KRL_MAGIC,
    uint32(KRL_FORMAT_VERSION),
    uint64(p.version),
    uint64(BigInt(Math.floor(p.generatedAt.getTime() / 1000))),
    uint64(0n), // flags
    sshString(Buffer.alloc(0)), // reserved
    sshString("sshca"), // comment
  ]);
  const parts: Buffer[] = [header];
  for (const s of p.sections) {
    const serials = [...new Set(s.serials)].filter((n) => n > 0n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (serials.length === 0) continue;
    const certSection = Buffer.concat([
      sshString(s.caKeyBlob),
      sshString(Buffer.alloc(0)), // reserved
      Buffer.from([KRL_SECTION_CERT_SERIAL_LIST]),
      sshString(Buffer.concat(serials.map(uint64))),
    ]);
    parts.push(Buffer.from([KRL_SECTION_CERTIFICATES]), sshString(certSection));
  }
  if (p.revokedKeys.length > 0) {
    const keys = Buffer.concat(p.revokedKeys.map((k) => sshString(k)));
    parts.push(Buffer.from([KRL_SECTION_EXPLICIT_KEY]), sshString(keys));
  }
  return Buffer.concat(parts);
}

/** Does this look like a KRL (the magic and format version)? Used before replacing a file with it. */
export function isKrl(bytes: Buffer): boolean {
  return bytes.length >= 44 && bytes.subarray(0, 8).equals(KRL_MAGIC) && bytes.readUInt32BE(8) === KRL_FORMAT_VERSION;
}

const blobOf = (line: string) => sshpk.parseKey(line, "ssh").toBuffer("rfc4253");

/**
 * What a CA's KRL must say: the revoked serials of every key still published (current, next,
 * previous: each key with live certificates), listed under the key that signed them, and every
 * retired key revoked whole. Serials signed by keys the set does not know are returned as
 * `unknown` (they cannot be listed: a KRL names the CA key of each serial). Pure.
 */
export function krlContent(
  set: CaKeySet,
  revoked: readonly { serial: string; caFingerprint: string }[],
): KrlContent & { unknown: string[] } {
  const { listed, revoked: retired } = krlKeys(set);
  const known = new Set(set.keys.map((k) => k.fingerprint));
  return {
    sections: listed.map((k) => ({
      caKeyBlob: blobOf(k.publicKey),
      serials: revoked.filter((r) => r.caFingerprint === k.fingerprint).map((r) => BigInt(r.serial)),
    })),
    revokedKeys: retired.map((k) => blobOf(k.publicKey)),
    unknown: revoked.filter((r) => !known.has(r.caFingerprint)).map((r) => r.serial),
  };
}
