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

/** A port that is free on `host` right now (nothing listens on it afterwards). */
export async function freePortOn(host: string): Promise<number> {
  const l = await listen(host);
  await l.close();
  return l.port;
}
