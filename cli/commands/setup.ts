import type { Command } from "commander";
import { normaliseFingerprint } from "../../src/http/contract.js";
import { ApiClient } from "../client.js";
import type { Ctx } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { updateConfigFile } from "../settings.js";
import { serverRootCa } from "../tls.js";

/** sshca bootstrap (server URL and TLS CA pin) and sshca token set (API token from stdin). */
export function setupCommands(program: Command, ctx: Ctx): void {
  program
    .command("bootstrap")
    .description("pin the daemon's TLS CA by its fingerprint and remember the URL (like step ca bootstrap)")
    .requiredOption("--url <url>", "sshcad base URL, e.g. https://ca.example:8443")
    .option("--fingerprint <fp>", "the TLS CA fingerprint the daemon prints at start (SHA256:...); required for https")
    .action(async (o: { url: string; fingerprint?: string }) => {
      let url: URL;
      try {
        url = new URL(o.url);
      } catch {
        throw new CliError(`--url ${o.url} is not a URL`, EXIT.usage);
      }
      if (url.protocol === "http:") {
        if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname) && !url.hostname.startsWith("127.")) {
          throw new CliError("plain http is only for a daemon on this machine's loopback; use https", EXIT.usage);
        }
        const path = await updateConfigFile(ctx.env, { url: o.url, tlsFingerprint: undefined, tlsCa: undefined });
        ctx.err(`Saved ${o.url} to ${path} (plain HTTP on loopback: nothing to pin)`);
        return;
      }
      if (url.protocol !== "https:") throw new CliError("--url must be https:// (or http:// on loopback)", EXIT.usage);
      const pin = o.fingerprint ? normaliseFingerprint(o.fingerprint) : undefined;
      if (!pin)
        throw new CliError("--fingerprint SHA256:... is required for https (sshcad prints it at start)", EXIT.usage);
      const root = await serverRootCa(url);
      if (root.fingerprint !== pin) {
        throw new CliError(`refusing ${url.origin}: its TLS CA is ${root.fingerprint}, not the pinned ${pin}`);
      }
      // The pinned CA must also verify the server's certificate for this name.
      const settings = { url: o.url, token: undefined, tlsFingerprint: pin, tlsCa: root.pem };
      await new ApiClient(settings, { ca: root.pem }).ca();
      const path = await updateConfigFile(ctx.env, { url: o.url, tlsFingerprint: pin, tlsCa: root.pem });
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
