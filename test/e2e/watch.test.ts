import { afterAll, beforeAll, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { waitForAudit } from "../helpers/companion.js";
import { freePortOn, listen } from "../helpers/listeners.js";
import { json } from "../helpers/people.js";
import { e2eConfig, LOGIN, startWorld, type World } from "../helpers/scenario.js";

/** Scans in this file only touch 127.0.0.3, on ports the test chose. */
const TARGET = "127.0.0.3";
let w: World;
let listener: { port: number; close: () => Promise<void> } | undefined;
let strayPort: number;

beforeAll(async () => {
  const expected = await listen(TARGET);
  strayPort = await freePortOn(TARGET);
  w = await startWorld(
    e2eConfig({
      extra: {
        hosts: {
          "web-1": { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22] } },
          // Watched every 10 seconds while a certificate for it is live.
          "app-3": {
            address: TARGET,
            expectedPorts: [expected.port],
            scan: { ports: [expected.port, strayPort], timeout: "20s" },
            watch: "10s",
          },
        },
      },
      roles: {
        debug: { principals: [LOGIN], hosts: ["app-3"], requesters: ["dev"], approvers: ["sre"], maxTtl: "1h" },
        critical: { principals: [LOGIN], hosts: ["web-1"], requesters: ["dev"], approvers: ["sre"] },
        short: { principals: [LOGIN], hosts: ["web-1"], requesters: ["dev"], approvers: ["sre"] },
        selfserve: { principals: [LOGIN], hosts: ["web-1"], requesters: ["dev"], autoApprove: true },
      },
    }),
  );
});
afterAll(async () => {
  await listener?.close();
  await w?.daemon.stop();
});

test("a listener opened mid-window is drift raised at once (not at expiry), and only once while it stays", async () => {
  const req = json<{ id: string }>(
    await w.alice.sshca(["login", "--role", "debug", "--host", "app-3", "--reason", "CHG-3", "--no-wait", "--json"]),
  );
  expect((await w.bob.sshca(["approve", req.id])).code).toBe(0);
  const issued = json<{ validBefore: string }>(
    await w.alice.sshca(["request", "wait", req.id, "--no-agent", "--json"]),
  );
  const dir = w.daemon.dataDir;
  const ofRequest = (type: string) => auditRecords(dir).filter((r) => r.type === type && r.fields.request === req.id);
  // The issue-time scan: only the expected port.
  const issue = await waitForAudit(dir, (r) => r.type === "scan.finished" && r.fields.request === req.id, 30_000);
  expect(issue.fields.trigger).toBe("issue");

  listener = await listen(TARGET, strayPort);
  const drift = await waitForAudit(
    dir,
    (r) => r.type === "scan.drift" && r.fields.request === req.id && r.fields.trigger === "watch",
    40_000,
  );
  expect(drift.fields.summary).toContain(`newly open ${strayPort}/tcp`);
  expect(drift.fields.summary).toContain(`open but not expected ${strayPort}/tcp`);
  expect(drift.fields.drift.baseline).toBe(issue.fields.scan);
  // While the certificate is live: the window is still open.
  expect(Date.parse(drift.time)).toBeLessThan(Date.parse(issued.validBefore));
  expect(json<{ state: string; scans: any }>(await w.bob.sshca(["request", "show", req.id, "--json"])).state).toBe(
    "issued",
  );
  expect(w.daemon.proc.stdout()).toMatch(/host exposure changed while access is live/);

  // The next watch finds the same: recorded as a scan, not raised again.
  const seq = drift.seq;
  await waitForAudit(
    dir,
    (r) => r.type === "scan.finished" && r.fields.request === req.id && r.fields.trigger === "watch" && r.seq > seq,
    40_000,
  );
  expect(ofRequest("scan.drift")).toHaveLength(1);
  const shown = json<{ scans: Record<string, { during?: { trigger: string } }> }>(
    await w.bob.sshca(["request", "show", req.id, "--json"]),
  );
  expect(shown.scans["app-3"]!.during!.trigger).toBe("watch");

  // The report shows every scan of the window, the watch that found it marked, and the drift as a finding.
  const report = await w.alice.sshca(["report", req.id]);
  expect(report.code).toBe(5);
  expect(report.stdout).toMatch(
    new RegExp(`app-3  watch .*open .*${strayPort}/tcp.*DRIFT: newly open ${strayPort}/tcp`),
  );
  expect(report.stdout).toMatch(new RegExp(`drift on app-3: during the window: newly open ${strayPort}/tcp`));
});
