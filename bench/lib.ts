import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";

/** Repository root (bench runs from dist/bench). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const SSHCAD = join(ROOT, "dist", "src", "main.js");
export const SSHCA = join(ROOT, "dist", "cli", "main.js");

const made: string[] = [];
export function tempDir(name: string, base = tmpdir()): string {
  const d = mkdtempSync(join(base, `sshca-bench-${name}-`));
  made.push(d);
  return d;
}
process.on("exit", () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

/** A bench config: loopback, plain HTTP (explicitly allowed there), one auto-approve role, no limits in the way. */
export function benchConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: { address: "127.0.0.1", port: 0, tls: { enabled: false } },
    groups: { dev: {}, sre: {} },
    hosts: { "web-1": { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22] } } },
    roles: {
      auto: { principals: ["bench"], hosts: ["web-1"], requesters: ["dev"], autoApprove: true, maxTtl: "1h" },
      approved: { principals: ["bench"], hosts: ["web-1"], requesters: ["dev"], approvers: ["sre"], maxTtl: "1h" },
    },
    // The load generator is one address: the per-address connection cap (64) would turn its 65th
    // connection away, e.g. a /metrics read while its 64 sockets are still closing.
    limits: { failedAuthPerMinute: 1_000_000, requestsPerMinute: 1_000_000, connectionsPerAddress: 10_000 },
    scanning: { enabled: false },
    ...extra,
  };
}

export interface Daemon {
  url: string;
  proc: ChildProcess;
  dataDir: string;
  sshcad(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

function run(
  cmd: string,
  args: string[],
  env = process.env,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const p = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d));
    p.stderr.on("data", (d: Buffer) => (err += d));
    p.on("close", (code) => res({ code, out, err }));
  });
}

/** Starts `sshcad serve` as a subprocess (the way it runs for real) and waits for its banner. */
export async function startDaemon(config: Record<string, unknown>, dataDir?: string): Promise<Daemon> {
  const dir = tempDir("daemon");
  const configPath = join(dir, "sshcad.yaml");
  writeFileSync(configPath, stringify(config));
  const data = dataDir ?? join(dir, "data");
  const base = ["--config", configPath, "--data-dir", data];
  const env = { ...process.env, SSHCAD_LOG_LEVEL: "warn" };
  // BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p" profiles every daemon a benchmark starts.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, SSHCAD, ...base, "serve"], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  const url = await new Promise<string>((res, rej) => {
    proc.stderr!.on("data", (d: Buffer) => {
      err += d;
      const m = /sshcad listening on (\S+)/.exec(err);
      if (m) res(m[1]!);
    });
    proc.on("exit", () => rej(new Error(`sshcad exited: ${err}`)));
  });
  return {
    url,
    proc,
    dataDir: data,
    sshcad: async (args) => {
      const r = await run(process.execPath, [SSHCAD, ...base, ...args], env);
      if (r.code !== 0) throw new Error(r.err);
      return r.out.trim();
    },
    stop: () =>
      new Promise((res) => {
        proc.once("exit", () => res());
        proc.kill("SIGTERM");
      }),
  };
}

/** The baseline: express, the same framework, answering a JSON POST with a small JSON body. */
export async function startHelloWorld(): Promise<{ url: string; stop: () => Promise<void> }> {
  const code = `
    const express = require(${JSON.stringify(join(ROOT, "node_modules", "express"))});
    const app = express();
    app.use(express.json({ limit: "16kb" }));
    app.post("/hello", (req, res) => res.status(201).json({ hello: "world", got: Object.keys(req.body).length }));
    const s = app.listen(0, "127.0.0.1", () => process.stdout.write("port " + s.address().port + "\\n"));`;
  const proc = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((res) =>
    proc.stdout!.on("data", (d: Buffer) => res(/port (\d+)/.exec(String(d))![1]!)),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise((res) => {
        proc.once("exit", () => res());
        proc.kill();
      }),
  };
}

export { run };

/** Resident set size of a process, from /proc. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** A gauge or counter from a daemon's /metrics (scraped from loopback, which needs no token). */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
}

/** Waits until the daemon's audit index has caught up with its log; returns the seconds waited. */
export async function waitForIndex(url: string, timeoutMs = 30 * 60_000): Promise<number> {
  const t = Date.now();
  while ((await metric(url, "sshca_audit_index_lag_records")) !== 0) {
    if (Date.now() - t > timeoutMs) throw new Error("the audit index was not built in time");
    await new Promise((r) => setTimeout(r, 500));
  }
  return (Date.now() - t) / 1000;
}
