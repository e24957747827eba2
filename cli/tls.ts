import { X509Certificate } from "node:crypto";
import { connect, type PeerCertificate, type TLSSocket } from "node:tls";
import { certFingerprint } from "../src/http/contract.js";
import { CliError } from "./errors.js";
import type { Settings } from "./settings.js";

/**
 * TLS options for https calls: exactly the pinned CA (from sshca bootstrap), or — only after
 * `sshca bootstrap --system-ca` — Node's default trust. Without either, nothing is trusted.
 * rejectUnauthorized is passed explicitly, so NODE_TLS_REJECT_UNAUTHORIZED=0 cannot turn
 * verification off (tls.connect takes that variable as its default only when the option is not given).
 */
export function tlsOptions(settings: Settings): { ca?: string; rejectUnauthorized: true } {
  if (settings.tlsCa) return { ca: settings.tlsCa, rejectUnauthorized: true };
  if (settings.systemCa) return { rejectUnauthorized: true };
  throw new CliError(
    `no TLS CA is pinned for ${settings.url}: run sshca bootstrap --url ${settings.url} --fingerprint SHA256:... (the TLS CA fingerprint sshcad prints at start)`,
  );
}

/**
 * The TLS CA this CLI verified the server with: the pinned one, or (trusting the system's CAs)
 * the root of the chain the connection was verified against.
 */
export function verifiedTlsCa(settings: Settings, socket: TLSSocket): string | undefined {
  if (settings.tlsCa) return certFingerprint(new X509Certificate(settings.tlsCa).raw);
  if (!socket.authorized) return undefined;
  return certFingerprint(chainRoot(socket.getPeerCertificate(true)).raw);
}

/** The last certificate of a peer chain (self-issued, or the last one the peer sent). */
function chainRoot(cert: PeerCertificate): PeerCertificate {
  let c = cert as PeerCertificate & { issuerCertificate?: PeerCertificate };
  while (c.issuerCertificate && c.issuerCertificate !== c && c.issuerCertificate.raw) c = c.issuerCertificate;
  return c;
}

const TLS_TRUST_ERRORS = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_HAS_EXPIRED",
]);

/** A TLS verification failure, explained; undefined for other errors. */
export function tlsTrustError(code: string | undefined, settings: Settings): CliError | undefined {
  if (!code || !TLS_TRUST_ERRORS.has(code)) return undefined;
  const url = settings.url;
  const trusted = settings.tlsCa ? "the pinned CA" : "a CA this system trusts";
  return new CliError(
    `refusing ${url}: its TLS certificate does not chain to ${trusted} (${code}); if the server is right, pin it: sshca bootstrap --url ${url} --fingerprint SHA256:...`,
  );
}

/**
 * Reads the root of the chain an https server presents, without trusting it yet, so that
 * `sshca bootstrap` can compare it with the fingerprint the operator gave (as step ca bootstrap does).
 */
export function serverRootCa(url: URL): Promise<{ pem: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const socket = connect({
      host,
      port: Number(url.port || 443),
      ...(/^[\d.:]+$/.test(host) ? {} : { servername: host }),
      rejectUnauthorized: false,
    });
    socket.setTimeout(15_000, () => socket.destroy(new Error("timed out")));
    socket.once("secureConnect", () => {
      const cert = chainRoot(socket.getPeerCertificate(true));
      socket.end();
      const b64 = cert.raw.toString("base64").replace(/(.{64})/g, "$1\n");
      resolve({
        pem: `-----BEGIN CERTIFICATE-----\n${b64.trim()}\n-----END CERTIFICATE-----\n`,
        fingerprint: certFingerprint(cert.raw),
      });
    });
    socket.once("error", (err: NodeJS.ErrnoException) =>
      reject(new CliError(`cannot reach ${url.origin}: ${err.code ?? err.message}`)),
    );
  });
}
