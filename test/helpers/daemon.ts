import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { type Result, type Running, run, start } from "./procs.js";
import { tempDir } from "./tmp.js";

export const ROOT = resolve(import.meta.dirname, "..", "..");
export const SSHCAD = join(ROOT, "dist", "src", "main.js");
export const SSHCA = join(ROOT, "dist", "cli", "main.js");

export interface TestDaemon {
  url: string;
  /** The TLS CA fingerprint from the banner (undefined with tls.enabled: false). */
  tlsFingerprint: string | undefined;
  dataDir: string;
  configPath: string;
  proc: Running;
  /** Runs `sshcad --config ... --data-dir ... <args>`. */
  sshcad(args: string[], input?: string): Promise<Result>;
  /** `sshcad user add NAME --group ...`, returning the printed token. */
  addUser(name: string, groups: string[]): Promise<string>;
  /** SIGTERM and wait. */
  stop(): Promise<Result>;
  /** SIGKILL and wait. */
  kill(): Promise<Result>;
  /** Starts a new daemon process on the same config and data directory. */
  restart(): Promise<TestDaemon>;
}

/** Writes a config object as YAML into a new temp directory. */
export function writeConfig(config: object): string {
  const dir = tempDir("cfg");
  const path = join(dir, "sshcad.yaml");
  writeFileSync(path, stringify(config));
  return path;
}

/** Starts `sshcad serve` as a real subprocess and waits for its banner. */
export async function startDaemon(opts: {
  configPath: string;
  dataDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Run the daemon as this uid (and gid); its files must be accessible to it. */
  uid?: number;
}): Promise<TestDaemon> {
  const dataDir = opts.dataDir ?? join(tempDir("data"), "d");
  const env = {
    ...process.env,
    ...opts.env,
    SSHCAD_LOG_LEVEL: process.env.SSHCAD_LOG_LEVEL ?? "info",
  };
  const base = ["--config", opts.configPath, "--data-dir", dataDir];
  const as = opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {};
  const proc = start(process.execPath, [SSHCAD, ...base, "serve"], { env, ...as });
  const m = await proc.waitFor(/sshcad listening on (\S+)/, 20_000);
  const url = m[1]!;
  const tlsFingerprint = /TLS CA\s+(SHA256:\S+)/.exec(proc.stderr())?.[1];
  const sshcad = (args: string[], input?: string) =>
    run(process.execPath, [SSHCAD, ...base, ...args], {
      env,
      ...(input !== undefined ? { input } : {}),
    });
  const self: TestDaemon = {
    url,
    tlsFingerprint,
    dataDir,
    configPath: opts.configPath,
    proc,
    sshcad,
    addUser: async (name, groups) => {
      const r = await sshcad(["user", "add", name, ...groups.flatMap((g) => ["--group", g])]);
      if (r.code !== 0) throw new Error(`user add ${name} failed: ${r.stderr}`);
      return r.stdout.trim();
    },
    stop: async () => {
      proc.proc.kill("SIGTERM");
      return proc.done;
    },
    kill: async () => {
      proc.proc.kill("SIGKILL");
      return proc.done;
    },
    restart: () => startDaemon({ ...opts, dataDir }),
  };
  return self;
}
