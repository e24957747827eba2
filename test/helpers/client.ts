import { Agent, request } from "node:http";

/** Where a call goes: a plain-HTTP base URL, or a unix socket; optionally from a chosen loopback address. */
export interface Target {
  url?: string;
  socketPath?: string;
  /** The client's own address (any of 127.0.0.0/8 works on Linux), so one test can be many clients. */
  from?: string;
}

export interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

const agents = new Map<string, Agent>();
/** One keep-alive agent per client address, so a flood reuses connections like a real client would. */
function agentFor(from: string): Agent {
  let agent = agents.get(from);
  if (!agent) {
    agent = new Agent({ keepAlive: true, maxSockets: 4 });
    agents.set(from, agent);
  }
  return agent;
}

/** Closes the kept-alive connections of every client address. */
export function closeClients(): void {
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
}

/** One JSON API call over node:http (fetch can choose neither the source address nor a unix socket). */
export function httpCall(
  target: Target,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<Answer> {
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  const base = target.url ? new URL(target.url) : undefined;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...(target.socketPath ? { socketPath: target.socketPath } : { hostname: base!.hostname, port: base!.port }),
        ...(target.from ? { localAddress: target.from, agent: agentFor(target.from) } : {}),
        path,
        method,
        headers: {
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
        },
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = { nonJson: text };
          }
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") headers.set(k, v);
          resolve({ status: res.statusCode ?? 0, body, headers });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}
