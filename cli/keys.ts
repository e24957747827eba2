import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { CliError } from "./errors.js";
import { writeFileSafely } from "./safe-write.js";

export const DEFAULT_KEY = "~/.ssh/id_ed25519";

/** Expands a leading "~/" the way a shell would. */
export function expandHome(path: string): string {
  return path === "~" ? homedir() : path.startsWith("~/") ? join(homedir(), path.slice(2)) : resolve(path);
}

/** The public half of an identity file: `<key>.pub`, as ssh-keygen writes it. */
export async function readPublicKey(keyPath: string): Promise<{ line: string; fingerprint: string }> {
  const pubPath = `${keyPath}.pub`;
  let text: string;
  try {
    text = await readFile(pubPath, "utf8");
  } catch {
    throw new CliError(
      `no public key at ${pubPath} (create a key with: ssh-keygen -t ed25519 -f ${keyPath}, or choose one with --key)`,
    );
  }
  const [type, b64] = text.trim().split(/\s+/);
  if (!type || !b64) throw new CliError(`${pubPath} is not an OpenSSH public key`);
  const blob = Buffer.from(b64, "base64");
  return {
    line: `${type} ${b64}`,
    fingerprint: `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`,
  };
}

/**
 * Writes `<key>-cert.pub` atomically, where ssh and ssh-add look for it; says whether it
 * replaced a certificate file that was there.
 */
export async function writeCertificate(
  keyPath: string,
  certLine: string,
): Promise<{ path: string; replaced: boolean }> {
  const path = `${keyPath}-cert.pub`;
  const { replaced } = await writeFileSafely(path, `${certLine.trim()}\n`, 0o644);
  return { path, replaced };
}

/**
 * Adds key and certificate to the running ssh-agent with a lifetime equal to the
 * certificate's remaining validity (ssh-add loads `<key>-cert.pub` along with the key).
 * Returns a warning instead of failing: the certificate file is already usable.
 */
export async function addToAgent(
  keyPath: string,
  seconds: number,
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  if (!env.SSH_AUTH_SOCK) return "no ssh-agent running (SSH_AUTH_SOCK unset); the certificate file is ready for ssh";
  try {
    await execa("ssh-add", ["-t", String(Math.max(1, seconds)), "--", keyPath], {
      env,
      stdin: "inherit",
      timeout: 120_000,
    });
    return undefined;
  } catch (err) {
    const e = err as { stderr?: string; shortMessage?: string };
    const why = (e.stderr ?? "").trim().split("\n")[0] || "ssh-add failed";
    return `could not add the key to ssh-agent (${why}); the certificate file is ready for ssh`;
  }
}
