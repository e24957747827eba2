import { generateKeyPairSync, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import forge from "node-forge";
import { certificateSerial } from "../../src/tls/serial.js";

/** Files and PEMs for a TLS syslog receiver on 127.0.0.1 and a client certificate for sshcad, one CA. */
export interface SyslogTlsFiles {
  caFile: string;
  caPem: string;
  serverCert: string;
  serverKey: string;
  clientCertFile: string;
  clientKeyFile: string;
}

function rsa() {
  // node:crypto makes the key; node-forge only builds and signs the X.509 (pitfalls: never to verify).
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  return {
    pem,
    priv: forge.pki.privateKeyFromPem(pem),
    pub: forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }) as string),
  };
}

function cert(
  pub: forge.pki.rsa.PublicKey,
  cn: string,
  issuer: forge.pki.CertificateField[],
  extensions: object[],
  signer: forge.pki.rsa.PrivateKey,
): forge.pki.Certificate {
  const c = forge.pki.createCertificate();
  c.publicKey = pub;
  c.serialNumber = certificateSerial(randomBytes(16));
  c.validity.notBefore = new Date(Date.now() - 5 * 60_000);
  c.validity.notAfter = new Date(Date.now() + 86_400_000);
  c.setSubject([{ name: "commonName", value: cn }]);
  c.setIssuer(issuer);
  c.setExtensions(extensions);
  c.sign(signer, forge.md.sha256.create()); // SHA-1 (the default) is refused by OpenSSL 3
  return c;
}

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate (CN sshcad-client). */
export function writeSyslogTls(dir: string): SyslogTlsFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKeys = rsa();
  const caName = [{ name: "commonName", value: `syslog test CA ${randomBytes(4).toString("hex")}` }];
  const ca = cert(
    caKeys.pub,
    caName[0]!.value,
    caName,
    [
      { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    ],
    caKeys.priv,
  );
  const leaf = (cn: string, usage: object, san: object[]) => {
    const keys = rsa();
    const c = cert(
      keys.pub,
      cn,
      caName,
      [
        { name: "basicConstraints", cA: false, critical: true },
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
        { name: "extKeyUsage", ...usage },
        ...(san.length ? [{ name: "subjectAltName", altNames: san }] : []),
      ],
      caKeys.priv,
    );
    return { cert: forge.pki.certificateToPem(c), key: keys.pem };
  };
  const server = leaf("127.0.0.1", { serverAuth: true }, [{ type: 7, ip: "127.0.0.1" }]);
  const client = leaf("sshcad-client", { clientAuth: true }, []);
  const caPem = forge.pki.certificateToPem(ca);
  const caFile = join(dir, "ca.crt");
  writeFileSync(caFile, caPem);
  const clientCertFile = join(dir, "client.crt");
  const clientKeyFile = join(dir, "client.key");
  writeFileSync(clientCertFile, client.cert);
  writeFileSync(clientKeyFile, client.key, { mode: 0o600 });
  chmodSync(clientKeyFile, 0o600);
  return { caFile, caPem, serverCert: server.cert, serverKey: server.key, clientCertFile, clientKeyFile };
}
