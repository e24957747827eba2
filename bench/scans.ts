import { request } from "node:http";
import { issuingDaemon } from "./http.js";
import { median, percentile } from "./lib.js";

function post(url: string, token: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL("/v1/requests", url);
    const t = process.hrtime.bigint();
    const req = request(
      {
        hostname: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        agent: false,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      },
      (res) => {
        res.resume();
        res.on("end", () =>
          res.statusCode === 201
            ? resolve(Number(process.hrtime.bigint() - t) / 1e6)
            : reject(new Error(`status ${res.statusCode}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Issuance latency with scanOnIssue: record (an nmap scan starts right after every issuance)
 * against scanning off. Both daemons run at once and requests alternate between them at a
 * steady pace, so the machine's noise falls on both alike.
 */
export async function scansBench(count = 300, perSecond = 10) {
  const scanningOn = {
    scanning: { enabled: true },
    hosts: { "web-1": { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22, 80, 443] } } },
  };
  const off = await issuingDaemon();
  const on = await issuingDaemon(scanningOn);
  // Warm up both (the first seconds of a node process include JIT compilation pauses).
  for (let i = 0; i < 300; i++) {
    await post(off.daemon.url, off.token, off.body);
    await post(on.daemon.url, on.token, on.body);
  }
  const latOff: number[] = [];
  const latOn: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = Date.now();
    latOff.push(await post(off.daemon.url, off.token, off.body));
    latOn.push(await post(on.daemon.url, on.token, on.body));
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 / perSecond - (Date.now() - started))));
  }
  await Promise.all([off.daemon.stop(), on.daemon.stop()]);
  const stats = (xs: number[]) => ({
    p50: median(xs),
    p90: percentile(xs, 90),
    p99: percentile(xs, 99),
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
  });
  const a = stats(latOff);
  const b = stats(latOn);
  return { off: a, on: b, meanRatio: b.mean / a.mean, p50Ratio: b.p50 / a.p50, p99Ratio: b.p99 / a.p99 };
}
