import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { freePort } from "./listeners.js";

export interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: any;
}

/** A real HTTP webhook receiver on 127.0.0.1 that records what it is sent. */
export interface Receiver {
  port: number;
  url: (path: string) => string;
  deliveries: Delivery[];
  close(): Promise<void>;
  /** Listens again on the same port (after close). */
  reopen(): Promise<void>;
  waitFor(pred: (all: Delivery[]) => boolean, timeoutMs?: number): Promise<void>;
}

/**
 * Listens on `port`, or on a port below the ephemeral range (freePort): `reopen` binds it again
 * after a pause in which a port from bind(0) could have gone to someone else.
 */
export async function startReceiver(port?: number): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  let server: Server;
  const listen = (p: number) =>
    new Promise<number>((resolve, reject) => {
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          const raw = Buffer.concat(chunks).toString("utf8");
          deliveries.push({ path: req.url ?? "", headers: req.headers, raw, body: JSON.parse(raw) });
          res.writeHead(204).end();
        });
      });
      server.once("error", reject);
      server.listen(p, "127.0.0.1", () => {
        const a = server.address();
        resolve(typeof a === "object" && a ? a.port : p);
      });
    });
  const actual = await listen(port ?? (await freePort()));
  return {
    port: actual,
    url: (path) => `http://127.0.0.1:${actual}${path}`,
    deliveries,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    reopen: async () => {
      await listen(actual);
    },
    waitFor: async (pred, timeoutMs = 20_000) => {
      const until = Date.now() + timeoutMs;
      while (!pred(deliveries)) {
        if (Date.now() > until)
          throw new Error(`webhook receiver: condition not met; got ${deliveries.length} deliveries`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
