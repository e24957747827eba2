#!/usr/bin/env node
/** sshca: the command-line client of sshcad. Everything goes through the HTTP API. */
import { Command, CommanderError } from "commander";
import { auditCommands } from "./commands/audit.js";
import { authCommands } from "./commands/auth.js";
import { decideCommands } from "./commands/decide.js";
import { consoleCommand } from "./commands/console.js";
import { doctorCommand } from "./commands/doctor.js";
import { factorCommands } from "./commands/factors.js";
import { hostCommand } from "./commands/host.js";
import { reportCommand } from "./commands/report.js";
import { infoCommands } from "./commands/info.js";
import { hostCertCommand } from "./commands/host-cert.js";
import { knownHostsCommands } from "./commands/known-hosts.js";
import { keyCommands } from "./commands/keys.js";
import { loginCommand } from "./commands/login.js";
import { requestCommand } from "./commands/request.js";
import { revokeCommands } from "./commands/revoke.js";
import { scanCommands } from "./commands/scans.js";
import { setupCommands } from "./commands/setup.js";
import { createCtx } from "./context.js";
import { CliError, EXIT } from "./errors.js";
import { packageVersion } from "./version.js";

const GLOBAL_OPTIONS = ["--url", "--token-file"];

/**
 * Commander's usage errors, on one line. A global option after the command is an unknown
 * option to that command: say where it belongs instead.
 */
function usageLine(text: string): string {
  const first = text.split("\n")[0] ?? "";
  const unknown = /^error: unknown option '([^'=]+)/.exec(first)?.[1];
  if (unknown && GLOBAL_OPTIONS.includes(unknown))
    return `sshca: ${unknown} is a global option and goes before the command: sshca ${unknown} ... <command> ...\n`;
  return first ? `${first}\n` : text;
}

const program = new Command("sshca")
  .description("request, approve and install short-lived SSH certificates from sshcad")
  .version(packageVersion(), "-V, --version", "print the sshca version")
  .option("--url <url>", "sshcad URL (default: $SSHCA_URL, then the config file)")
  .option("--token-file <file>", "read the API token from this file (default: $SSHCA_TOKEN, then the config file)")
  // Global options go before the command (sshca --url U whoami), so `bootstrap --url` is its own.
  .enablePositionalOptions()
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(usageLine(text)) });

const ctx = createCtx(process.env, () => program.opts<{ url?: string; tokenFile?: string }>());
loginCommand(program, ctx);
requestCommand(program, ctx);
decideCommands(program, ctx);
infoCommands(program, ctx);
setupCommands(program, ctx);
auditCommands(program, ctx);
scanCommands(program, ctx);
revokeCommands(program, ctx);
authCommands(program, ctx);
keyCommands(program, ctx);
factorCommands(program, ctx);
doctorCommand(program, ctx);
consoleCommand(program, ctx);
knownHostsCommands(program, ctx);
// `sshca host` (the companion) first: `sshca host cert` is its subcommand.
hostCommand(program, ctx);
hostCertCommand(program, ctx);
reportCommand(program, ctx);
for (const cmd of program.commands) {
  cmd.exitOverride();
  for (const sub of cmd.commands) sub.exitOverride();
}

program.parseAsync().then(
  () => process.exit(EXIT.ok),
  (err: unknown) => {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
    }
    if (err instanceof CliError) {
      process.stderr.write(`sshca: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`sshca: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(EXIT.error);
  },
);
