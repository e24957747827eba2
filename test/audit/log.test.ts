import { appendFileSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, test } from "vitest";
import { AuditLog } from "../../src/audit/log.js";
import { type AuditRecord, GENESIS_HASH, hashRecord } from "../../src/audit/record.js";
import { encodeSlot, readHeadFile } from "../../src/audit/head-file.js";
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

describe("the head file (audit.head)", () => {
  const headOf = async (dir: string) => {
    const h = await readHeadFile(dir);
    if (h.state !== "ok") throw new Error(`head file ${h.state}`);
    return h.head;
  };
  /** A log of `n` records, closed; returns its directory and only segment. */
  const written = async (n: number) => {
    const dir = join(tempDir("audit"), "a");
    const log = await open(dir);
    for (let i = 1; i <= n; i++) await log.append("certificate.fetched", "alice", { i });
    await log.close();
    return { dir, seg: (await listSegments(dir))[0]!.path };
  };
  const keepLines = (path: string, n: number) =>
    writeFileSync(
      path,
      readFileSync(path, "utf8")
        .split("\n")
        .filter(Boolean)
        .slice(0, n)
        .map((l) => `${l}\n`)
        .join(""),
    );

  test("every acknowledged append is covered by the head file when it resolves", async () => {
    const dir = join(tempDir("audit"), "a");
    const log = await open(dir);
    const covered = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        log.append("certificate.fetched", "alice", { i }).then(async (r) => (await headOf(dir)).seq >= r.seq),
      ),
    );
    expect(covered.every(Boolean)).toBe(true);
    expect(await headOf(dir)).toEqual(log.head);
    expect((statSync(join(dir, "audit.head")).mode & 0o777).toString(8)).toBe("600");
    await log.close();
  });

  test("a log cut at a record boundary below its head is refused at open, and left as it is", async () => {
    const { dir, seg } = await written(5);
    keepLines(seg, 3);
    const cut = readFileSync(seg);
    await expect(open(dir)).rejects.toThrow(
      /the audit log ends at record 3 but its head file says record 5 was written: the audit log was truncated \(run: sshcad audit verify\)/,
    );
    expect(readFileSync(seg)).toEqual(cut);
  });

  test("a log replaced by another of the same length is refused", async () => {
    const { dir, seg } = await written(3);
    const other = await written(3); // same seqs, other times and hashes
    writeFileSync(seg, readFileSync(other.seg));
    await expect(open(dir)).rejects.toThrow(/audit record 3 is not the one the head file .* names: .*replaced/);
  });

  test("records past the head (stopped between the segment sync and the head write) were durable: the head moves", async () => {
    const { dir } = await written(3);
    const headAt3 = readFileSync(join(dir, "audit.head"));
    const log = await open(dir);
    await log.append("certificate.fetched", "alice", { i: 4 });
    await log.append("certificate.fetched", "alice", { i: 5 });
    await log.close();
    writeFileSync(join(dir, "audit.head"), headAt3); // records 4 and 5 reached the segment, their head did not
    const again = await open(dir);
    expect(again.head.seq).toBe(5);
    await again.close();
    expect(await headOf(dir)).toEqual(again.head);
  });

  test("a torn head slot falls back to the other slot", async () => {
    const { dir } = await written(4);
    const path = join(dir, "audit.head");
    const buf = readFileSync(path);
    const newest = (await readHeadFile(dir)) as { slot: number };
    buf.fill(0x41, newest.slot * 128 + 20, newest.slot * 128 + 60); // a write torn mid-slot
    writeFileSync(path, buf);
    expect(await headOf(dir)).toMatchObject({ seq: 3 });
    const log = await open(dir); // the log is longer than the surviving head: accepted
    expect(log.head.seq).toBe(4);
    await log.close();
  });

  test("a damaged head file stops the log from opening", async () => {
    const { dir } = await written(2);
    writeFileSync(
      join(dir, "audit.head"),
      Buffer.concat([encodeSlot({ seq: 2, hash: "0".repeat(64) })]).fill(0x20, 5, 40),
    );
    await expect(open(dir)).rejects.toThrow(/audit head file .* is damaged; refusing to start/);
  });

  test("no head file next to records (a log from before it existed): created from the log, and audited", async () => {
    const { dir, seg } = await written(3);
    rmSync(join(dir, "audit.head"));
    const log = await open(dir);
    await log.close();
    const recs = lines(seg);
    expect(recs.at(-1)).toMatchObject({ seq: 4, type: "audit.head_created", fields: { seq: 3, hash: recs[2]!.hash } });
    expect(await headOf(dir)).toMatchObject({ seq: 4 });
  });
});
