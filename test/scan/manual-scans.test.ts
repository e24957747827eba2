import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import sshpk from "sshpk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { freePortOn } from "../helpers/listeners.js";
import { e2eConfig, LOGIN } from "../helpers/scenario.js";

/**
 * Manual scans must not crowd out the scans issuance depends on. Real nmap on 127.0.0.1: a
 * listener that accepts and never speaks makes a version-detection scan (-sV) last until its
 * --host-timeout, so manual scans of those hosts stay queued long enough to watch.
 */
const SLOW_HOSTS = Array.from({ length: 7 }, (_, i) => `slow-${i + 1}`);
let api: InProc;
let tarpit: Server;
// The daemon's clock stands still: no rate-limit bucket refills while a test runs.
const clock = Date.now();
const held: Socket[] = [];
const t: Record<string, string> = {};
const publicKey = () =>
  sshpk
    .parseKey(generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }), "pem")
    .toString("ssh");
const scan = (as: string, host: string) => api.call("POST", "/v1/scans", { token: t[as]!, body: { host } });
const dataDir = () => api.daemon.core.paths.dataDir;
/** A value of the daemon's /metrics (loopback needs no token). */
async function metric(line: string): Promise<number | undefined> {
  const text = String((await api.call("GET", "/metrics")).body.nonJson);
  const m = new RegExp(`^${line.replace(/[{}"]/g, "\\$&")} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

beforeAll(async () => {
  tarpit = createServer((s) => {
    s.on("error", () => undefined);
    held.push(s);
  });
  await new Promise<void>((resolve) => tarpit.listen(0, "127.0.0.1", resolve));
  const slowPort = (tarpit.address() as { port: number }).port;
  const closedPort = await freePortOn("127.0.0.1");
  const slow = { address: "127.0.0.1", expectedPorts: [slowPort], scan: { versionDetection: true, timeout: "2s" } };
  const extra = {
    hosts: {
      ...Object.fromEntries(
        ["web-1", "web-2", "db-1"].map((h) => [
          h,
          { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [closedPort] } },
        ]),
      ),
      ...Object.fromEntries(SLOW_HOSTS.map((h) => [h, slow])),
    },
    // 3 scans at once: manual ones may use 2, one is always left for issuance and expiry.
    scanning: { concurrency: 3 },
    limits: { manualScansPerMinute: 8, manualScanQueue: 6, requestsPerMinute: 1000 },
  };
  const roles = {
    guarded: {
      principals: [LOGIN],
      hosts: ["web-1"],
      requesters: ["dev"],
      approvers: ["sre"],
      scanOnIssue: "gate",
    },
    watch: { principals: [LOGIN], hosts: SLOW_HOSTS, requesters: ["dev"], approvers: ["sre"] },
  };
  api = await startInProc(e2eConfig({ roles, extra }), { now: () => new Date(clock) });
  for (const [user, group] of [
    ["alice", "dev"],
    ["bob", "sre"],
    ["carol", "sre"],
    ["root", "admins"],
  ] as const) {
    t[user] = await api.token(user, [group]);
  }
});
afterAll(async () => {
  await api?.daemon.stop();
  for (const s of held) s.destroy();
  await new Promise((resolve) => tarpit?.close(resolve));
});

describe("manual scans (real nmap on 127.0.0.1)", () => {
  test(
    "a gated issuance's scan starts before queued manual scans, and the manual queue is bounded (503 + Retry-After)",
    { timeout: 90_000 },
    async () => {
      const manual = SLOW_HOSTS.slice(0, 6).map((h) => scan("bob", h));
      // Two run, four wait for a slot.
      await expect.poll(() => metric('sshca_scans_waiting{kind="manual"}'), { timeout: 20_000 }).toBe(4);

      const full = await scan("bob", "slow-7");
      expect(full.status).toBe(503);
      expect(full.body.error.message).toMatch(/too many manual scans queued \(limits\.manualScanQueue: 6\)/);
      expect(Number(full.headers.get("retry-after"))).toBeGreaterThan(0);

      const created = await api.call("POST", "/v1/requests", {
        token: t.alice!,
        body: { role: "guarded", hosts: ["web-1"], reason: "gate behind manual scans", publicKey: publicKey() },
      });
      expect(created.status).toBe(201);
      const approved = await api.call("POST", `/v1/requests/${created.body.id}/approve`, {
        token: t.bob!,
        body: { digest: created.body.digest },
      });
      expect(approved.status).toBe(200);
      await expect
        .poll(async () => (await api.call("GET", `/v1/requests/${created.body.id}`, { token: t.alice! })).body.state, {
          timeout: 30_000,
        })
        .toBe("issued");

      const answers = await Promise.all(manual);
      expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201, 201]);
      // In the audit log, scans are recorded as started when nmap gets its slot.
      const started = auditRecords(dataDir()).filter((r) => r.type === "scan.started");
      const gate = started.findIndex((r) => r.fields.request === created.body.id);
      expect(gate).toBeGreaterThanOrEqual(0);
      const manualBefore = started.slice(0, gate).filter((r) => r.fields.trigger === "manual");
      const manualAfter = started.slice(gate + 1).filter((r) => r.fields.trigger === "manual");
      expect(manualBefore.length).toBeLessThanOrEqual(2); // only those already running
      expect(manualAfter.length).toBeGreaterThanOrEqual(4); // queued before the gate scan, run after it
    },
  );

  test("a second manual scan of a host already queued or running returns that same scan", async () => {
    const [first, second] = await Promise.all([scan("bob", "slow-1"), scan("root", "slow-1")]);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body.id).toBe(first.body.id);
    const runs = auditRecords(dataDir()).filter((r) => r.type === "scan.started" && r.fields.scan === first.body.id);
    expect(runs).toHaveLength(1);
  });

  test("manual scans are rate limited per user (limits.manualScansPerMinute); other users are not affected", async () => {
    const answers = await Promise.all(Array.from({ length: 9 }, () => scan("carol", "web-1")));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(8);
    const ninth = answers.find((a) => a.status !== 201)!;
    expect(ninth.status).toBe(429);
    expect(ninth.body.error.message).toMatch(/too many manual scans from you \(limits\.manualScansPerMinute\)/);
    expect(Number(ninth.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await scan("root", "web-1")).status).toBe(201);
  });
});
