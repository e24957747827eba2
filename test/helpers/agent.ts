import { join } from "node:path";
import { type Running, run, start } from "./procs.js";
import { tempDir } from "./tmp.js";
import { tool } from "./tools.js";

/** A real ssh-agent on a socket of its own (not the user's), stopped at the end of the test. */
export interface TestAgent {
  socket: string;
  proc: Running;
  /** ssh-add KEY into this agent. */
  add(keyPath: string): Promise<void>;
  stop(): Promise<void>;
}

/** Starts ssh-agent on a new socket, or on `at` (where an earlier one stopped). */
export async function startAgent(at?: string): Promise<TestAgent> {
  const socket = at ?? join(tempDir("agent"), "agent.sock");
  // -D: stay in the foreground; it prints its environment line once the socket listens.
  const proc = start(tool("ssh-agent"), ["-D", "-a", socket]);
  await proc.waitFor(/SSH_AUTH_SOCK=/, 10_000);
  return {
    socket,
    proc,
    add: async (keyPath) => {
      const r = await run(tool("ssh-add"), ["-q", keyPath], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      if (r.code !== 0) throw new Error(`ssh-add ${keyPath}: ${r.stderr}`);
    },
    stop: async () => {
      if (proc.proc.exitCode !== null) return;
      proc.proc.kill("SIGTERM");
      await proc.done;
    },
  };
}

/** A new CA key pair written by ssh-keygen (type as ssh-keygen -t takes it). */
export async function keygen(type: "ed25519" | "ecdsa" | "rsa", bits?: number): Promise<string> {
  const path = join(tempDir("cakey"), "ca");
  const r = await run(tool("ssh-keygen"), [
    "-q",
    "-t",
    type,
    ...(bits ? ["-b", String(bits)] : []),
    "-N",
    "",
    "-C",
    "test CA",
    "-f",
    path,
  ]);
  if (r.code !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  return path;
}
