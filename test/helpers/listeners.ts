import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";

/** A TCP listener on a loopback address, to be found (or not) by nmap. */
export async function listen(host: string, port = 0): Promise<{ port: number; close: () => Promise<void> }> {
  // nmap connects and resets; a reset socket is not an error here.
  const server: Server = createServer((s) => {
    s.on("error", () => undefined);
    s.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr ? addr.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * The kernel's ephemeral range (ip_local_port_range): where it picks a port for bind(0) and for
 * the local end of every outgoing connection.
 */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // not Linux: the IANA dynamic range
  }
  return [49152, 65535];
}

/** Ports this process handed out: two picks in one test file never get the same port. */
const handedOut = new Set<number>();

/** How many parts the test port range is cut into: the main process and up to 7 workers. */
const SLICES = 8;

/**
 * The ports `freePortOn` draws from, below the ephemeral range starting at `ephemeralLow`: an
 * eighth of 12,000 ports for each vitest worker (`VITEST_POOL_ID`, 1 to maxWorkers; no two running
 * workers share one), and part 0 for a process outside the workers (global setup). Each worker
 * keeps its own record of what it handed out, so with a shared range two workers could be
 * handed the same port while neither had bound it yet (a server's bind failed, a port meant to
 * be closed was open). Pure.
 */
export function testPortRange(ephemeralLow: number, poolId: string | undefined): [number, number] {
  const top = Math.min(ephemeralLow - 1, 65535);
  const bottom = Math.max(10_000, top - 12_000);
  const id = poolId === undefined ? 0 : Number(poolId);
  if (!Number.isInteger(id) || id < 0 || id >= SLICES) return [bottom, top];
  const size = Math.floor((top - bottom + 1) / SLICES);
  return [bottom + id * size, bottom + (id + 1) * size - 1];
}

/**
 * A port that is free on `host` right now and that the kernel will not give anyone else: it is
 * picked below the ephemeral range, so no bind(0) (a daemon, a receiver, another test file) and no
 * outgoing connection's local end can take it between this check and its use. A port from
 * bind(0) could: a port the test wants closed turned open, or a server's later bind failed.
 */
export async function freePortOn(host: string): Promise<number> {
  const [bottom, top] = testPortRange(ephemeralRange()[0], process.env.VITEST_POOL_ID);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = bottom + Math.floor(Math.random() * (top - bottom + 1));
    if (handedOut.has(port)) continue;
    try {
      const l = await listen(host, port);
      await l.close();
      handedOut.add(port);
      return port;
    } catch {
      // taken: try another
    }
  }
  throw new Error(`no free port on ${host} in ${bottom}-${top}`);
}

/** A free port on 127.0.0.1 (see freePortOn). */
export function freePort(): Promise<number> {
  return freePortOn("127.0.0.1");
}
