import { type ChildProcess, spawn } from "node:child_process";

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<Result>;
  /** Resolves when `pattern` appears on stdout or stderr; rejects if the process exits first. */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
}

/** Starts a process, collecting its output; killed when the test process exits. */
export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** Leave stdin open (write to proc.stdin, then end it) for a process that asks for input later. */
  keepStdin?: boolean;
  /** Run as another user (CI runs as root; some checks need an unprivileged daemon). */
  uid?: number;
  gid?: number;
}

export function start(cmd: string, args: string[], opts: StartOptions = {}): Running {
  const proc = spawn(cmd, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ["pipe", "pipe", "pipe"],
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}),
  });
  live.add(proc);
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  proc.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  });
  proc.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
    for (const l of listeners) l();
  });
  if (opts.input !== undefined) proc.stdin!.end(opts.input);
  else if (!opts.keepStdin) proc.stdin!.end();
  const done = new Promise<Result>((resolve) => {
    proc.on("close", (code, signal) => {
      live.delete(proc);
      for (const l of listeners) l();
      resolve({ code, signal, stdout: out, stderr: err });
    });
  });
  let exited = false;
  void done.then(() => {
    exited = true;
  });
  const waitFor = (pattern: RegExp, timeoutMs = 15_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(out) ?? pattern.exec(err);
        if (m) {
          cleanup();
          resolve(m);
        } else if (exited || proc.exitCode !== null) {
          cleanup();
          reject(new Error(`${cmd} exited before ${pattern}: ${err.slice(-2000)}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${pattern} from ${cmd}; stderr: ${err.slice(-2000)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  return { proc, stdout: () => out, stderr: () => err, done, waitFor };
}

/** Runs a process to completion. */
export function run(cmd: string, args: string[], opts: StartOptions = {}): Promise<Result> {
  return start(cmd, args, opts).done;
}
