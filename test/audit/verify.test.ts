import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { beforeEach, describe, expect, test } from "vitest";
import { AuditLog } from "../../src/audit/log.js";
import { type AuditRecord, hashRecord } from "../../src/audit/record.js";
import { listSegments } from "../../src/audit/segments.js";
import { type VerifyOptions, type VerifyResult, verifyAudit } from "../../src/audit/verify.js";
import { verifyInWorker } from "../../src/audit/verify-in-worker.js";
import { verifyOffline } from "../../src/audit/verify-offline.js";
import { tempDir } from "../helpers/tmp.js";

let dir: string;
let seg: (i: number) => string;

/** 30 records across several small segments. */
beforeEach(async () => {
  dir = join(tempDir("verify"), "audit");
  const log = await AuditLog.open({
    dir,
    maxSegmentBytes: 4096,
    now: () => new Date(),
    log: pino({ level: "silent" }),
  });
  for (let i = 1; i <= 30; i++) await log.append("request.created", "alice", { i, pad: "x".repeat(150) });
  await log.close();
  const segments = await listSegments(dir);
  expect(segments.length).toBeGreaterThanOrEqual(3);
  seg = (i) => segments[i]!.path;
});

const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter(Boolean);
const write = (path: string, ls: string[]) => writeFileSync(path, ls.map((l) => `${l}\n`).join(""));
const edit = (path: string, fn: (ls: string[]) => string[]) => write(path, fn(lines(path)));
const seqOf = (line: string) => (JSON.parse(line) as AuditRecord).seq;
/** The sequence number of the first record in segment i (0-based). */
const firstOf = (i: number) => seqOf(lines(seg(i))[0]!);

/** The same checks in this thread and in the verification worker the daemon uses. */
const RUNNERS: [string, (dir: string, opts?: VerifyOptions) => Promise<VerifyResult>][] = [
  ["in this thread", (d, o) => verifyAudit(d, o)],
  ["in a worker thread", (d, o) => verifyInWorker(d, o ?? {})],
];

describe.each(RUNNERS)("audit verify %s", (_where, verify) => {
  test("ok/an untouched log verifies, across segments", async () => {
    const r = await verify(dir, { anchors: [{ seq: 30, source: "state file" }] });
    expect(r).toMatchObject({ ok: true, records: 30, head: { seq: 30 } });
  });

  test.each([
    {
      name: "modified field",
      tamper: () => edit(seg(1), (ls) => [ls[0]!.replace("alice", "mallory"), ...ls.slice(1)]),
      kind: "modified",
      message: /was modified: its content does not match its hash/,
      seq: () => firstOf(1),
    },
    {
      name: "modified field with the record's hash recomputed",
      tamper: () =>
        edit(seg(1), (ls) => {
          const r = JSON.parse(ls[1]!) as AuditRecord;
          r.actor = "mallory";
          r.hash = hashRecord(r);
          return [ls[0]!, JSON.stringify(r), ...ls.slice(2)];
        }),
      kind: "modified",
      message: /was modified or replaced/,
      seq: () => firstOf(1) + 1,
    },
    {
      name: "deleted record",
      tamper: () => edit(seg(1), (ls) => [ls[0]!, ...ls.slice(2)]),
      kind: "deleted",
      message: /missing \(deleted\)/,
      seq: () => firstOf(1) + 1,
    },
    {
      name: "swapped records",
      tamper: () => edit(seg(1), (ls) => [ls[1]!, ls[0]!, ...ls.slice(2)]),
      kind: "reordered",
      message: /out of order/,
      seq: () => firstOf(1) + 1,
    },
    {
      name: "record cut in the middle",
      tamper: () => writeFileSync(seg(1), readFileSync(seg(1), "utf8").slice(0, -40)),
      kind: "truncated",
      message: /is cut off \(truncated\)/,
      seq: () => firstOf(2) - 1,
    },
    {
      name: "garbage line",
      tamper: () => edit(seg(0), (ls) => [ls[0]!, "{not json", ...ls.slice(2)]),
      kind: "malformed",
      message: /not valid JSON/,
      seq: () => 2,
    },
    {
      name: "deleted segment",
      tamper: () => rmSync(seg(1)),
      kind: "deleted",
      message: /segment 2 is missing/,
      seq: () => firstOf(1),
    },
  ])("fail/$name is detected and the first bad record is named", async ({ tamper, kind, message, seq }) => {
    const want = seq();
    tamper();
    const r = await verify(dir);
    expect(r.ok).toBe(false);
    expect(r.problem?.kind).toBe(kind);
    expect(r.problem?.message).toMatch(message);
    expect(r.problem?.seq).toBe(want);
  });

  test("fail/records cut off at a line boundary are caught against the head the state (or an outside system) knows", async () => {
    const last = (await listSegments(dir)).at(-1)!.path;
    edit(last, (ls) => ls.slice(0, -2));
    expect((await verify(dir)).ok).toBe(true); // undetectable without an anchor...
    const r = await verify(dir, { anchors: [{ seq: 30, source: "state file" }] }); // ...which the state provides
    expect(r.problem).toMatchObject({ kind: "truncated", seq: 29 });
    expect(r.problem?.message).toMatch(/ends at seq 28 but seq 30 is known to exist \(state file\)/);
  });

  test("fail/a rewritten log does not match a chain head kept outside", async () => {
    const head = (await verify(dir)).head;
    const last = (await listSegments(dir)).at(-1)!.path;
    edit(last, (ls) => {
      const r = JSON.parse(ls.at(-1)!) as AuditRecord;
      r.fields = { rewritten: true };
      r.hash = hashRecord(r);
      return [...ls.slice(0, -1), JSON.stringify(r)];
    });
    expect((await verify(dir)).ok).toBe(true);
    const r = await verify(dir, { anchors: [{ ...head, source: "--expect-head" }] });
    expect(r.problem).toMatchObject({ kind: "modified", seq: 30 });
    expect(r.problem?.message).toMatch(/does not have the hash the --expect-head names/);
  });
});

describe("audit verify without a daemon (the heads kept on disk)", () => {
  test("ok/an untouched log verifies against its head file", async () => {
    expect(await verifyOffline(dir, { stateSeq: 10 })).toMatchObject({ ok: true, records: 30 });
  });

  test("fail/records cut off at a line boundary are caught against the head file, whatever the state says", async () => {
    const last = (await listSegments(dir)).at(-1)!.path;
    edit(last, (ls) => ls.slice(0, -2));
    const r = await verifyOffline(dir, { stateSeq: 10 });
    expect(r.problem).toMatchObject({ kind: "truncated", seq: 29 });
    expect(r.problem?.message).toBe(
      "the log ends at seq 28 but seq 30 is known to exist (audit head file): records 29..30 were truncated",
    );
  });

  test("fail/a rewritten last record does not match the head file's hash", async () => {
    const last = (await listSegments(dir)).at(-1)!.path;
    edit(last, (ls) => {
      const r = JSON.parse(ls.at(-1)!) as AuditRecord;
      r.fields = { rewritten: true };
      r.hash = hashRecord(r);
      return [...ls.slice(0, -1), JSON.stringify(r)];
    });
    const r = await verifyOffline(dir, {});
    expect(r.problem).toMatchObject({ kind: "modified", seq: 30 });
    expect(r.problem?.message).toMatch(/does not have the hash the audit head file names/);
  });

  test("fail/a missing head file next to records is itself reported", async () => {
    rmSync(join(dir, "audit.head"));
    const r = await verifyOffline(dir, {});
    expect(r).toMatchObject({ ok: false, records: 30, problem: { kind: "head_missing", segment: "audit.head" } });
    expect(r.problem?.message).toMatch(/audit\.head is missing next to 30 records/);
  });
});
