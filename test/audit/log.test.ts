import { appendFileSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, test } from "vitest";
import { AuditLog } from "../../src/audit/log.js";
import { type AuditRecord, GENESIS_HASH, hashRecord } from "../../src/audit/record.js";
import { listSegments } from "../../src/audit/segments.js";
import { tempDir } from "../helpers/tmp.js";

const silent = pino({ level: "silent" });
const open = (dir: string, maxSegmentBytes = 1 << 20) =>
  AuditLog.open({ dir, maxSegmentBytes, now: () => new Date(), log: silent });
const lines = (path: string) =>
  readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRecord);

describe("audit log", () => {
  test("records form a hash chain from the genesis hash", async () => {
    const dir = join(tempDir("audit"), "a");
    const log = await open(dir);
    await log.append("request.created", "alice", { request: "rq_1" });
    await log.append("request.approved", "bob", { request: "rq_1" });
    await log.close();
    const [seg] = await listSegments(dir);
    const recs = lines(seg!.path);
    expect(recs.map((r) => r.seq)).toEqual([1, 2]);
    expect(recs[0]!.prev).toBe(GENESIS_HASH);
    expect(recs[1]!.prev).toBe(recs[0]!.hash);
    for (const r of recs) expect(hashRecord(r)).toBe(r.hash);
    expect((statSync(seg!.path).mode & 0o777).toString(8)).toBe("600");
    expect((statSync(dir).mode & 0o777).toString(8)).toBe("700");
  });

  test("concurrent appends are group-committed in order and all resolve after the write", async () => {
    const dir = join(tempDir("audit"), "a");
    const log = await open(dir);
    const recs = await Promise.all(
      Array.from({ length: 200 }, (_, i) => log.append("certificate.issued", "sshcad", { i })),
    );
    expect(recs.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const [seg] = await listSegments(dir);
    expect(lines(seg!.path)).toHaveLength(200);
    expect(log.head.seq).toBe(200);
    // Group commit: the first record goes alone, the 199 queued behind its sync share the next one.
    expect(log.stats).toMatchObject({ records: 200 });
    expect(log.stats.batches).toBeLessThanOrEqual(3);
    await log.close();
  });

  test("the chain continues across segments and across reopening", async () => {
    const dir = join(tempDir("audit"), "a");
    const log = await open(dir, 600);
    for (let i = 0; i < 10; i++) await log.append("request.created", "alice", { i, pad: "x".repeat(100) });
    await log.close();
    const again = await open(dir, 600);
    const rec = await again.append("request.created", "alice", { after: "reopen" });
    await again.close();
    const segs = await listSegments(dir);
    expect(segs.length).toBeGreaterThan(2);
    const all = segs.flatMap((s) => lines(s.path));
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    for (let i = 1; i < all.length; i++) expect(all[i]!.prev).toBe(all[i - 1]!.hash);
    expect(rec.seq).toBe(11);
  });

  test("a torn final line (never acknowledged) is cut off at open and the cut is audited", async () => {
    const dir = join(tempDir("audit"), "a");
    const log = await open(dir);
    await log.append("request.created", "alice", {});
    await log.close();
    const [seg] = await listSegments(dir);
    const torn = '{"seq":2,"time":"2026';
    appendFileSync(seg!.path, torn);
    const again = await open(dir);
    await again.close();
    const recs = lines(seg!.path);
    expect(recs.map((r) => [r.seq, r.type])).toEqual([
      [1, "request.created"],
      [2, "audit.recovered"],
    ]);
    expect(recs[1]!.fields).toMatchObject({ droppedBytes: torn.length });
  });

  test("a tampered last record stops the daemon from opening the log", async () => {
    const dir = join(tempDir("audit"), "a");
    const log = await open(dir);
    await log.append("request.created", "alice", { reason: "INC-1" });
    await log.close();
    const [seg] = await listSegments(dir);
    const text = readFileSync(seg!.path, "utf8").replace("INC-1", "INC-2");
    writeFileSync(seg!.path, text);
    await expect(open(dir)).rejects.toThrow(/does not verify; refusing to start/);
  });

  test("a write failure (disk full) rejects with unavailable and keeps the head", async () => {
    // Point a fresh log's segment at /dev/full: every write fails with ENOSPC, as on a full disk.
    const full = join(tempDir("audit"), "f");
    mkdirSync(full);
    symlinkSync("/dev/full", join(full, "audit-00000001.jsonl"));
    const broken = await open(full);
    await expect(broken.append("certificate.issued", "sshcad", {})).rejects.toThrow(
      /audit log cannot be written \(ENOSPC\)/,
    );
    expect(broken.head.seq).toBe(0);
    await broken.close();
  });
});
