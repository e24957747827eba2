import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { startBot, type TestBot } from "../helpers/bot.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { type Receiver, startReceiver } from "../helpers/receiver.js";
import { e2eConfig, LOGIN, startWorld, targetHost, waitingId, type World } from "../helpers/scenario.js";
import { ssh, type TestSshd } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * Approval stages, suggested reviewers, approver bots and the reuse of a live certificate, with
 * the real CLI against a real daemon, a real webhook receiver, a real bot on loopback and a real sshd.
 */

const BOT_SECRET = "bot-secret-for-tests";
let w: World;
let sam: Person;
let lea: Person;
let receiver: Receiver;
let bot: TestBot;
let web1: TestSshd;

const show = async (p: Person, id: string) => json<any>(await p.sshca(["request", "show", id, "--json"]));
async function until<T>(what: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await what();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}
const hook = (event: string, request: string) =>
  receiver.deliveries.find((d) => d.body.event === event && d.body.fields.request === request);

beforeAll(async () => {
  receiver = await startReceiver();
  bot = await startBot(BOT_SECRET, "alice");
  const dir = tempDir("policy");
  writeFileSync(join(dir, "hook"), "hook-secret\n");
  writeFileSync(join(dir, "bot"), `${BOT_SECRET}\n`);
  const stage = (name: string, approvers: string[], more: object = {}) => ({ name, approvers, ...more });
  const role = (hosts: string[], stages: object[]) => ({ principals: [LOGIN], hosts, requesters: ["dev"], stages });
  const config = e2eConfig({
    roles: {
      prod: role(["web-1"], [stage("leads", ["leads"]), stage("security", ["security"])]),
      oncall: role(["web-2"], [stage("oncall", ["sre"], { count: 2, bots: ["pager"] })]),
      paged: role(["db-1"], [stage("oncall", ["sre"], { bots: ["pager"], botAlone: true })]),
      forged: role(["web-2"], [stage("oncall", ["sre"], { bots: ["liar"], botAlone: true })]),
    },
    extra: {
      groups: { dev: {}, sre: {}, leads: {}, security: {}, auditors: {}, admins: {} },
      webhooks: [
        { name: "ops", url: receiver.url("/hook"), secretFile: join(dir, "hook"), retry: { initial: "1s", max: "1s" } },
      ],
      approverBots: {
        pager: { url: bot.url("/yes"), secretFile: join(dir, "bot"), timeout: "5s" },
        liar: { url: bot.url("/forged"), secretFile: join(dir, "bot"), timeout: "5s" },
      },
    },
  });
  w = await startWorld(config);
  sam = await makePerson("sam", w.daemon, await w.daemon.addUser("sam", ["security"]));
  lea = await makePerson("lea", w.daemon, await w.daemon.addUser("lea", ["leads"]));
  web1 = await targetHost(w.bob, "web-1");
});
afterAll(async () => {
  await web1?.stop();
  await w?.daemon.stop();
  await receiver?.close();
  await bot?.close();
});

describe("a two-stage role", () => {
  let id: string;

  test("issues only after both stages; each refusal and waiting line says what is open and who can close it", async () => {
    const login = w.alice.spawn([
      "login",
      "--role",
      "prod",
      "--host",
      "web-1",
      "--reason",
      "CHG-1 deploy",
      "--reviewer",
      "sam",
      "--no-agent",
      "--json",
    ]);
    id = await waitingId(login);
    // Two different times: how long it waits for approvals, and the access it asks for.
    await login.waitFor(
      /Waits for approvals until \S+; access: 15m once issued; open: leads: 1 more from leads \(dave, lea\); security: 1 more from security \(sam\)/,
    );

    const first = await w.dave.sshca(["approve", id]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(
      `Approved ${id} for stage leads (1/2 approvals); still open: security: 1 more from security (sam)`,
    );
    // A second lead fits only the stage already met: refused, saying what is open and who can close it.
    const second = await lea.sshca(["approve", id]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      /sshca: lea's approval would not count: it can close none of the open stages; still open: security: 1 more from security \(sam\)\n$/,
    );
    const half = await w.alice.sshca(["request", "show", id]);
    expect(half.stdout).toContain(`Request     ${id}  (pending)`);
    expect(half.stdout).toContain("Access      15m once issued");
    expect(half.stdout).toMatch(/\nWaits until \S+ for approvals \(then it expires\)\n/);
    expect(half.stdout).toContain("Stages      leads 1/1 (dave); security 0/1");
    expect(half.stdout).toContain("Still open  security: 1 more from security (sam)");
    expect((await show(w.alice, id)).certificate).toBeUndefined();

    expect((await sam.sshca(["approve", id, "--comment", "reviewed the diff"])).code).toBe(0);
    const done = await login.done;
    expect(done.code, done.stderr).toBe(0);
    const issued = JSON.parse(done.stdout);
    expect(issued.state).toBe("issued");
    expect(issued.approvals.map((a: any) => [a.approver, a.stage])).toEqual([
      ["dave", "leads"],
      ["sam", "security"],
    ]);
    expect(issued.stages.map((s: any) => [s.name, s.met])).toEqual([
      ["leads", true],
      ["security", true],
    ]);

    const r = await ssh({ port: web1.port, user: LOGIN, key: w.alice.key, command: "echo in" });
    expect(r.code, r.stderr).toBe(0);
    const keyId = await run(tool("ssh-keygen"), ["-L", "-f", `${w.alice.key}-cert.pub`]);
    expect(keyId.stdout).toContain(`Key ID: "req=${id};user=alice;role=prod;approvers=dave+sam"`);
  });

  test("the webhook payloads say which stages are open and who can close them; the suggested reviewer is told first", async () => {
    await receiver.waitFor(
      () => hook("request.created", id) !== undefined && hook("certificate.issued", id) !== undefined,
    );
    const created = hook("request.created", id)!.body;
    expect(created.notify).toEqual({
      users: ["sam", "dave", "lea"],
      groups: ["leads", "security"],
      suggested: ["sam"],
    });
    expect(created.fields.openStages).toEqual([
      { stage: "leads", missing: 1, groups: ["leads"], bots: [], canClose: ["dave", "lea"] },
      { stage: "security", missing: 1, groups: ["security"], bots: [], canClose: ["sam"] },
    ]);
    expect(created.summary).toMatch(
      /^alice requests prod on web-1 for 15m of access; waits for approval until \S+: "CHG-1 deploy"; still open: leads \(1 more: dave, lea\), security \(1 more: sam\); suggested reviewers: sam\. Approve with: sshca approve /,
    );
    const partial = receiver.deliveries.find((d) => d.body.event === "request.approved" && d.body.actor === "dave")!;
    expect(partial.body.notify.users).toEqual(["sam"]);
    expect(partial.body.summary).toContain("for stage leads, 1/2 approvals; still open: security (1 more: sam)");
  });

  test("a suggested reviewer who cannot approve the role is refused, naming who can", async () => {
    const r = await w.alice.sshca([
      "login",
      "--role",
      "prod",
      "--host",
      "web-1",
      "--reason",
      "x",
      "--reviewer",
      "bob",
      "--new",
      "--no-wait",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("sshca: bob cannot approve role prod (its approvers: dave, lea, sam)\n");
  });

  test("a new login for the same role, hosts and key reuses the live certificate; --new asks anew", async () => {
    const before = json<{ requests: unknown[] }>(await w.alice.sshca(["request", "list", "--mine", "--all", "--json"]));
    const again = await w.alice.sshca([
      "login",
      "--role",
      "prod",
      "--host",
      "web-1",
      "--reason",
      "CHG-1 again",
      "--no-agent",
      "--json",
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(
      `Reusing the live certificate of ${id} (same role, hosts and key); no new request was made`,
    );
    expect(JSON.parse(again.stdout)).toMatchObject({ id, state: "issued", reused: true });
    const after = json<{ requests: unknown[] }>(await w.alice.sshca(["request", "list", "--mine", "--all", "--json"]));
    expect(after.requests.length).toBe(before.requests.length);
    const reused = auditRecords(w.daemon.dataDir).filter((r) => r.type === "certificate.reused");
    expect(reused.map((r) => [r.actor, r.fields.request, r.fields.reason])).toEqual([["alice", id, "CHG-1 again"]]);

    const fresh = json<any>(
      await w.alice.sshca([
        "login",
        "--role",
        "prod",
        "--host",
        "web-1",
        "--reason",
        "fresh",
        "--new",
        "--no-wait",
        "--json",
      ]),
    );
    expect(fresh.id).not.toBe(id);
    expect(fresh.state).toBe("pending");
  });
});

describe("approver bots", () => {
  test("a bot's signed yes counts as bot:pager, audited, but a person is still needed in its stage", async () => {
    const asked = json<any>(
      await w.alice.sshca(["login", "--role", "oncall", "--host", "web-2", "--reason", "INC-3", "--no-wait", "--json"]),
    );
    const answered = await until(async () => {
      const r = await show(w.alice, asked.id);
      return r.bots?.pager ? r : undefined;
    });
    expect(answered.state).toBe("pending");
    expect(answered.bots.pager).toMatchObject({ answer: "approve", comment: "alice is on call" });
    expect(answered.approvals).toEqual([
      expect.objectContaining({ approver: "bot:pager", bot: "pager", stage: "oncall" }),
    ]);
    // The bot verified sshcad's signature (its own HMAC code) on a call about exactly this request.
    const call = bot.calls.find((c) => c.body.request === asked.id)!;
    expect(call.verified).toBe(true);
    expect(call.body).toMatchObject({
      type: "sshca.approval",
      bot: "pager",
      digest: asked.digest,
      requester: "alice",
      stages: ["oncall"],
    });

    expect((await w.bob.sshca(["approve", asked.id])).code).toBe(0);
    expect((await show(w.alice, asked.id)).state).toBe("issued");
    const records = auditRecords(w.daemon.dataDir).filter((r) => r.fields.request === asked.id);
    expect(records.find((r) => r.type === "request.bot_answered")).toMatchObject({
      actor: "bot:pager",
      fields: { bot: "pager", answer: "approve", comment: "alice is on call" },
    });
    expect(records.filter((r) => r.type === "request.approved").map((r) => r.actor)).toEqual(["bot:pager", "bob"]);
  });

  test("where the role lets a bot approve alone, its yes issues the certificate to a waiting login", async () => {
    const login = w.alice.spawn([
      "login",
      "--role",
      "paged",
      "--host",
      "db-1",
      "--reason",
      "INC-4",
      "--no-agent",
      "--json",
    ]);
    const done = await login.done;
    expect(done.code, done.stderr).toBe(0);
    const issued = JSON.parse(done.stdout);
    expect(issued.state).toBe("issued");
    expect(issued.keyId).toMatch(/;approvers=bot:pager$/);
  });

  test("an answer not signed with the shared secret is no approval: audited as an error, the request waits", async () => {
    const asked = json<any>(
      await w.alice.sshca(["login", "--role", "forged", "--host", "web-2", "--reason", "INC-5", "--no-wait", "--json"]),
    );
    const answered = await until(async () => {
      const r = await show(w.alice, asked.id);
      return r.bots?.liar ? r : undefined;
    });
    expect(answered.state).toBe("pending");
    expect(answered.approvals).toEqual([]);
    expect(answered.bots.liar).toMatchObject({
      answer: "error",
      error: "the answer's signature does not verify (X-Sshca-Signature)",
    });
    const rec = auditRecords(w.daemon.dataDir).find(
      (r) => r.type === "request.bot_answered" && r.fields.request === asked.id,
    );
    expect(rec).toMatchObject({ actor: "bot:liar", fields: { answer: "error" } });
  });
});
