import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { type Receiver, startReceiver } from "../helpers/receiver.js";
import { e2eConfig, LOGIN, startWorld, targetHost, type World } from "../helpers/scenario.js";
import { ssh, type TestSshd } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * A role requestable only in a window that is closed now (an hour the day after tomorrow, UTC):
 * a login is refused with the next opening time; break-glass issues at once anyway, tells every
 * approver and auditor, and stays awaiting review until an approver reviews it.
 */

const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
// Two days ahead is at least 24 hours away whenever the test runs, so the window is closed now.
const opening = new Date(
  Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 2, 0, 0),
);
const day = opening.getUTCDay();

let w: World;
let audrey: Person;
let receiver: Receiver;
let web1: TestSshd;

beforeAll(async () => {
  receiver = await startReceiver();
  const dir = tempDir("glass");
  writeFileSync(join(dir, "hook"), "hook-secret\n");
  w = await startWorld(
    e2eConfig({
      roles: {
        emergency: {
          principals: [LOGIN],
          hosts: ["web-1"],
          requesters: ["dev"],
          approvers: ["sre"],
          maxTtl: "1h",
          breakGlass: { maxTtl: "10m" },
          hours: { timeZone: "UTC", open: [{ days: [DAYS[day]], from: "00:00", to: "01:00" }] },
        },
      },
      extra: {
        webhooks: [
          {
            name: "ops",
            url: receiver.url("/hook"),
            secretFile: join(dir, "hook"),
            retry: { initial: "1s", max: "1s" },
          },
        ],
      },
    }),
  );
  audrey = await makePerson("audrey", w.daemon, await w.daemon.addUser("audrey", ["auditors"]));
  web1 = await targetHost(w.bob, "web-1");
});
afterAll(async () => {
  await web1?.stop();
  await w?.daemon.stop();
  await receiver?.close();
});

test("outside the role's hours a login is refused with the next opening time (and break-glass offered)", async () => {
  const r = await w.alice.sshca(["login", "--role", "emergency", "--host", "web-1", "--reason", "INC-7", "--no-wait"]);
  expect(r.code).toBe(1);
  const date = opening.toISOString().slice(0, 10);
  expect(r.stderr).toMatch(
    new RegExp(
      `^sshca: role emergency can be requested ${NAMES[day]} 00:00-01:00 \\(UTC\\); now is \\w{3} \\S+ \\S+ UTC there; it opens next ${NAMES[day]} ${date} 00:00 UTC \\(${opening.toISOString().replaceAll(".", "\\.")}\\); in an emergency: sshca login \\.\\.\\. --break-glass`,
    ),
  );
  expect(auditRecords(w.daemon.dataDir).some((x) => x.type === "request.created")).toBe(false);
});

test("break-glass issues at once, tells every approver and auditor, and stays awaiting review until an approver reviews it", async () => {
  const login = await w.alice.sshca([
    "login",
    "--role",
    "emergency",
    "--host",
    "web-1",
    "--reason",
    "INC-7 database down",
    "--break-glass",
    "--no-agent",
    "--json",
  ]);
  expect(login.code, login.stderr).toBe(0);
  expect(login.stderr).toContain("BREAK-GLASS: issued without approval (role emergency)");
  const issued = JSON.parse(login.stdout);
  expect(issued).toMatchObject({
    state: "issued",
    ttlSeconds: 600,
    breakGlass: { review: { status: "open" } },
    approvals: [],
  });
  const id: string = issued.id;

  // The certificate works on a real sshd, and its key id says how it came to be.
  const r = await ssh({ port: web1.port, user: LOGIN, key: w.alice.key, command: "echo in" });
  expect(r.code, r.stderr).toBe(0);
  const keyId = await run(tool("ssh-keygen"), ["-L", "-f", `${w.alice.key}-cert.pub`]);
  expect(keyId.stdout).toContain(`Key ID: "req=${id};user=alice;role=emergency;approvers=break-glass"`);

  // Everyone who could have approved, and every auditor, is told at once.
  await receiver.waitFor((all) => all.some((d) => d.body.event === "request.break_glass"));
  const told = receiver.deliveries.find((d) => d.body.event === "request.break_glass")!.body;
  expect(told.notify).toEqual({ users: ["audrey", "bob"], groups: ["sre", "auditors"] });
  expect(told.summary).toBe(
    `BREAK-GLASS: alice took emergency on web-1 for 10m without approval: "INC-7 database down". An approver must review it: sshca review ${id} --comment "..."`,
  );

  // Open reviews are listed, and shown as such.
  const open = await w.bob.sshca(["reviews"]);
  expect(open.code, open.stderr).toBe(0);
  expect(open.stdout).toMatch(new RegExp(`${id}\\s+issued break-glass, awaiting review\\s+alice`));
  expect(json<any>(await audrey.sshca(["reviews", "--json"])).requests.map((x: any) => x.id)).toEqual([id]);
  expect((await w.alice.sshca(["request", "show", id])).stdout).toContain(
    `Break-glass issued without approval; awaiting review: sshca review ${id} --comment "..."`,
  );

  const own = await w.alice.sshca(["review", id, "--comment", "all good"]);
  expect(own.code).toBe(1);
  expect(own.stderr).toMatch(/sshca: you cannot review your own break-glass request\n$/);
  const auditor = await audrey.sshca(["review", id, "--comment", "looked"]);
  expect(auditor.code).toBe(1);
  expect(auditor.stderr).toMatch(/sshca: audrey is not an approver for role emergency/);

  const done = await w.bob.sshca(["review", id, "--comment", "INC-7 confirmed; access was needed"]);
  expect(done.code, done.stderr).toBe(0);
  expect(done.stdout).toContain(`Reviewed break-glass ${id} (alice, emergency)`);
  expect((await w.bob.sshca(["reviews"])).stdout.trim()).toBe("no break-glass request waits for review");
  const again = await w.bob.sshca(["review", id, "--comment", "x"]);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(new RegExp(`sshca: request ${id} was already reviewed by bob at \\S+: INC-7 confirmed`));

  const records = auditRecords(w.daemon.dataDir).filter((x) => x.fields.request === id);
  expect(records.map((x) => x.type)).toEqual(
    expect.arrayContaining(["request.created", "request.break_glass", "certificate.issued", "request.reviewed"]),
  );
  expect(records.some((x) => x.type === "request.auto_approved" || x.type === "request.approved")).toBe(false);
  expect(records.find((x) => x.type === "request.reviewed")).toMatchObject({
    actor: "bob",
    fields: { comment: "INC-7 confirmed; access was needed" },
  });
  await receiver.waitFor((all) => all.some((d) => d.body.event === "request.reviewed"));
  expect(receiver.deliveries.find((d) => d.body.event === "request.reviewed")!.body.notify.users).toEqual([
    "alice",
    "audrey",
  ]);
});

test("break-glass is refused past its short maximum TTL", async () => {
  const r = await w.carol.sshca([
    "login",
    "--role",
    "emergency",
    "--host",
    "web-1",
    "--reason",
    "INC-8",
    "--ttl",
    "30m",
    "--break-glass",
    "--no-wait",
  ]);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(
    "sshca: ttl 30m exceeds the maximum of role emergency for break-glass (breakGlass.maxTtl 10m)\n",
  );
});
