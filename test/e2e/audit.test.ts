import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditRecords, liveState } from "../helpers/audit-files.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { e2eConfig, startWorld, type World } from "../helpers/scenario.js";

let w: World;
let eve: Person;
let id: string;

beforeAll(async () => {
  w = await startWorld(
    e2eConfig({
      roles: {
        hasty: { principals: ["ops"], hosts: ["web-2"], requesters: ["dev"], approvers: ["sre"], pendingTtl: "2s" },
      },
      extra: { audit: { segmentSize: "4KB" }, requests: { keepFinished: "1s" } },
    }),
  );
  eve = await makePerson("eve", w.daemon, await w.daemon.addUser("eve", ["auditors"]));
  const asked = json<{ id: string }>(
    await w.alice.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "INC-7", "--no-wait", "--json"]),
  );
  id = asked.id;
  expect((await w.bob.sshca(["approve", id])).code).toBe(0);
  expect((await w.alice.sshca(["request", "wait", id, "--no-agent"])).code).toBe(0);
});
afterAll(() => w?.daemon.stop());

describe("audit trail", () => {
  test("an auditor lists a request's history; the issuance record accounts for the certificate", async () => {
    const all = json<{ records: any[] }>(await eve.sshca(["audit", "list", "--request", id, "--json"])).records;
    const records = all.filter((r) => !r.type.startsWith("scan.")); // the issue-time scan runs alongside
    expect(records.map((r) => r.type)).toEqual([
      "request.created",
      "request.approved",
      "certificate.issued",
      "certificate.fetched",
    ]);
    const issued = records[2];
    const shown = json<any>(await w.alice.sshca(["request", "show", id, "--json"]));
    expect(issued.fields).toMatchObject({
      request: id,
      requester: "alice",
      role: "debug",
      serial: shown.serial,
      keyId: shown.keyId,
      principals: shown.principals,
      validAfter: shown.validAfter,
      validBefore: shown.validBefore,
      subjectKeyFingerprint: shown.keyFingerprint,
      approvers: ["bob"],
    });
    expect(issued.fields.caKeyFingerprint).toMatch(/^SHA256:/);
    for (const r of records)
      expect(r).toMatchObject({ seq: expect.any(Number), prev: expect.any(String), hash: expect.any(String) });

    const byType = json<{ records: any[] }>(
      await eve.sshca(["audit", "list", "--type", "certificate", "--user", "alice", "--json"]),
    );
    expect(byType.records.every((r) => r.type.startsWith("certificate.") && r.fields.requester === "alice")).toBe(true);
    const recent = json<{ records: any[] }>(
      await eve.sshca(["audit", "list", "--since", new Date(Date.now() + 60_000).toISOString(), "--json"]),
    );
    expect(recent.records).toEqual([]);
  });

  test("audit list pages back through a history with --cursor, and says how to get the next page", async () => {
    const whole = json<{ records: any[] }>(await eve.sshca(["audit", "list", "--request", id, "--json"])).records;
    expect(whole.length).toBeGreaterThan(4);
    const seen: number[] = [];
    let args = ["audit", "list", "--request", id, "--limit", "2"];
    for (let page = 0; page < 20; page++) {
      const r = await eve.sshca(args);
      expect(r.code, r.stderr).toBe(0);
      seen.unshift(...[...r.stdout.matchAll(/^\s*(\d+)\s/gm)].map((m) => Number(m[1])));
      const next = /^older records: sshca (.*)$/m.exec(r.stderr);
      if (!next) break;
      args = next[1]!.split(" ");
      expect(args).toEqual(expect.arrayContaining(["--request", id, "--limit", "2", "--cursor"]));
    }
    expect(seen).toEqual(whole.map((r) => r.seq));
    const serial = whole.find((r) => r.fields.serial)!.fields.serial;
    const bySerial = json<{ records: any[] }>(await eve.sshca(["audit", "list", "--serial", serial, "--json"]));
    expect(bySerial.records.every((r) => r.fields.serial === serial)).toBe(true);
    expect(bySerial.records.map((r) => r.type)).toEqual(
      expect.arrayContaining(["certificate.issued", "certificate.fetched"]),
    );
    const byHost = json<{ records: any[] }>(
      await eve.sshca(["audit", "list", "--host", "web-1", "--until", whole[1].time, "--json"]),
    );
    expect(byHost.records.map((r) => r.seq)).toContain(whole[0].seq);
    expect(byHost.records.every((r) => r.time < whole[1].time)).toBe(true);
  });

  test("the audit trail is for auditors: a requester is refused", async () => {
    const r = await w.alice.sshca(["audit", "list"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("sshca: the audit trail is for auditors and admins\n");
  });

  test("failed sign-ins are audit events", async () => {
    const bad = await makePerson("mallory", w.daemon, `sshca_${"a".repeat(16)}_${"B".repeat(43)}`);
    const failures = async () =>
      json<{ records: any[] }>(await eve.sshca(["audit", "list", "--type", "auth.failed", "--json"])).records;
    const before = (await failures()).length;
    expect((await bad.sshca(["whoami"])).code).toBe(1);
    // The 401 goes out before the record is durable (a refusal does not wait on the disk).
    await expect
      .poll(async () => (await failures()).slice(before).map((r) => r.fields), { timeout: 10_000, interval: 200 })
      .toEqual([expect.objectContaining({ reason: "invalid API token", ip: "127.0.0.1" })]);
  });

  test("the log rotates into segments and the chain verifies across them (sshca and sshcad)", async () => {
    expect(readdirSync(join(w.daemon.dataDir, "audit")).filter((f) => f.endsWith(".jsonl")).length).toBeGreaterThan(1);
    const viaApi = await eve.sshca(["audit", "verify"]);
    expect(viaApi.code, viaApi.stderr).toBe(0);
    expect(viaApi.stdout).toMatch(/^audit log ok: \d+ records, head \d+:[0-9a-f]{64}\n$/);
    const local = await w.daemon.sshcad(["audit", "verify"]);
    expect(local.code, local.stderr).toBe(0);
    expect(local.stderr).toMatch(/audit log ok: \d+ records in \d+ segment\(s\)/);
  });

  test("every event, ca.key_created included, is also one JSON line on stdout, and the chain head is logged", () => {
    const lines = w.daemon.proc
      .stdout()
      .split("\n")
      .filter(Boolean)
      .map(
        (l) =>
          JSON.parse(l) as {
            msg: string;
            event?: { seq: number; type: string };
            audit?: { seq: number; hash: string };
          },
      );
    const journal = lines.filter((l) => l.msg === "audit event").map((l) => l.event!.seq);
    const onDisk = auditRecords(w.daemon.dataDir).map((r) => r.seq);
    // Every record, from the very first (ca.key_created of this fresh daemon) on.
    expect(journal).toEqual(onDisk);
    expect(auditRecords(w.daemon.dataDir)[0]!.type).toBe("ca.key_created");
    expect(lines.some((l) => l.msg === "sshcad listening" && /^[0-9a-f]{64}$/.test(l.audit?.hash ?? ""))).toBe(true);
  });

  test("the daemon expires an unanswered request on its own, then lets it and an expired certificate go", async () => {
    const unanswered = json<{ id: string }>(
      await w.alice.sshca(["login", "--role", "hasty", "--host", "web-2", "--reason", "INC-9", "--no-wait", "--json"]),
    );
    const asked = json<{ id: string }>(
      await w.alice.sshca(["login", "--role", "short", "--host", "web-1", "--reason", "INC-10", "--no-wait", "--json"]),
    );
    expect((await w.bob.sshca(["approve", asked.id])).code).toBe(0);
    const live = async () => Object.keys((await liveState(w.daemon.dataDir)).requests);
    expect(await live()).toEqual(expect.arrayContaining([unanswered.id, asked.id]));

    // Nobody touches either request again: the sweep expires the first at its expiresAt (2 s),
    // and both leave the live state 1 s after they ended (the certificate lives 3 s and needs its
    // after-access scan first).
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await live()).some((r) => r === unanswered.id || r === asked.id))
      await new Promise((r) => setTimeout(r, 250));
    expect(await live()).not.toContain(unanswered.id);
    expect(await live()).not.toContain(asked.id);

    const history = (request: string) =>
      auditRecords(w.daemon.dataDir)
        .filter((r) => r.fields.request === request)
        .map((r) => `${r.type} by ${r.actor}`);
    expect(history(unanswered.id)).toEqual(["request.created by alice", "request.expired by sshcad"]);
    const issued = history(asked.id);
    expect(issued).toContain("certificate.issued by sshcad");
    expect(issued.filter((t) => t.startsWith("scan.finished"))).toHaveLength(2); // at issue, after expiry
  });

  test("finished requests leave the live state; their history stays in the audit log", async () => {
    const asked = json<{ id: string }>(
      await w.alice.sshca(["login", "--role", "debug", "--host", "web-2", "--reason", "INC-8", "--no-wait", "--json"]),
    );
    expect((await w.bob.sshca(["deny", asked.id, "--reason", "not today"])).code).toBe(0);

    expect(Object.keys((await liveState(w.daemon.dataDir)).requests)).toContain(asked.id);
    await new Promise((r) => setTimeout(r, 3000));
    expect(Object.keys((await liveState(w.daemon.dataDir)).requests)).not.toContain(asked.id);
    const gone = await w.alice.sshca(["request", "show", asked.id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).not.toContain("sshca audit"); // alice may not read the audit trail
    expect((await eve.sshca(["request", "show", asked.id])).stderr).toContain(`sshca audit list --request ${asked.id}`);
    const { records } = json<{ records: any[] }>(await eve.sshca(["audit", "list", "--request", asked.id, "--json"]));
    expect(records.map((r) => r.type)).toEqual(["request.created", "request.denied"]);
  });
});

describe("tampering", () => {
  test("sshcad audit verify names the modified record; a truncated log stops the daemon", async () => {
    await w.daemon.stop();
    const dir = join(w.daemon.dataDir, "audit");
    const first = join(dir, readdirSync(dir).sort()[0]!);
    const lines = readFileSync(first, "utf8").split("\n");
    const victim = JSON.parse(lines[2]!) as { seq: number };
    lines[2] = lines[2]!.replace('"actor":"', '"actor":"x');
    writeFileSync(first, lines.join("\n"));
    const r = await w.daemon.sshcad(["audit", "verify"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`record seq ${victim.seq} was modified`);

    // Cut the newest records off at a line boundary: the state remembers more than the log holds.
    const segs = readdirSync(dir)
      .filter((f) => f.endsWith(".jsonl"))
      .sort();
    writeFileSync(join(dir, segs.at(-1)!), "");
    const restart = await w.daemon.sshcad(["serve"]);
    expect(restart.code).toBe(78);
    expect(restart.stderr).toMatch(/the audit log was truncated \(run: sshcad audit verify\)/);
  });
});
