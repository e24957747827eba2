import type { Command } from "commander";
import { adminRequest } from "../admin/client.js";
import { ringOf } from "../admin/ca-routes.js";
import type { CaKeys, CaStatusView } from "../ca/keyring.js";
import { trustedUserCaKeys } from "../http/trust-lines.js";
import { readPublicKeyFile } from "./user-commands.js";

/** Runs a CA operation through the running daemon's socket, or on the data directory when none runs. */
export type CaAdmin = <T>(
  viaSocket: (socket: string) => Promise<T | undefined>,
  offline: (cas: CaKeys) => Promise<T>,
) => Promise<T>;

/** What a status looks like to an operator: the phase, each key, what to do next, what to publish. */
export function formatStatus(s: CaStatusView): string {
  const what =
    s.ca === "user" ? "TrustedUserCAKeys on target hosts" : "@cert-authority keys for users (sshca known-hosts)";
  const rows = s.keys.map((k) => {
    const when =
      k.status === "retired"
        ? `retired ${k.retiredAt}`
        : k.status === "previous"
          ? `signed until ${k.signingUntil}`
          : k.status === "current"
            ? `signing since ${k.signingSince}`
            : `staged ${k.addedAt}`;
    const live = k.liveCertificates.length
      ? `${k.liveCertificates.length} live certificate(s): ${k.liveCertificates.slice(0, 10).join(", ")}${k.liveCertificates.length > 10 ? ", ..." : ""}`
      : "no live certificates";
    return `  ${k.status.padEnd(8)}  ${k.fingerprint}  ${when}  ${k.file ?? `(${s.custody === "agent" ? "agent" : "no key file"})`}  ${live}${k.problem ? `\n            NOT USABLE HERE: ${k.problem}` : ""}`;
  });
  const lines =
    s.ca === "user"
      ? trustedUserCaKeys({
          keys: s.keys
            .filter((k) => k.status !== "retired")
            .map((k) => ({ ...k, status: k.status as "current" | "next" | "previous" })),
        }).trimEnd()
      : s.published.join("\n");
  return [
    `${s.ca} CA: phase ${s.phase} (keys in ${s.custody === "agent" ? "the ssh-agent" : "key files"}; key set version ${s.version})`,
    ...rows,
    `next step: ${s.nextStep}`,
    `${what} now:`,
    ...lines.split("\n").map((l) => `  ${l}`),
  ].join("\n");
}

/** `sshcad ca status` and `sshcad ca rotate stage|switch|retire|cancel`. */
export function caCommands(
  program: Command,
  { caAdmin, say }: { caAdmin: CaAdmin; say: (line: string) => void },
): void {
  const out = (text: string) => process.stdout.write(`${text}\n`);
  const show = (s: CaStatusView, json: boolean | undefined) =>
    json ? out(JSON.stringify(s, null, 2)) : out(formatStatus(s));
  const kindOf = (o: { host?: boolean }) => (o.host ? "host" : "user");
  const ca = program.command("ca").description("the CA keys: status and rotation (user CA, or --host for the host CA)");

  ca.command("status")
    .description("where the key rotation stands, each key with its live certificates, and what to publish")
    .option("--host", "the host CA instead of the user CA")
    .option("--json", "print JSON")
    .action(async (o: { host?: boolean; json?: boolean }) => {
      const kind = kindOf(o);
      show(
        await caAdmin(
          (s) => adminRequest<CaStatusView>(s, "GET", `/ca/${kind}`),
          (cas) => ringOf(cas, kind).status(),
        ),
        o.json,
      );
    });

  const rotate = ca
    .command("rotate")
    .description("rotate a CA key without lockout: stage a next key, switch signing to it, retire the old one");

  rotate
    .command("stage")
    .description(
      "stage a next key: published beside the current one (sshca ca pubkey) so hosts pick it up; not yet signing",
    )
    .option("--host", "the host CA instead of the user CA")
    .option("--public-key <file>", "ca.signer: agent — the public key of the next key, already added to the agent")
    .option("--json", "print JSON")
    .action(async (o: { host?: boolean; publicKey?: string; json?: boolean }) => {
      const kind = kindOf(o);
      const publicKey = o.publicKey ? await readPublicKeyFile(o.publicKey) : undefined;
      const s = await caAdmin(
        (sock) => adminRequest<CaStatusView>(sock, "POST", `/ca/${kind}/stage`, publicKey ? { publicKey } : {}),
        (cas) => ringOf(cas, kind).stage(publicKey, "admin"),
      );
      show(s, o.json);
      if (!o.json)
        say(
          kind === "user"
            ? "Staged. Put the lines above into TrustedUserCAKeys on every target host (sshca ca pubkey), check each with sshca doctor, then: sshcad ca rotate switch"
            : "Staged. Users refresh their known hosts (sshca known-hosts --out FILE), then: sshcad ca rotate switch --host",
        );
    });

  rotate
    .command("switch")
    .description("sign with the staged key from now on; the old key stays published while its certificates live")
    .option("--host", "the host CA instead of the user CA")
    .option("--json", "print JSON")
    .action(async (o: { host?: boolean; json?: boolean }) => {
      const kind = kindOf(o);
      show(
        await caAdmin(
          (sock) => adminRequest<CaStatusView>(sock, "POST", `/ca/${kind}/switch`, {}),
          (cas) => ringOf(cas, kind).switchKeys("admin"),
        ),
        o.json,
      );
    });

  rotate
    .command("retire")
    .description(
      "retire the previous key: no longer published, and the KRL revokes it; refused while certificates it signed are live (their serials are named) unless --force",
    )
    .option("--host", "the host CA instead of the user CA")
    .option("--key <fingerprint>", "which previous key, when there are several")
    .option("--force", "retire even with live certificates: the KRL revokes them all")
    .option("--json", "print JSON")
    .action(async (o: { host?: boolean; key?: string; force?: boolean; json?: boolean }) => {
      const kind = kindOf(o);
      const body = { force: o.force === true, ...(o.key ? { fingerprint: o.key } : {}) };
      show(
        await caAdmin(
          (sock) => adminRequest<CaStatusView>(sock, "POST", `/ca/${kind}/retire`, body),
          (cas) => ringOf(cas, kind).retire(body, "admin"),
        ),
        o.json,
      );
      if (!o.json)
        say(
          "Retired. Remove its line from TrustedUserCAKeys / known hosts when convenient; the KRL already revokes it.",
        );
    });

  rotate
    .command("cancel")
    .description("withdraw the staged key before it signs (it is revoked in the KRL, since hosts may already trust it)")
    .option("--host", "the host CA instead of the user CA")
    .option("--json", "print JSON")
    .action(async (o: { host?: boolean; json?: boolean }) => {
      const kind = kindOf(o);
      show(
        await caAdmin(
          (sock) => adminRequest<CaStatusView>(sock, "POST", `/ca/${kind}/cancel`, {}),
          (cas) => ringOf(cas, kind).cancel("admin"),
        ),
        o.json,
      );
    });
}
