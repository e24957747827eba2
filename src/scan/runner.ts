import { lookup } from "node:dns/promises";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { setPriority } from "node:os";
import { join } from "node:path";
import { isIP } from "node:net";
import { execa } from "execa";
import { SshcaError } from "../errors.js";
import { classifyRun } from "./outcome.js";
import { parseNmapXml } from "./nmap-xml.js";
import { portSpec } from "./ports.js";
import type { PortResult, ScanOutcome } from "../domain/scan.js";

/** Niceness of nmap processes (lower priority than the daemon). */
const SCAN_NICENESS = 10;

export interface NmapSettings {
  path: string;
  hostTimeoutSeconds: number;
  versionDetection: boolean;
}

/**
 * nmap's arguments for one target. An argument array (no shell), connect scan without ping or
 * DNS (-sT -Pn -n, unprivileged: no raw sockets needed), bounded by --host-timeout, XML on
 * stdout, and "--" before the single target so nothing after it can be read as an option.
 * The target is an IP address sshcad resolved from its own inventory; nothing from a request
 * reaches these arguments. Pure.
 */
export function nmapArgs(ip: string, ports: readonly number[], s: Omit<NmapSettings, "path">): string[] {
  if (isIP(ip) === 0) throw new Error(`refusing to scan ${JSON.stringify(ip)}: not an IP address`);
  return [
    "-sT",
    "-Pn",
    "-n",
    "--unprivileged",
    ...(s.versionDetection ? ["-sV", "--version-light"] : []),
    "--max-retries",
    "2",
    "--host-timeout",
    `${s.hostTimeoutSeconds}s`,
    "-p",
    portSpec(ports),
    "-oX",
    "-",
    "--",
    ip,
  ];
}

/** One IP for an inventory address: the literal itself, or the first address DNS gives. */
export async function resolveTarget(address: string): Promise<string> {
  if (isIP(address) !== 0) return address;
  try {
    const { address: ip } = await lookup(address, { verbatim: true });
    if (isIP(ip) === 0) throw new Error("resolver returned a non-IP");
    return ip;
  } catch (err) {
    throw new SshcaError(
      "unavailable",
      `cannot resolve ${address}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/** An executable by absolute path, or looked up on PATH like a shell would. */
export async function resolveExecutable(name: string, pathEnv = process.env.PATH ?? ""): Promise<string | undefined> {
  const candidates = name.includes("/")
    ? [name]
    : pathEnv
        .split(":")
        .filter(Boolean)
        .map((d) => join(d, name));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

/** The installed nmap (absolute path) and its version, or an error telling how to install it. */
export async function findNmap(name: string): Promise<{ path: string; version: string }> {
  try {
    const path = await resolveExecutable(name);
    if (!path) throw new Error("not found");
    const { stdout } = await execa(path, ["--version"], { timeout: 15_000 });
    return { path, version: /Nmap version (\S+)/.exec(stdout)?.[1] ?? "unknown" };
  } catch {
    throw new SshcaError(
      "config_invalid",
      `nmap is not installed (or "${name}" is not runnable): install it (apt-get install -y nmap) or set scanning.enabled: false`,
    );
  }
}

export interface NmapResult {
  args: string[];
  outcome: ScanOutcome;
  error?: string;
  ports: PortResult[];
  extraPorts: { state: string; count: number }[];
  durationMs: number;
}

/** Runs nmap against one IP and classifies the result. Never throws for a failed scan. */
export async function runNmap(ip: string, ports: readonly number[], s: NmapSettings): Promise<NmapResult> {
  const args = nmapArgs(ip, ports, s);
  const started = process.hrtime.bigint();
  const elapsed = () => Math.round(Number(process.hrtime.bigint() - started) / 1e6);
  // The process is bounded too, beyond nmap's own --host-timeout.
  const child = execa(s.path, args, {
    // Not the daemon's environment (it may hold webhook secrets): only what nmap needs.
    extendEnv: false,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C" },
    timeout: (s.hostTimeoutSeconds + 30) * 1000,
    reject: false,
    stdin: "ignore",
    maxBuffer: 16 * 1024 * 1024,
  });
  // Scans are background work: nmap yields the CPU to the daemon answering requests.
  if (child.pid !== undefined) {
    try {
      setPriority(child.pid, SCAN_NICENESS);
    } catch {
      // not allowed here; run at normal priority
    }
  }
  const res = await child;
  const base = { args, ports: [] as PortResult[], extraPorts: [] as { state: string; count: number }[] };
  if (res.timedOut)
    return {
      ...base,
      outcome: "timeout",
      error: "nmap ran past its process time limit and was stopped",
      durationMs: elapsed(),
    };
  let run: ReturnType<typeof parseNmapXml>;
  try {
    run = parseNmapXml(String(res.stdout));
  } catch {
    const why = String(res.stderr).trim().split("\n")[0] || `exit code ${res.exitCode}`;
    return { ...base, outcome: "failed", error: `nmap produced no XML (${why})`, durationMs: elapsed() };
  }
  const verdict = classifyRun(run);
  return {
    args,
    outcome: verdict.outcome,
    ...(verdict.error ? { error: verdict.error } : {}),
    ports: run.host?.ports ?? [],
    extraPorts: run.host?.extraPorts ?? [],
    durationMs: elapsed(),
  };
}
