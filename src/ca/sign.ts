import sshpk from "sshpk";
import { isPrintable, isValidAddress, PRINCIPAL } from "../config/names.js";
import { SshcaError } from "../errors.js";
import type { CaSigner } from "./signer.js";
import { sshString } from "./ssh-wire.js";

/** Everything that goes into one OpenSSH certificate (PROTOCOL.certkeys). */
export interface CertSpec {
  /** PROTOCOL.certkeys: SSH2_CERT_TYPE_USER (1) or SSH2_CERT_TYPE_HOST (2). Default user. */
  type?: "user" | "host";
  subjectKey: sshpk.Key;
  /** 8 bytes, big-endian, never zero (serial 0 cannot be revoked by serial in a KRL). */
  serial: Buffer;
  keyId: string;
  /** User certificates: login@host principals; host certificates: the host's names and addresses. */
  principals: readonly string[];
  validAfter: Date;
  validBefore: Date;
  /** Critical options by name, e.g. { "force-command": "/usr/bin/true" } (user certificates only). */
  criticalOptions: Readonly<Record<string, string>>;
  extensions: readonly string[];
}

const ANY_HOST = sshpk.identityForHost("**");
const certFormat = sshpk.Certificate.formats.openssh as unknown as sshpk.Format.OpenSshCert;

/**
 * Builds the certificate with sshpk and has `signer` sign its to-be-signed bytes, through the
 * openssh-cert signAsync hook (sshpk's own signer is pure-JS Ed25519 and SHA-1 for RSA): the
 * key file natively, or an ssh-agent. Returns the "ssh-ed25519-cert-v01@openssh.com AAAA..." line.
 */
export async function signCertificate(spec: CertSpec, signer: CaSigner): Promise<string> {
  const type = spec.type ?? "user";
  assertSpec(spec, type);
  const cert = new sshpk.Certificate({
    subjects: spec.principals.map((p) => (type === "host" ? sshpk.identityForHost(p) : sshpk.identityForUser(p))),
    subjectKey: spec.subjectKey,
    issuer: ANY_HOST,
    issuerKey: signer.publicKey,
    serial: spec.serial,
    validFrom: spec.validAfter,
    validUntil: spec.validBefore,
    signatures: {
      openssh: {
        keyId: spec.keyId,
        // PROTOCOL.certkeys: options and extensions "MUST be lexically ordered" by name,
        // each name once. Critical option values are a string inside the data string;
        // extension flags carry empty data.
        exts: [
          ...Object.keys(spec.criticalOptions)
            .sort()
            .map((name) => ({
              critical: true,
              name,
              data: sshString(spec.criticalOptions[name]!),
            })),
          ...[...spec.extensions].sort().map((name) => ({ critical: false, name, data: Buffer.alloc(0) })),
        ],
      } as unknown as sshpk.Format.OpenSshSignature,
    },
  } as unknown as sshpk.CertificateOptions);

  await new Promise<void>((resolve, reject) => {
    certFormat.signAsync(
      cert,
      (blob, done) => {
        signer.sign(blob).then(
          // sshpk only calls toBuffer("ssh") on what we return, so hand back the exact blob.
          (sig) => done(undefined, { toBuffer: () => sig } as unknown as sshpk.Signature),
          (err: Error) => done(err, undefined as unknown as sshpk.Signature),
        );
      },
      (err) => (err ? reject(err) : resolve()),
    );
  }).catch((err: unknown) => {
    if (err instanceof SshcaError) throw err;
    throw new SshcaError("internal", `certificate signing failed: ${(err as Error).message}`);
  });
  return cert.toString("openssh");
}

/** The invariants no caller may break, checked again at the last moment before signing. */
function assertSpec(spec: CertSpec, type: "user" | "host"): void {
  const problems: string[] = [];
  if (spec.principals.length === 0) problems.push("no principals");
  if (spec.principals.length > 256) problems.push("more than 256 principals");
  // A host certificate names the host (a DNS name or an IP literal); no wildcards, no commas.
  const valid = type === "host" ? isValidAddress : (p: string) => PRINCIPAL.test(p);
  for (const p of spec.principals) if (!valid(p)) problems.push(`bad principal ${JSON.stringify(p)}`);
  if (new Set(spec.principals).size !== spec.principals.length) problems.push("duplicate principals");
  if (type === "host" && (Object.keys(spec.criticalOptions).length > 0 || spec.extensions.length > 0))
    problems.push("host certificates carry no options or extensions");
  if (spec.serial.length !== 8 || spec.serial.every((b) => b === 0)) problems.push("serial must be 8 non-zero bytes");
  if (!(spec.validAfter < spec.validBefore)) problems.push("empty validity");
  if (!isPrintable(spec.keyId) || spec.keyId.length === 0) problems.push("key id must be printable ASCII");
  if (spec.subjectKey.type === "dsa") problems.push("DSA subject key");
  if (problems.length > 0) throw new SshcaError("internal", `refusing to sign: ${problems.join(", ")}`);
}
