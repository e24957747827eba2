import { connect } from "node:tls";
import { certFingerprint } from "../src/http/contract.js";
import { CliError } from "./errors.js";
import type { Settings } from "./settings.js";

/** TLS options for https calls: trust exactly the pinned CA (from sshca bootstrap), nothing else. */
export function tlsOptions(settings: Settings): Record<string, unknown> {
  return settings.tlsCa ? { ca: settings.tlsCa } : {};
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
export function tlsTrustError(code: string | undefined, url: string): CliError | undefined {
  if (!code || !TLS_TRUST_ERRORS.has(code)) return undefined;
  return new CliError(
    `refusing ${url}: its TLS certificate does not chain to the pinned CA (${code}); if the server is right, pin it: sshca bootstrap --url ${url} --fingerprint SHA256:...`,
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
      let cert = socket.getPeerCertificate(true);
      while (cert.issuerCertificate && cert.issuerCertificate !== cert && cert.issuerCertificate.raw)
        cert = cert.issuerCertificate;
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
