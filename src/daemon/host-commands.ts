import type { Command } from "commander";
import { adminRequest } from "../admin/client.js";
import {
  createHostCredential,
  type IssuedHostCredential,
  listHostCredentials,
  revokeHostCredential,
} from "../admin/host-credentials.js";
import { parseToken } from "../auth/tokens.js";
import { parseDuration } from "../config/duration.js";
import { SshcaError } from "../errors.js";
import { type Admin, createSecretFile } from "./user-commands.js";

const enc = encodeURIComponent;

/** `sshcad host credential create|revoke|list`: the credentials target hosts' companions use. */
export function hostCommands(program: Command, { admin, say }: { admin: Admin; say: (line: string) => void }): void {
  const out = (text: string) => process.stdout.write(`${text}\n`);
  const host = program
    .command("host")
    .description("target hosts: their credentials (for sshca host and sshca host cert) and host certificates");
  const credential = host.command("credential").description("host credentials (work only on /v1/host/ routes)");

  credential
    .command("create <host>")
    .description("create a credential for one inventory host's companion and print it once")
    .option("--ttl <duration>", "how long it lives (rotate by creating a new one, then revoking the old)", "365d")
    .option("--token-file <file>", "write the credential to this new file (mode 0600) instead of stdout")
    .option("--json", "print JSON")
    .action(async (name: string, o: { ttl: string; tokenFile?: string; json?: boolean }) => {
      const ttlSeconds = parseDuration(o.ttl);
      if (ttlSeconds === undefined) throw new SshcaError("bad_request", `--ttl ${o.ttl} is not a duration (e.g. 365d)`);
      // The file exists (new, 0600) before the secret does, so a bad path costs nothing.
      const file = o.tokenFile ? await createSecretFile(o.tokenFile) : undefined;
      let c: IssuedHostCredential;
      try {
        c = await admin(
          (s) => adminRequest<IssuedHostCredential>(s, "POST", `/hosts/${enc(name)}/credentials`, { ttlSeconds }),
          (deps) => createHostCredential(deps, name, ttlSeconds, "admin"),
        );
        await file?.write(`${c.token}\n`);
      } catch (err) {
        await file?.discard();
        throw err;
      }
      await file?.close();
      if (o.json) {
        out(JSON.stringify(o.tokenFile ? { ...c, token: undefined, tokenFile: o.tokenFile } : c, null, 2));
        return;
      }
      say(
        `Host credential ${c.credentialId} for ${c.host}, expires ${c.expiresAt}. It works only for sshca host on ${c.host} (KRL, principals, session reports, host certificates).`,
      );
      if (o.tokenFile) {
        say(
          `Written to ${o.tokenFile} (mode 0600; only its hash is kept). Install it on ${c.host} as the companion's credential file.`,
        );
        return;
      }
      say("Shown once (only its hash is kept):");
      out(c.token);
    });

  credential
    .command("revoke <id>")
    .description("revoke a host credential at once (the id is the part after sshca_)")
    .action(async (id: string) => {
      const credentialId = parseToken(id)?.id ?? id;
      const r = await admin(
        (s) =>
          adminRequest<{ credentialId: string; host: string }>(
            s,
            "POST",
            `/host-credentials/${enc(credentialId)}/revoke`,
          ),
        (deps) => revokeHostCredential(deps, credentialId, "admin"),
      );
      say(`Revoked host credential ${r.credentialId} of ${r.host}`);
    });

  credential
    .command("list")
    .description("host credential ids, hosts and expiry (never the credentials themselves)")
    .option("--host <name>", "only this host's credentials")
    .option("--json", "print JSON")
    .action(async (o: { host?: string; json?: boolean }) => {
      const q = o.host ? `?host=${enc(o.host)}` : "";
      const { credentials } = await admin(
        (s) => adminRequest<{ credentials: ReturnType<typeof listHostCredentials> }>(s, "GET", `/host-credentials${q}`),
        (deps) => ({ credentials: listHostCredentials(deps, o.host) }),
      );
      if (o.json) out(JSON.stringify(credentials, null, 2));
      else
        for (const c of credentials)
          out(`${c.credentialId}\t${c.host}\texpires ${c.expiresAt}${c.revokedAt ? `\trevoked ${c.revokedAt}` : ""}`);
    });
}
