import { accessSync, constants, realpathSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";

/** How a user types the two commands from where the daemon was started. */
export interface Invocation {
  sshcad: string;
  sshca: string;
}

/**
 * `sshcad` / `sshca` when those names on PATH are this very installation; otherwise `node
 * <path>` to the built files, relative to the working directory, so the banner's commands work
 * as printed from a checkout, without root and without `npm link`. The daemon's own
 * `--config` / `--data-dir` are repeated when they were given, so admin commands reach it.
 */
export function invocation(p: {
  daemonScript: string;
  cwd: string;
  path: string | undefined;
  config?: string | undefined;
  dataDir?: string | undefined;
}): Invocation {
  const script = safeReal(resolve(p.daemonScript));
  const cli = join(dirname(dirname(script)), "cli", "main.js");
  const flags = [
    ...(p.config ? ["--config", shellWord(p.config)] : []),
    ...(p.dataDir ? ["--data-dir", shellWord(p.dataDir)] : []),
  ].join(" ");
  const call = (name: string, file: string) => {
    const onPath = (p.path ?? "")
      .split(":")
      .some((dir) => dir && isExecutable(join(dir, name)) && safeReal(join(dir, name)) === safeReal(file));
    if (onPath) return name;
    const rel = relative(p.cwd, file);
    return `node ${shellWord(rel.startsWith("..") || isAbsolute(rel) ? file : rel)}`;
  };
  return {
    sshcad: [call("sshcad", script), flags].filter(Boolean).join(" "),
    sshca: call("sshca", cli),
  };
}

/** The start-up banner: where it listens, what it trusts, and the next commands, runnable as printed. */
export function banner(p: {
  url: string;
  caFingerprint: string;
  caAlgorithm: string;
  caCreated: boolean;
  tlsFingerprint: string | undefined;
  configPath: string;
  dataDir: string;
  run: Invocation;
}): string {
  const { sshcad, sshca } = p.run;
  return [
    ``,
    `sshcad listening on ${p.url}`,
    `  CA key     ${p.caFingerprint} (${p.caAlgorithm})${p.caCreated ? " - created now" : ""}`,
    ...(p.tlsFingerprint ? [`  TLS CA     ${p.tlsFingerprint}`] : [`  TLS        off (plain HTTP on ${p.url})`]),
    `  config     ${p.configPath}`,
    `  data       ${p.dataDir}`,
    `Next (in another shell):`,
    `  ${sshcad} user add alice --group dev --token-file alice.token   # 0600; the token is shown once`,
    p.tlsFingerprint
      ? `  ${sshca} bootstrap --url ${p.url} --fingerprint ${p.tlsFingerprint}`
      : `  ${sshca} bootstrap --url ${p.url}`,
    `  ${sshca} token set < alice.token`,
    `  ${sshca} ca pubkey        # the TrustedUserCAKeys line for target hosts`,
    `  ${sshca} login --role debug --host web-1 --reason "INC-1 disk full"`,
    ``,
  ].join("\n");
}

function safeReal(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A path as one shell word: quoted only when it needs to be. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
