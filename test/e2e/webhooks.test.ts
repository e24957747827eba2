import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import type { TestDaemon } from "../helpers/daemon.js";
import { json } from "../helpers/people.js";
import { type Delivery, type Receiver, startReceiver } from "../helpers/receiver.js";
import { e2eConfig, startWorld } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";

const SECRET = "hook-secret-for-tests";
const SLACK_SECRET = "slack-secret-for-tests";
let daemon: TestDaemon | undefined;
let receiver: Receiver | undefined;
afterAll(async () => {
  await daemon?.stop();
  await receiver?.close();
});

const signed = (d: Delivery, secret: string) =>
  d.headers["x-sshca-signature"] === `sha256=${createHmac("sha256", secret).update(d.raw).digest("hex")}`;
const ops = (all: Delivery[]) => all.filter((d) => d.path === "/hook");

test("webhooks: signed events reach a real receiver; while it is down they wait, and survive a daemon restart", async () => {
  receiver = await startReceiver();
  const secretFile = join(tempDir("hook"), "secret");
  writeFileSync(secretFile, `${SECRET}\n`);
  const config = e2eConfig({
    extra: {
      webhooks: [
        { name: "ops", url: receiver.url("/hook"), secretFile, retry: { initial: "1s", max: "1s" } },
        {
          name: "chat",
          url: receiver.url("/slack"),
          format: "slack",
          secretEnv: "SSHCA_TEST_SLACK_SECRET",
          events: ["request.created"],
          retry: { initial: "1s", max: "1s" },
        },
      ],
    },
  });
  const w = await startWorld(config, { SSHCA_TEST_SLACK_SECRET: SLACK_SECRET });
  daemon = w.daemon;

  // A two-approval request: its approvers are told it waits for them.
  const asked = json<{ id: string }>(
    await w.alice.sshca(["login", "--role", "critical", "--host", "db-1", "--reason", "CHG-1", "--no-wait", "--json"]),
  );
  await receiver.waitFor((all) => ops(all).some((d) => d.body.event === "request.created"));
  const created = ops(receiver.deliveries).find((d) => d.body.event === "request.created")!;
  expect(signed(created, SECRET)).toBe(true);
  expect(created.headers["idempotency-key"]).toBe(created.body.id);
  expect(created.body).toMatchObject({
    id: `ops:${created.body.seq}`,
    fields: { request: asked.id, requester: "alice", role: "critical" },
    notify: { users: ["bob", "dave"], groups: ["sre", "leads"] },
  });
  await receiver.waitFor((all) => all.some((d) => d.path === "/slack"));
  const slack = receiver.deliveries.find((d) => d.path === "/slack")!;
  expect(signed(slack, SLACK_SECRET)).toBe(true);
  expect(slack.body.text).toMatch(/^\[sshca\] alice requests critical on db-1 .* \(@bob @dave\)$/);

  // Issuance goes to everyone involved.
  expect((await w.bob.sshca(["approve", asked.id])).code).toBe(0);
  expect((await w.dave.sshca(["approve", asked.id])).code).toBe(0);
  await receiver.waitFor((all) => ops(all).some((d) => d.body.event === "certificate.issued"));
  const issued = ops(receiver.deliveries).find((d) => d.body.event === "certificate.issued")!;
  expect(issued.body.notify.users).toEqual(["alice", "bob", "dave"]);
  const partial = ops(receiver.deliveries).find((d) => d.body.event === "request.approved" && d.body.actor === "bob")!;
  expect(partial.body.notify.users).toEqual(["dave"]);

  // The receiver goes away. Events wait, across a restart of the daemon.
  await receiver.close();
  const before = receiver.deliveries.length;
  const waiting: string[] = [];
  for (const host of ["web-1", "web-2"]) {
    const r = json<{ id: string }>(
      await w.alice.sshca([
        "login",
        "--role",
        "debug",
        "--host",
        host,
        "--reason",
        "while down",
        "--no-wait",
        "--json",
      ]),
    );
    waiting.push(r.id);
  }
  await new Promise((r) => setTimeout(r, 1500));
  expect(receiver.deliveries.length).toBe(before);
  expect((await daemon.stop()).code).toBe(0);
  daemon = await daemon.restart();
  await receiver.reopen();

  await receiver.waitFor((all) =>
    waiting.every((id) => ops(all).some((d) => d.body.event === "request.created" && d.body.fields.request === id)),
  );
  // At least once, in order, every matching event: nothing the audit log holds for "ops" is missing.
  const wanted = auditRecords(daemon.dataDir)
    .filter((r) => ["request.created", "request.approved", "request.denied", "certificate.issued"].includes(r.type))
    .filter((r) => r.seq >= created.body.seq)
    .map((r) => r.seq);
  await receiver.waitFor((all) => wanted.every((seq) => ops(all).some((d) => d.body.seq === seq)));
  expect(ops(receiver.deliveries).every((d) => signed(d, SECRET))).toBe(true);
});
