import { createServer, type Socket } from "node:net";
import { afterAll, expect, test } from "vitest";
import { baseConfig } from "../helpers/config.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { parseRfc5424, unframe } from "../helpers/syslog-receiver.js";

let d: InProc | undefined;
const sockets = new Set<Socket>();
const server = createServer();
afterAll(async () => {
  await d?.daemon.stop();
  for (const s of sockets) s.destroy();
  server.close();
});

test("a receiver that stops reading: the exporter waits on the socket, reconnects after 10s and sends again from the cursor, losing nothing", async () => {
  // The first connection is never read: the kernel buffers fill and the exporter's write waits.
  const got: { conn: number; seq: number }[] = [];
  let conns = 0;
  server.on("connection", (socket) => {
    sockets.add(socket);
    const conn = conns++;
    socket.on("error", () => undefined);
    if (conn === 0) return socket.pause();
    let buf: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      const { messages, rest } = unframe(Buffer.concat([buf, chunk]));
      buf = rest;
      for (const m of messages) got.push({ conn, seq: Number(parseRfc5424(m).sd["sshca@32473"]!.seq) });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  d = await startInProc({
    ...baseConfig(),
    scanning: { enabled: false },
    syslog: [
      {
        name: "siem",
        url: `tcp://127.0.0.1:${port}`,
        from: "start",
        maxMessage: 65536,
        retry: { initial: "1s", max: "1s" },
      },
    ],
  });
  const storage = d.daemon.core.storage;
  // About 24 MB of messages: more than the loopback socket buffers of both ends hold.
  const padding = "x".repeat(16_000);
  for (let batch = 0; batch < 30; batch++) {
    await storage.commit(
      Array.from({ length: 50 }, (_, i) => ({
        type: "config.loaded" as const,
        actor: "test",
        fields: { batch, i, padding },
      })),
    );
  }
  const head = storage.head.seq;
  const until = Date.now() + 60_000;
  while (!got.some((g) => g.seq === head)) {
    if (Date.now() > until) throw new Error(`not caught up: ${got.length} messages on ${conns} connections`);
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(conns).toBeGreaterThanOrEqual(2);
  const seqs = [...new Set(got.map((g) => g.seq))].sort((a, b) => a - b);
  expect(seqs).toEqual(Array.from({ length: head }, (_, i) => i + 1));
  for (let c = 1; c < conns; c++) {
    const mine = got.filter((g) => g.conn === c).map((g) => g.seq);
    expect(mine).toEqual(Array.from({ length: mine.length }, (_, i) => mine[0]! + i));
  }
  const metrics = String((await d.call("GET", "/metrics")).body.nonJson);
  expect(Number(/^sshca_syslog_failures_total\{destination="siem"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
}, 90_000);
