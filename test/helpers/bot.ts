import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";

/** One call an approver bot received, and what it made of the signature. */
export interface BotCallSeen {
  path: string;
  body: any;
  /** The X-Sshca-Signature verified with the shared secret, and was made within 30 s. */
  verified: boolean;
}

export interface TestBot {
  url: (path: string) => string;
  calls: BotCallSeen[];
  close(): Promise<void>;
  waitFor(pred: (calls: BotCallSeen[]) => boolean, timeoutMs?: number): Promise<void>;
}

const hmac = (secret: string, data: string) => createHmac("sha256", secret).update(data).digest("hex");

/**
 * A real approver bot on 127.0.0.1, written from the protocol as the README gives it (its own
 * HMAC code, not sshcad's): it checks the call's signature over "<t>.<body>" and its age, then
 * answers per path — /yes approves when the requester is `onCall`, /no declines, /forged answers
 * yes signed with the wrong secret. Its answers are signed over the exact answer body.
 */
export async function startBot(secret: string, onCall: string): Promise<TestBot> {
  const calls: BotCallSeen[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const m = /^t=(\d+),sha256=([0-9a-f]{64})$/.exec(String(req.headers["x-sshca-signature"] ?? ""));
      const fresh = m !== null && Math.abs(Date.now() / 1000 - Number(m[1])) <= 30;
      const verified =
        m !== null && fresh && timingSafeEqual(Buffer.from(m[2]!), Buffer.from(hmac(secret, `${m[1]}.${raw}`)));
      const body = JSON.parse(raw);
      calls.push({ path: req.url ?? "", body, verified });
      if (!verified) {
        res.writeHead(401).end();
        return;
      }
      const approve = req.url === "/no" ? false : body.requester === onCall;
      const answer = JSON.stringify({
        request: body.request,
        digest: body.digest,
        nonce: body.nonce,
        approve,
        comment: approve ? `${body.requester} is on call` : "not on call",
      });
      const key = req.url === "/forged" ? "not-the-secret" : secret;
      res.writeHead(200, { "content-type": "application/json", "x-sshca-signature": `sha256=${hmac(key, answer)}` });
      res.end(answer);
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve(typeof a === "object" && a ? a.port : 0);
    });
  });
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    calls,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    waitFor: async (pred, timeoutMs = 20_000) => {
      const until = Date.now() + timeoutMs;
      while (!pred(calls)) {
        if (Date.now() > until) throw new Error(`approver bot: condition not met; got ${calls.length} calls`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
