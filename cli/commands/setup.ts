import type { Command } from "commander";
import type { Ctx } from "../context.js";
import { CliError } from "../errors.js";
import { updateConfigFile } from "../settings.js";

/** sshca bootstrap (server URL) and sshca token set (API token from stdin). */
export function setupCommands(program: Command, ctx: Ctx): void {
  program
    .command("bootstrap")
    .description("remember the sshcad URL in $XDG_CONFIG_HOME/sshca/config.json")
    .requiredOption("--url <url>", "sshcad base URL, e.g. https://ca.example:8443")
    .action(async (o: { url: string }) => {
      if (!/^(https?:\/\/|unix:\/)/.test(o.url))
        throw new CliError("--url must start with https://, http:// or unix:/");
      const path = await updateConfigFile(ctx.env, { url: o.url });
      ctx.err(`Saved ${o.url} to ${path}`);
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
