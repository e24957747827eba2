import { readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, test } from "vitest";
import { EmbeddedAuditQuery } from "../../src/audit/embedded-query.js";
import { AuditLog } from "../../src/audit/log.js";
import type { AuditFilter } from "../../src/audit/query.js";
import type { AuditRecord, AuditType } from "../../src/audit/record.js";
import { auditRecords } from "../helpers/audit-files.js";
import { tempDir } from "../helpers/tmp.js";

/** What the worker logged (rebuilt, built, caught up), as parsed pino lines. */
interface Logged {
  msg: string;
  reason?: string;
}

const opened: EmbeddedAuditQuery[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((q) => q.close()));
});

function openQuery(log: AuditLog, dataDir: string): { query: EmbeddedAuditQuery; logged: Logged[] } {
  const logged: Logged[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => logged.push(JSON.parse(line) as Logged) });
  const query = new EmbeddedAuditQuery({
    audit: log,
    indexPath: join(dataDir, "audit", "index.sqlite"),
    anchors: () => [],
    log: logger,
  });
  opened.push(query);
  return { query, logged };
}

const USERS = ["alice", "bob", "carol"];
const HOSTS = ["web-1", "web-2", "db-1"];

/** Appends `n` varied records; the clock steps back by 10 minutes once, halfway. */
async function fill(log: AuditLog, n: number, clock: { t: number }, from = 0): Promise<void> {
  for (let i = from; i < from + n; i++) {
    clock.t += i === from + Math.floor(n / 2) ? -600_000 : 1000;
    const user = USERS[i % 3]!;
    const host = HOSTS[i % 4 === 3 ? 0 : i % 3]!;
    const request = `rq_${i % 17}`;
    const kinds: [AuditType, string, Record<string, unknown>][] = [
      ["request.created", user, { request, requester: user, hosts: [host, HOSTS[(i + 1) % 3]!] }],
      ["request.approved", "bob", { request, requester: user }],
      ["certificate.issued", "sshcad", { request, requester: user, serial: String(9000 + (i % 23)) }],
      ["certificate.fetched", user, { request, requester: user, serial: String(9000 + (i % 23)) }],
      ["scan.finished", "sshcad", { scan: `sc_${i}`, host, request, requester: user }],
      ["scan.failed", "sshcad", { scan: `sc_${i}`, host }],
      ["auth.failed", "anonymous", { reason: "invalid API token", ip: "127.0.0.1" }],
      ["user.added", "admin", { user }],
    ];
    const [type, actor, fields] = kinds[i % kinds.length]!;
    await log.append(type, actor, fields);
  }
}

async function world(n = 300, start = Date.UTC(2026, 0, 1)) {
  const dataDir = tempDir("index");
  const clock = { t: start };
  const log = await AuditLog.open({
    dir: join(dataDir, "audit"),
    maxSegmentBytes: 8192,
    now: () => new Date(clock.t),
    log: pino({ level: "silent" }),
  });
  await fill(log, n, clock);
  return { dataDir, clock, log };
}

/** The reference: a full scan of the segment files with the filter's meaning spelled out. */
function matches(r: AuditRecord, f: AuditFilter): boolean {
  const x = r.fields as Record<string, unknown>;
  const t = Date.parse(r.time);
  const hosts = [x.host, ...(Array.isArray(x.hosts) ? x.hosts : [])];
  return (
    (f.user === undefined || [r.actor, x.requester, x.user].includes(f.user)) &&
    (f.request === undefined || x.request === f.request) &&
    (f.serial === undefined || x.serial === f.serial) &&
    (f.scan === undefined || x.scan === f.scan) &&
    (f.host === undefined || hosts.includes(f.host)) &&
    (f.type === undefined || r.type === f.type || r.type.startsWith(`${f.type}.`)) &&
    (f.types === undefined || f.types.includes(r.type)) &&
    (f.since === undefined || t >= f.since.getTime()) &&
    (f.until === undefined || t < f.until.getTime()) &&
    (f.visibleTo === undefined ||
      x.requester === f.visibleTo.requester ||
      (typeof x.host === "string" && f.visibleTo.hosts.includes(x.host)) ||
      (Array.isArray(x.hosts) && x.hosts.some((h) => f.visibleTo!.hosts.includes(h))))
  );
}

const reference = (dataDir: string, f: AuditFilter) =>
  (auditRecords(dataDir) as unknown as AuditRecord[]).filter((r) => matches(r, f)).map((r) => r.seq);

/** Every page of a query, newest page first; checks each page is oldest first and the cursor ends. */
async function allPages(query: EmbeddedAuditQuery, f: AuditFilter, limit: number): Promise<number[]> {
  const seqs: number[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await query.query(f, { limit, cursor });
    const got = page.records.map((r) => r.seq);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(got.length).toBeLessThanOrEqual(limit);
    seqs.unshift(...got);
    if (!page.cursor) return seqs;
    expect(got).toHaveLength(limit);
    cursor = page.cursor;
  }
  throw new Error("pages never ended");
}

const T = (minutes: number) => new Date(Date.UTC(2026, 0, 1) + minutes * 60_000);
const FILTERS: { name: string; f: AuditFilter }[] = [
  { name: "everything", f: {} },
  { name: "request", f: { request: "rq_3" } },
  { name: "serial", f: { serial: "9005" } },
  { name: "user (actor, requester or subject)", f: { user: "carol" } },
  { name: "host (host or one of hosts)", f: { host: "db-1" } },
  { name: "exact type", f: { type: "certificate.fetched" } },
  { name: "type family", f: { type: "scan" } },
  { name: "any of types", f: { types: ["scan.finished", "scan.failed"] } },
  { name: "scan", f: { scan: "sc_12" } },
  { name: "since", f: { since: T(1) } },
  { name: "until, across the clock stepping back", f: { until: T(1) } },
  { name: "time range, only records behind the clock", f: { since: T(-7), until: T(-6) } },
  { name: "time range", f: { since: T(0.5), until: T(2) } },
  { name: "user and type", f: { user: "alice", type: "request" } },
  { name: "host, types and time", f: { host: "web-1", types: ["scan.finished", "scan.failed"], since: T(-5) } },
  { name: "request and serial", f: { request: "rq_2", serial: "9002" } },
  { name: "nothing matches", f: { user: "nobody" } },
  {
    name: "visibility: own requests or approved hosts",
    f: { types: ["scan.finished", "scan.failed"], visibleTo: { requester: "bob", hosts: ["web-2"] } },
  },
  { name: "visibility with a filter", f: { request: "rq_4", visibleTo: { requester: "carol", hosts: [] } } },
];

describe("audit look-ups through the index", () => {
  test.each(FILTERS)("$name: every match exactly once, pages newest first, like a full scan", async ({ name, f }) => {
    const { dataDir, log } = await world();
    const { query } = openQuery(log, dataDir);
    const want = reference(dataDir, f);
    expect(want.length > 0).toBe(name !== "nothing matches");
    expect(await allPages(query, f, 7)).toEqual(want);
    expect(await allPages(query, f, 1000)).toEqual(want);
    await log.close();
  });

  test("records appended while the daemon runs are in the next answer; findScan finds a scan's result", async () => {
    const { dataDir, log, clock } = await world(50);
    const { query } = openQuery(log, dataDir);
    expect((await query.query({}, { limit: 1000 })).records).toHaveLength(50);
    await log.append("scan.finished", "sshcad", { scan: "sc_new", host: "web-2" });
    const r = await query.query({ host: "web-2" }, { limit: 1 });
    expect(r.records.map((x) => x.fields.scan)).toEqual(["sc_new"]);
    expect((await query.findScan("sc_new"))?.seq).toBe(51);
    expect(await query.findScan("sc_none")).toBeUndefined();
    await fill(log, 30, clock, 50);
    expect(await allPages(query, { user: "bob" }, 5)).toEqual(reference(dataDir, { user: "bob" }));
    await log.close();
  });

  test("a page stops at 4 MiB of records, with a cursor for the rest", async () => {
    const { dataDir, log } = await world(0);
    for (let i = 0; i < 300; i++)
      await log.append("scan.finished", "sshcad", { scan: `sc_${i}`, pad: "p".repeat(16_000) });
    const { query } = openQuery(log, dataDir);
    const first = await query.query({}, { limit: 1000 });
    expect(first.records.length).toBeGreaterThan(200);
    expect(first.records.length).toBeLessThan(300);
    expect(first.cursor).toBeDefined();
    const seqs: number[] = [];
    for (let cursor: string | undefined, page = 0; page < 10; page++) {
      const r = await query.query({}, { limit: 1000, cursor });
      seqs.unshift(...r.records.map((x) => x.seq));
      if (!r.cursor) break;
      cursor = r.cursor;
    }
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    await log.close();
  });

  test("a cursor the server did not hand out is refused", async () => {
    const { dataDir, log } = await world(5);
    const { query } = openQuery(log, dataDir);
    await expect(query.query({}, { limit: 5, cursor: "bm9wZQ" })).rejects.toThrow(/cursor is not one this server/);
    await log.close();
  });
});

describe("the index is derived from the log", () => {
  const same = async (query: EmbeddedAuditQuery, dataDir: string) => {
    for (const { f } of FILTERS) expect(await allPages(query, f, 50)).toEqual(reference(dataDir, f));
  };

  test("deleted: built again from the log", async () => {
    const { dataDir, log } = await world();
    const first = openQuery(log, dataDir);
    await same(first.query, dataDir);
    await first.query.close();
    for (const f of readdirSync(join(dataDir, "audit")).filter((x) => x.startsWith("index.sqlite"))) {
      rmSync(join(dataDir, "audit", f));
    }
    const again = openQuery(log, dataDir);
    await same(again.query, dataDir);
    expect(again.logged.map((l) => l.msg)).toContain("building the audit index");
    const files = readdirSync(join(dataDir, "audit")).filter((x) => x.startsWith("index.sqlite"));
    expect(files).toContain("index.sqlite");
    for (const f of files) expect((statSync(join(dataDir, "audit", f)).mode & 0o777).toString(8)).toBe("600");
    await log.close();
  });

  test("stale because the log grew while the daemon was down: it catches up, no rebuild", async () => {
    const { dataDir, log, clock } = await world();
    const first = openQuery(log, dataDir);
    await same(first.query, dataDir);
    await first.query.close();
    await fill(log, 120, clock, 300); // written with no index running
    const again = openQuery(log, dataDir);
    await same(again.query, dataDir);
    expect(again.logged.map((l) => l.msg)).not.toContain("rebuilding the audit index from the log");
    await log.close();
  });

  test("stale because the log was replaced (same length, other records): rebuilt from the new log", async () => {
    const { dataDir, log } = await world(200);
    const first = openQuery(log, dataDir);
    await same(first.query, dataDir);
    await first.query.close();
    await log.close();
    // Another history of the same length takes the place of the first one; the index stays.
    const other = await world(200, Date.UTC(2026, 5, 1));
    await other.log.close();
    const dir = join(dataDir, "audit");
    for (const f of readdirSync(dir).filter((x) => !x.startsWith("index.sqlite"))) rmSync(join(dir, f));
    for (const f of readdirSync(join(other.dataDir, "audit"))) {
      if (!f.startsWith("index.sqlite")) renameSync(join(other.dataDir, "audit", f), join(dir, f));
    }
    const replaced = await AuditLog.open({
      dir,
      maxSegmentBytes: 8192,
      now: () => new Date(),
      log: pino({ level: "silent" }),
    });
    const again = openQuery(replaced, dataDir);
    await same(again.query, dataDir);
    const rebuilt = again.logged.find((l) => l.msg === "rebuilding the audit index from the log");
    expect(rebuilt?.reason).toMatch(/record 200 in the log is not the one indexed \(the log was replaced\)/);
    await replaced.close();
  });
});
