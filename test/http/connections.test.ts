import { generateKeyPairSync } from "node:crypto";
import { connect, type Socket } from "node:net";
import sshpk from "sshpk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { closeClients, httpCall } from "../helpers/client.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { e2eConfig } from "../helpers/scenario.js";

/**
 * Connection-level limits, against the real server: raw TCP clients from chosen loopback
 * addresses (127.0.0.0/8 is all loopback on Linux), so one test can be many clients.
 */
let api: InProc;
let port: number;
const sockets: Socket[] = [];

/** A raw TCP connection from `from`; resolves once connected. */
function open(from: string, to = port): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port: to, localAddress: from }, () => resolve(s));
    s.once("error", reject);
    sockets.push(s);
  });
}

/** Everything the server sends until it closes the connection, and how long that took. */
function untilClosed(s: Socket, timeoutMs: number): Promise<{ data: string; ms: number }> {
  const started = Date.now();
  let data = "";
  s.on("data", (d: Buffer) => {
    data += d.toString("latin1");
  });
  s.on("error", () => undefined); // a reset is a close too
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
    s.once("close", () => {
      clearTimeout(timer);
      resolve({ data, ms: Date.now() - started });
    });
  });
}

/** One keep-alive GET on an open connection; resolves with the status line once the answer is complete. */
function getOn(s: Socket, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    const onData = (d: Buffer) => {
      data += d.toString("latin1");
      const end = data.indexOf("\r\n\r\n");
      const length = /content-length: (\d+)/i.exec(data)?.[1];
      if (end >= 0 && length !== undefined && data.length >= end + 4 + Number(length)) {
        s.off("data", onData);
        resolve(data.split("\r\n")[0]!);
      }
    };
    s.on("data", onData);
    s.once("close", () => reject(new Error(`closed before an answer; got ${JSON.stringify(data)}`)));
    s.write(`GET ${path} HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n`);
  });
}

beforeAll(async () => {
  const extra = {
    limits: {
      headersTimeout: "2s",
      requestTimeout: "3s",
      connectionsPerAddress: 3,
      longPollsPerUser: 2,
      requestsPerMinute: 1000,
    },
    scanning: { enabled: false },
  };
  api = await startInProc(e2eConfig({ extra }));
  port = Number(new URL(api.url).port);
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  closeClients();
  await api?.daemon.stop();
});

describe("slow clients are cut off", () => {
  test("slow loris: a client that sends half a header is disconnected after limits.headersTimeout", async () => {
    const s = await open("127.0.6.1");
    s.write("GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: "); // and never finishes the header
    const closed = untilClosed(s, 15_000);
    // Meanwhile everyone else is served.
    expect((await httpCall({ url: api.url, from: "127.0.6.2" }, "GET", "/healthz")).status).toBe(200);
    const { data, ms } = await closed;
    expect(data).toMatch(/^HTTP\/1\.1 408 /);
    expect(ms).toBeGreaterThanOrEqual(1500);
  });

  test("a TLS client that never finishes its handshake is disconnected after limits.handshakeTimeout", async () => {
    const tls = await startInProc(
      e2eConfig({ extra: { limits: { handshakeTimeout: "2s" }, scanning: { enabled: false } } }),
      { listen: { address: "127.0.0.1", port: 0 } },
    );
    let s: Socket | undefined;
    try {
      expect(tls.url).toMatch(/^https:/);
      s = await open("127.0.6.3", Number(new URL(tls.url).port));
      s.write(Buffer.from([0x16, 0x03, 0x01])); // the first bytes of a ClientHello, then nothing
      const { ms } = await untilClosed(s, 15_000);
      expect(ms).toBeGreaterThanOrEqual(1500);
    } finally {
      s?.destroy();
      await tls.daemon.stop();
    }
  });
});

test("a long-poll may wait longer than limits.requestTimeout (which bounds receiving the request only)", async () => {
  const alice = await api.token("alice-patient", ["dev"]);
  const publicKey = sshpk
    .parseKey(generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }), "pem")
    .toString("ssh");
  const created = await api.call("POST", "/v1/requests", {
    token: alice,
    body: { role: "debug", hosts: ["web-1"], reason: "patient", publicKey },
  });
  const started = Date.now();
  const r = await httpCall(
    { url: api.url, from: "127.0.6.9" },
    "GET",
    `/v1/requests/${created.body.id}?version=${created.body.version}&wait=5`,
    { token: alice },
  );
  expect(r.status).toBe(200);
  expect(r.body.version).toBe(created.body.version);
  expect(Date.now() - started).toBeGreaterThanOrEqual(4500);
});

describe("concurrent connections are capped per client address and in all", () => {
  test("N+1 connections from one address: the extra one is refused, another address still gets through", async () => {
    const held: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await open("127.0.7.1");
      expect(await getOn(s, "/healthz")).toBe("HTTP/1.1 200 OK"); // accepted and served; kept alive
      held.push(s);
    }
    const extra = await open("127.0.7.1");
    extra.write("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n");
    const refused = await untilClosed(extra, 10_000);
    expect(refused.data).toBe("");
    expect((await httpCall({ url: api.url, from: "127.0.7.2" }, "GET", "/healthz")).status).toBe(200);
    // A connection given back makes room again.
    held.pop()!.destroy();
    await expect
      .poll(async () => {
        const s = await open("127.0.7.1");
        return getOn(s, "/healthz").catch(() => "refused");
      })
      .toBe("HTTP/1.1 200 OK");
    for (const s of held) s.destroy();
  });

  test("limits.connections caps all connections together", async () => {
    const small = await startInProc(
      e2eConfig({ extra: { limits: { connections: 16, connectionsPerAddress: 8 }, scanning: { enabled: false } } }),
    );
    try {
      const smallPort = Number(new URL(small.url).port);
      const held: Socket[] = [];
      for (let i = 0; i < 16; i++) {
        const s = await open(`127.0.8.${1 + (i % 2)}`, smallPort);
        expect(await getOn(s, "/healthz")).toBe("HTTP/1.1 200 OK");
        held.push(s);
      }
      const extra = await open("127.0.8.3", smallPort);
      extra.write("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n");
      expect((await untilClosed(extra, 10_000)).data).toBe("");
      for (const s of held) s.destroy();
    } finally {
      await small.daemon.stop();
    }
  });
});

describe("long-polls are capped per user", () => {
  test("a user over limits.longPollsPerUser gets 429 at once; other users still wait", async () => {
    const alice = await api.token("alice", ["dev"]);
    const bob = await api.token("bob", ["sre"]);
    const publicKey = sshpk
      .parseKey(generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }), "pem")
      .toString("ssh");
    const created = await api.call("POST", "/v1/requests", {
      token: alice,
      body: { role: "debug", hosts: ["web-1"], reason: "long-poll cap", publicKey },
    });
    expect(created.status).toBe(201);
    const { id, version } = created.body as { id: string; version: number };
    // Each poll from its own address: this daemon allows 3 connections per address.
    const poll = (from: string, token: string, wait: number, signal?: AbortSignal) =>
      httpCall({ url: api.url, from }, "GET", `/v1/requests/${id}?version=${version}&wait=${wait}`, {
        token,
        ...(signal ? { signal } : {}),
      });
    const stop = new AbortController();
    const waiting = [poll("127.0.9.1", alice, 30, stop.signal), poll("127.0.9.2", alice, 30, stop.signal)].map((p) =>
      p.catch(() => undefined),
    );
    await expect.poll(() => api.daemon.access.watch.size).toBe(2);

    const third = await poll("127.0.9.3", alice, 3);
    expect(third.status).toBe(429);
    expect(third.body.error.message).toMatch(/too many waiting long-polls for you \(limits\.longPollsPerUser\)/);
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
    // A plain GET (no wait) is not a long-poll and still answers.
    expect((await api.call("GET", `/v1/requests/${id}`, { token: alice })).status).toBe(200);
    // bob is another user: his long-poll waits (and is answered by the change below).
    const bobs = poll("127.0.9.4", bob, 30);
    await expect.poll(() => api.daemon.access.watch.size).toBe(3);
    const cancelled = await api.call("POST", `/v1/requests/${id}/cancel`, { token: alice, body: {} });
    expect(cancelled.status).toBe(200);
    expect((await bobs).body.state).toBe("cancelled");
    stop.abort();
    await Promise.all(waiting);
  });
});
