import type { Command } from "commander";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import { canOpenBrowser, openSecretUrl } from "../oidc/browser.js";

/**
 * sshca console: opens the web console signed in as the CLI's user, through a single-use link
 * that works for a minute (for installs without single sign-on; with it, the console offers the
 * identity provider's sign-in as well).
 */
export function consoleCommand(program: Command, ctx: Ctx): void {
  program
    .command("console")
    .description("open the web console, signed in as you (a one-time link, valid for a minute)")
    .option("--no-browser", "only print the link")
    .option("--json", "print JSON")
    .action(async (o: { browser: boolean; json?: boolean }) => {
      const link = await (await ctx.client()).consoleLink();
      emit(ctx, o.json, link, () => link.url);
      if (!o.browser || !canOpenBrowser(ctx.env)) {
        if (!o.json) ctx.err("Open that link in your browser within a minute; it works once.");
        return;
      }
      if (!(await openSecretUrl(link.url, ctx.env))) ctx.err("Could not open a browser; open the link above yourself.");
    });
}
