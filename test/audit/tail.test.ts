import { join } from "node:path";
import pino from "pino";
import { describe, expect, test } from "vitest";
import { AuditLog } from "../../src/audit/log.js";
import { AuditTail } from "../../src/audit/tail.js";
import { tempDir } from "../helpers/tmp.js";

const openLog = (dir: string) =>
  AuditLog.open({ dir, maxSegmentBytes: 4096, now: () => new Date(), log: pino({ level: "silent" }) });

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
