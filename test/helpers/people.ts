import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { SSHCA } from "./daemon.js";
import { type Result, type Running, run, start } from "./procs.js";
import { tempDir } from "./tmp.js";
import { tool } from "./tools.js";

/** A CLI user with their own HOME, XDG config, SSH key and API token. */
export interface Person {
  name: string;
  home: string;
  key: string;
  env: NodeJS.ProcessEnv;
  /** Runs `sshca <args>` to completion. */
  sshca(args: string[], input?: string): Promise<Result>;
  /** Starts `sshca <args>` in the background (login waiting for approval; keepStdin to answer a prompt). */
  spawn(args: string[], opts?: { keepStdin?: boolean }): Running;
}

/**
 * A person talking to `daemon`. With HTTPS they pin its TLS CA first, exactly as users do:
 * `sshca bootstrap --url URL --fingerprint SHA256:...`.
 */
export async function makePerson(
  name: string,
  daemon: { url: string; tlsFingerprint?: string | undefined } | string,
  token: string,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<Person> {
  const target = typeof daemon === "string" ? { url: daemon, tlsFingerprint: undefined } : daemon;
  const url = target.url;
  const home = tempDir(`home-${name}`);
  mkdirSync(join(home, ".ssh"), { mode: 0o700 });
  const key = join(home, ".ssh", "id_ed25519");
  const kg = await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@test`, "-f", key]);
  if (kg.code !== 0) throw new Error(`ssh-keygen failed: ${kg.stderr}`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    SSHCA_URL: url,
    SSHCA_TOKEN: token,
    ...extraEnv,
  };
  const person: Person = {
    name,
    home,
    key,
    env,
    sshca: (args, input) => run(process.execPath, [SSHCA, ...args], { env, ...(input !== undefined ? { input } : {}) }),
    spawn: (args, o) => start(process.execPath, [SSHCA, ...args], { env, ...o }),
  };
  if (target.tlsFingerprint) {
    const b = await person.sshca(["bootstrap", "--url", url, "--fingerprint", target.tlsFingerprint]);
    if (b.code !== 0) throw new Error(`sshca bootstrap failed: ${b.stderr}`);
  }
  return person;
}

/** Parses JSON stdout of a successful sshca run, or fails with its stderr. */
export function json<T = Record<string, unknown>>(r: Result): T {
  if (r.code !== 0) throw new Error(`sshca exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
