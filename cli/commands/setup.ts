import type { Command } from "commander";
import { normaliseFingerprint } from "../../src/http/contract.js";
import { ApiClient } from "../client.js";
import type { Ctx } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { updateConfigFile } from "../settings.js";
import { serverRootCa } from "../tls.js";
import { isLoopbackAddress } from "../transport.js";

const FROM_BANNER = "(the TLS CA fingerprint sshcad prints at start)";

/** Settings for one probe of a server during bootstrap: no token, only the given trust. */
const probe = (url: string, trust: { tlsCa?: string; systemCa?: boolean } = {}): ApiClient =>
  new ApiClient({
    url,
    token: undefined,
    tlsFingerprint: undefined,
    tlsCa: trust.tlsCa,
    systemCa: trust.systemCa === true,
  });

/** sshca bootstrap (server URL and TLS CA pin) and sshca token set (API token from stdin). */
export function setupCommands(program: Command, ctx: Ctx): void {
  program
    .command("bootstrap")
    .description("pin the daemon's TLS CA by its fingerprint and remember the URL (like step ca bootstrap)")
    .requiredOption("--url <url>", "sshcad base URL, e.g. https://ca.example:8443")
    .option("--fingerprint <fp>", "the TLS CA fingerprint the daemon prints at start (SHA256:...); required for https")
    .option("--system-ca", "no pin: trust the server's certificate if this system's CAs do (e.g. a public CA)")
    .action(async (o: { url: string; fingerprint?: string; systemCa?: boolean }) => {
      if (o.url.startsWith("unix:")) {
        await probe(o.url).ca();
        const path = await updateConfigFile(ctx.env, unpinned(o.url));
        ctx.err(`Saved ${o.url} to ${path} (a unix socket: nothing to pin)`);
        return;
      }
      let url: URL;
      try {
        url = new URL(o.url);
      } catch {
        throw new CliError(`--url ${o.url} is not a URL`, EXIT.usage);
      }
      if (url.protocol === "http:") {
        await bootstrapPlain(ctx, o.url, url, o.fingerprint !== undefined || o.systemCa === true);
        return;
      }
      if (url.protocol !== "https:") throw new CliError("--url must be https:// (or http:// on loopback)", EXIT.usage);
      if (o.systemCa) {
        if (o.fingerprint !== undefined) throw new CliError("give --fingerprint or --system-ca, not both", EXIT.usage);
        await probe(o.url, { systemCa: true }).ca();
        const path = await updateConfigFile(ctx.env, { ...unpinned(o.url), systemCa: true });
        ctx.err(`Trusting the system's CAs for ${url.origin} (no pin); saved to ${path}`);
        return;
      }
      if (o.fingerprint === undefined) {
        throw new CliError(
          `--fingerprint SHA256:... is required for https ${FROM_BANNER}, or --system-ca for a server whose certificate this system already trusts`,
          EXIT.usage,
        );
      }
      const pin = normaliseFingerprint(o.fingerprint);
      if (!pin) {
        throw new CliError(
          `--fingerprint ${o.fingerprint} is malformed: expected SHA256: and 43 base64 characters, as sshcad prints it (TLS CA SHA256:...)`,
          EXIT.usage,
        );
      }
      const root = await serverRootCa(url);
      // The server's own fingerprint is never shown: it would invite pasting it unchecked.
      if (root.fingerprint !== pin) throw await mismatch(o.url, url, pin, root.pem);
      // The pinned CA must also verify the server's certificate for this name.
      await probe(o.url, { tlsCa: root.pem }).ca();
      const path = await updateConfigFile(ctx.env, {
        url: o.url,
        tlsFingerprint: pin,
        tlsCa: root.pem,
        systemCa: undefined,
      });
      ctx.err(`Pinned TLS CA ${pin} for ${url.origin}; saved to ${path}`);
    });

  program
    .command("token")
    .description("API token")
    .command("set")
    .description("store the API token read from stdin (never from argv) in the config file, mode 0600")
    .action(async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      const token = Buffer.concat(chunks).toString("utf8").trim();
      if (!/^sshca_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/.test(token)) {
        throw new CliError("stdin does not hold an sshca API token (sshca_..._...)");
      }
      const path = await updateConfigFile(ctx.env, { token });
      ctx.err(`Saved the token to ${path}`);
    });
}

/** A config patch for a server reached without TLS, or trusted without a pin: no pin is kept. */
const unpinned = (url: string) => ({ url, tlsFingerprint: undefined, tlsCa: undefined, systemCa: undefined });

/** http:// only to a loopback IP address, and only to a server that really speaks plain HTTP. */
async function bootstrapPlain(ctx: Ctx, text: string, url: URL, tlsFlags: boolean): Promise<void> {
  if (!isLoopbackAddress(url.hostname)) {
    throw new CliError(
      "plain http is only for a daemon on this machine's loopback IP address (127.0.0.0/8, ::1) or a unix socket; use https",
      EXIT.usage,
    );
  }
  try {
    await probe(text).ca();
  } catch (err) {
    const https = new URL(`https://${url.host}`);
    const speaksTls = await serverRootCa(https).then(
      () => true,
      () => false,
    );
    if (!speaksTls) throw err;
    throw new CliError(
      `${url.origin} speaks HTTPS: run sshca bootstrap --url ${https.origin} --fingerprint SHA256:... ${FROM_BANNER}`,
      EXIT.usage,
    );
  }
  if (tlsFlags) throw new CliError("--fingerprint and --system-ca are for https:// URLs", EXIT.usage);
  const path = await updateConfigFile(ctx.env, unpinned(text));
  ctx.err(`Saved ${text} to ${path} (plain HTTP on loopback: nothing to pin)`);
}

/**
 * Why the server's TLS CA is not the pinned one. A common slip is pasting the SSH CA key's
 * fingerprint (what /v1/ca shows): asking the server (through the CA it presents, for this
 * message only) tells that slip apart from a wrong or hostile server.
 */
async function mismatch(text: string, url: URL, pin: string, presentedCa: string): Promise<CliError> {
  const sshCa = await probe(text, { tlsCa: presentedCa })
    .ca()
    .then(
      (ca) => ca.fingerprint,
      () => undefined,
    );
  if (sshCa === pin) {
    return new CliError(
      `${pin} is the fingerprint of the SSH CA key (what sshca ca pubkey and /v1/ca show), not of the TLS CA; use the TLS CA fingerprint sshcad prints at start (TLS CA SHA256:...)`,
    );
  }
  return new CliError(
    `refusing ${url.origin}: its TLS CA does not match the fingerprint ${pin}; check it with the operator (sshcad prints it at start as "TLS CA SHA256:...")`,
  );
}
