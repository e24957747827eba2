import { SshReader, sshString, uint32 } from "../ssh-wire.js";

/**
 * The parts of the ssh-agent protocol a CA needs (draft-miller-ssh-agent, as OpenSSH's
 * ssh-agent speaks it): list the keys, and sign with one. Pure encoding and decoding.
 */

/** Message numbers (draft-miller-ssh-agent section 6.1). */
export const SSH_AGENT_FAILURE = 5;
export const SSH_AGENTC_REQUEST_IDENTITIES = 11;
export const SSH_AGENT_IDENTITIES_ANSWER = 12;
export const SSH_AGENTC_SIGN_REQUEST = 13;
export const SSH_AGENT_SIGN_RESPONSE = 14;

/** Signature flags (section 6.6): which hash an ssh-rsa key signs with (RFC 8332). */
export const SSH_AGENT_RSA_SHA2_256 = 0x02;
export const SSH_AGENT_RSA_SHA2_512 = 0x04;

/** Largest answer accepted from an agent: an identities list of many RSA keys fits easily. */
export const MAX_AGENT_MESSAGE = 256 * 1024;

/** A message on the wire: uint32 length, byte type, contents (section 3). */
export function frame(type: number, body: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([uint32(body.length + 1), Buffer.from([type]), body]);
}

/** SSH_AGENTC_SIGN_REQUEST: string key blob, string data, uint32 flags. */
export function signRequest(keyBlob: Buffer, data: Buffer, flags: number): Buffer {
  return frame(SSH_AGENTC_SIGN_REQUEST, Buffer.concat([sshString(keyBlob), sshString(data), uint32(flags)]));
}

/**
 * Splits one complete message off the front of `buf`: its type and contents, and how many bytes
 * it took; undefined while incomplete. Throws on a length no agent would send.
 */
export function readFrame(buf: Buffer): { type: number; body: Buffer; size: number } | undefined {
  if (buf.length < 4) return undefined;
  const len = buf.readUInt32BE(0);
  if (len < 1 || len > MAX_AGENT_MESSAGE) throw new Error(`the agent sent a message of ${len} bytes`);
  if (buf.length < 4 + len) return undefined;
  return { type: buf[4]!, body: buf.subarray(5, 4 + len), size: 4 + len };
}

/** SSH_AGENT_IDENTITIES_ANSWER: uint32 nkeys, then per key string key blob, string comment. */
export function parseIdentities(body: Buffer): { blob: Buffer; comment: string }[] {
  const r = new SshReader(body);
  const n = r.uint32();
  const out: { blob: Buffer; comment: string }[] = [];
  for (let i = 0; i < n; i++) out.push({ blob: r.string(), comment: r.text() });
  if (!r.atEnd) throw new Error("trailing bytes after the agent's key list");
  return out;
}

/** SSH_AGENT_SIGN_RESPONSE: string signature (itself string algorithm, string blob). */
export function parseSignResponse(body: Buffer): Buffer {
  const r = new SshReader(body);
  const sig = r.string();
  if (!r.atEnd) throw new Error("trailing bytes after the agent's signature");
  return sig;
}
