import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { e2eConfig, LOGIN } from "../helpers/scenario.js";

let api: InProc;
const t: Record<string, string> = {};
const loopback = { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22] } };
/** Scan results written: id -> host and requester. */
const results = new Map<string, { host: string; requester: string; failed: boolean }>();

beforeAll(async () => {
  const config = e2eConfig({
    roles: {
      // vault-1 is approved by admins only: bob and dave (approvers elsewhere) must not see its scans.
      vault: { principals: [LOGIN], hosts: ["vault-1"], requesters: ["dev"], approvers: ["admins"] },
    },
    extra: {
      hosts: { "web-1": loopback, "web-2": loopback, "db-1": loopback, "vault-1": loopback },
      scanning: { enabled: false },
    },
  });
  api = await startInProc(config);
  for (const [user, group] of [
    ["alice", "dev"],
    ["bob", "sre"],
    ["carol", "dev"],
    ["dave", "leads"],
    ["eve", "auditors"],
  ] as const) {
    t[user] = await api.token(user, [group]);
  }
  // Scan history as the scan service writes it (started, then the result), without running nmap.
  const audit = api.daemon.core.storage;
  for (let i = 0; i < 40; i++) {
    const id = `sc_${String.fromCharCode(97 + Math.floor(i / 26), 97 + (i % 26))}${"a".repeat(14)}`;
    const host = i % 2 ? "vault-1" : "web-1";
    const requester = i % 3 ? "alice" : "carol";
    const about = { request: `rq_${i}`, requester, role: "debug", approvers: ["bob"] };
    await audit.append("scan.started", "sshcad", { scan: id, host, trigger: "issue", ...about });
    await audit.append(i % 5 ? "scan.finished" : "scan.failed", "sshcad", {
      scan: id,
      host,
      trigger: "issue",
      ...about,
      address: "127.0.0.1",
      startedAt: new Date().toISOString(),
      durationMs: 1,
      nmapVersion: "7.93",
      args: [],
      outcome: i % 5 ? "ok" : "failed",
      ports: [],
      extraPorts: [],
      expectedPorts: [22],
    });
    results.set(id, { host, requester, failed: i % 5 === 0 });
  }
});
afterAll(() => api?.daemon.stop());

/** Every page of a list endpoint, following cursors; returns the items in log order. */
async function pages(path: string, token: string, key: "scans" | "records", limit: number): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | undefined;
  for (;;) {
    const sep = path.includes("?") ? "&" : "?";
    const r = await api.call("GET", `${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`, { token });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body[key].length).toBeLessThanOrEqual(limit);
    items.unshift(...r.body[key]);
    if (!r.body.cursor) return items;
    cursor = r.body.cursor;
  }
}

describe("scan history: a page never holds a scan the caller may not see", () => {
  test.each([
    { who: "eve", rule: "auditors see every scan", sees: () => true },
    {
      who: "bob",
      rule: "approvers see the hosts their roles cover",
      sees: (s: { host: string }) => s.host === "web-1",
    },
    { who: "dave", rule: "so do approvers of another group", sees: (s: { host: string }) => s.host === "web-1" },
    { who: "carol", rule: "requesters see their own", sees: (s: { requester: string }) => s.requester === "carol" },
  ])("$who: $rule, every one exactly once across pages", async ({ who, sees }) => {
    const want = [...results].filter(([, s]) => sees(s)).map(([id]) => id);
    expect(want.length).toBeGreaterThan(0);
    const got = await pages("/v1/scans", t[who]!, "scans", 3);
    expect(got.map((s) => s.id)).toEqual(want);
  });

  test("one scan by id: 404 for who may not see it, as if it did not exist", async () => {
    const [id] = [...results].find(([, s]) => s.host === "vault-1" && s.requester === "alice")!;
    expect((await api.call("GET", `/v1/scans/${id}`, { token: t.bob })).status).toBe(404);
    expect((await api.call("GET", `/v1/scans/${id}`, { token: t.carol })).status).toBe(404);
    const own = await api.call("GET", `/v1/scans/${id}`, { token: t.alice });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ id, host: "vault-1" });
    expect(own.body.requester).toBeUndefined();
    expect((await api.call("GET", `/v1/scans/${id}`, { token: t.eve })).status).toBe(200);
  });
});

describe("GET /v1/audit", () => {
  test("filters combine and a cursor pages back through them", async () => {
    const got = await pages("/v1/audit?host=vault-1&type=scan.failed", t.eve!, "records", 2);
    const want = [...results].filter(([, s]) => s.host === "vault-1" && s.failed);
    expect(want.length).toBeGreaterThan(1);
    expect(got.map((r) => r.fields.scan)).toEqual(want.map(([id]) => id));
    expect(got.every((r) => r.type === "scan.failed")).toBe(true);
  });

  test("until and since bound the time; a record's serial finds it", async () => {
    const all = (await api.call("GET", "/v1/audit?limit=1000", { token: t.eve })).body.records as any[];
    const middle = all[Math.floor(all.length / 2)];
    const before = (await api.call("GET", `/v1/audit?until=${middle.time}&limit=1000`, { token: t.eve })).body;
    expect(before.records.every((r: any) => r.time < middle.time)).toBe(true);
    expect(before.records.length).toBe(all.filter((r) => r.time < middle.time).length);
    const token = await api.call("GET", `/v1/audit?user=frank&limit=5`, { token: t.eve });
    expect(token.body).toEqual({ records: [] });
    const serial = await api.call("GET", "/v1/audit?serial=12345&limit=5", { token: t.eve });
    expect(serial.body.records).toEqual([]);
  });

  test.each([
    ["a cursor from elsewhere", "cursor=bm9wZQ", /cursor is not one this server handed out/],
    ["a malformed cursor", "cursor=a.b", /cursor must be one the server handed out/],
    ["a serial that is not a number", "serial=12a", /serial must be a certificate serial/],
    ["an until that is not a time", "until=tomorrow", /until must be an ISO time/],
  ])("fail/%s is a 400 that changes nothing", async (_name, query, message) => {
    const before = api.snapshot();
    const r = await api.call("GET", `/v1/audit?${query}`, { token: t.eve });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(message);
    expect(api.snapshot()).toEqual(before);
  });
});
