import { join } from "node:path";
import pino from "pino";
import { describe, expect, test } from "vitest";
import { AuditLog } from "../../src/audit/log.js";
import { queryAudit } from "../../src/audit/query.js";
import { AuditTail } from "../../src/audit/tail.js";
import { tempDir } from "../helpers/tmp.js";

const openLog = (dir: string, now = () => new Date()) =>
  AuditLog.open({ dir, maxSegmentBytes: 4096, now, log: pino({ level: "silent" }) });

describe("audit query", () => {
  test.each([
    { name: "by user (actor or subject)", filter: { user: "alice" }, want: [1, 3, 4] },
    { name: "by request", filter: { request: "rq_b" }, want: [3, 4] },
    { name: "by exact type", filter: { type: "request.approved" }, want: [2, 4] },
    { name: "by type family", filter: { type: "request" }, want: [1, 2, 3, 4] },
    { name: "since", filter: { since: new Date("2026-01-01T00:03:00Z") }, want: [3, 4, 5] },
    { name: "limit keeps the newest", filter: { limit: 2 }, want: [4, 5] },
  ])("$name", async ({ filter, want }) => {
    const dir = join(tempDir("query"), "a");
    let minute = 0;
    const log = await openLog(dir, () => new Date(Date.UTC(2026, 0, 1, 0, ++minute)));
    await log.append("request.created", "alice", { request: "rq_a", requester: "alice" });
    await log.append("request.approved", "bob", { request: "rq_a", requester: "carol" });
    await log.append("request.created", "alice", { request: "rq_b", requester: "alice" });
    await log.append("request.approved", "bob", { request: "rq_b", requester: "alice" });
    await log.append("user.added", "admin", { user: "dave" });
    const got = await queryAudit(dir, { limit: 100, ...filter });
    expect(got.map((r) => r.seq)).toEqual(want);
  });
});

describe("audit tail", () => {
  test("follows records across segments from a cursor, each once", async () => {
    const dir = join(tempDir("tail"), "a");
    const log = await openLog(dir);
    for (let i = 0; i < 40; i++) await log.append("request.created", "alice", { i, pad: "y".repeat(200) });
    const tail = new AuditTail(dir, 25);
    const first = await tail.read(10);
    expect(first.map((r) => r.seq)).toEqual([26, 27, 28, 29, 30, 31, 32, 33, 34, 35]);
    expect((await tail.read(100)).map((r) => r.seq)).toEqual([36, 37, 38, 39, 40]);
    expect(await tail.read()).toEqual([]);
    for (let i = 0; i < 20; i++) await log.append("request.created", "alice", { i, pad: "z".repeat(200) });
    expect((await tail.read(100)).map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 41 + i));
  });
});
