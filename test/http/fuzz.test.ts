import { afterAll, beforeAll, expect, test } from "vitest";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { e2eConfig } from "../helpers/scenario.js";

/** A small seeded PRNG (mulberry32): the same 10,000 requests every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    int: (n: number) => Math.floor(next() * n),
  };
}

const R = rng(0x5eca);
const ids = [
  "rq_aaaaaaaaaaaaaaaa",
  "rq_",
  "rq_AAAAAAAAAAAAAAAA",
  "..%2f..%2fetc",
  "%00",
  "x".repeat(300),
  "sc_zzzzzzzzzzzzzzzz",
  "ch_",
  "-1",
];
const paths = [
  "/v1/requests",
  () => `/v1/requests/${R.pick(ids)}`,
  () => `/v1/requests/${R.pick(ids)}?wait=${R.pick(["1", "-1", "abc", "99999"])}&version=${R.pick(["0", "x", "1e9"])}`,
  ...["approve", "deny", "cancel", "override", "relinquish", "review"].map(
    (a) => () => `/v1/requests/${R.pick(ids)}/${a}`,
  ),
  "/v1/requests?state=nope",
  "/v1/requests?review=nope",
  "/v1/hosts",
  () => `/v1/hosts/${R.pick(["web-1", "web-9", "%00", "-x", "x".repeat(300)])}/resolve`,
  "/v1/requests?state=pending&state=issued",
  "/v1/whoami",
  () => `/v1/principals?host=${R.pick(["", "web-9", "%0a", "a;b"])}`,
  "/v1/ca",
  "/v1/krl",
  () => `/v1/audit?${R.pick(["limit=-5", "since=yesterday", "type=..", "user[]=a", "limit=1e9"])}`,
  "/v1/audit/verify",
  () => `/v1/scans${R.pick(["", "?limit=0", "?host=%00", `/${R.pick(ids)}`])}`,
  "/v1/revocations",
  "/v1/auth/challenge",
  "/v1/auth/ssh",
  "/v1/keys",
  "/healthz/../v1/ca",
  "/v2/requests",
  "/",
];
const junkStrings = [
  "",
  " ",
  "\u0000",
  "\n",
  "../../etc/passwd",
  "<script>alert(1)</script>",
  "'; DROP TABLE x; --",
  "-oN/tmp/x",
  "a,b",
  "*",
  "😀",
  "x".repeat(40),
  "sha256:xyz",
  "ssh-ed25519 AAAA",
  "__proto__",
  "127.0.0.1 -V",
  "%s%s%n",
];
const keys = [
  "role",
  "hosts",
  "ttl",
  "reason",
  "publicKey",
  "digest",
  "comment",
  "serial",
  "request",
  "user",
  "challenge",
  "signature",
  "host",
  "principals",
  "__proto__",
  "constructor",
  "prototype",
  "extra",
];

function junkValue(depth = 0): unknown {
  switch (R.int(depth > 2 ? 5 : 8)) {
    case 0:
      return R.pick(junkStrings);
    case 1:
      return R.pick([-1, 0, 1.5, 2 ** 53, -(2 ** 63), 1e308]);
    case 2:
      return R.pick([true, false, null]);
    case 3:
      return "y".repeat(R.pick([1, 100, 5000]));
    case 4:
      return R.pick([[], {}, [""]]);
    case 5:
      return Array.from({ length: R.int(4) }, () => junkValue(depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = R.int(5); i > 0; i--) o[R.pick(keys)] = junkValue(depth + 1);
      return o;
    }
  }
}

function junkRequest(tokens: string[]): { method: string; path: string; opts: Parameters<InProc["call"]>[2] } {
  const p = R.pick(paths);
  const path = typeof p === "function" ? p() : p;
  const method = R.pick([
    "GET",
    "GET",
    "GET",
    "POST",
    "POST",
    "POST",
    "POST",
    "POST",
    "POST",
    "PUT",
    "DELETE",
    "OPTIONS",
  ]);
  const auth = R.pick([
    ...tokens,
    ...tokens,
    ...tokens,
    "",
    "sshca_x",
    `sshca_${"a".repeat(16)}_${"A".repeat(43)}`,
    "Basic YTpi",
  ]);
  const headers: Record<string, string> = {};
  if (auth) headers.authorization = auth.startsWith("Basic") ? auth : `Bearer ${auth}`;
  if (method === "GET" || method === "OPTIONS") return { method, path, opts: { headers } };
  const kind = R.int(10);
  if (kind === 0) return { method, path, opts: { headers, raw: '{"role": "debug", ', type: "application/json" } };
  if (kind === 1)
    return {
      method,
      path,
      opts: { headers, raw: "role=debug&hosts=web-1", type: "application/x-www-form-urlencoded" },
    };
  if (kind === 2)
    return {
      method,
      path,
      opts: { headers, raw: JSON.stringify({ reason: "z".repeat(20_000) }), type: "application/json" },
    };
  if (kind === 3) return { method, path, opts: { headers, raw: "{}", type: "application/json; charset=utf-16" } };
  if (kind === 4) return { method, path, opts: { headers, raw: "null", type: "text/plain" } };
  return { method, path, opts: { headers, body: junkValue() } };
}

let api: InProc;
let tokens: string[];

beforeAll(async () => {
  const extra = { limits: { failedAuthPerMinute: 10_000, requestsPerMinute: 10_000 }, scanning: { enabled: false } };
  api = await startInProc(e2eConfig({ extra }));
  tokens = [await api.token("alice", ["dev"]), await api.token("bob", ["sre"]), await api.token("eve", ["auditors"])];
});
afterAll(() => api?.daemon.stop());

test(
  "10,000 malformed requests across every endpoint: no 5xx, no crash, no change of state, always a JSON error",
  { timeout: 180_000 },
  async () => {
    const before = api.snapshot().state;
    const statuses = new Map<number, number>();
    const problems: string[] = [];
    const work = Array.from({ length: 10_000 }, () => junkRequest(tokens));
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < work.length) {
          const { method, path, opts } = work[next++]!;
          const r = await api.call(method, path, opts);
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          const isOkRead = r.status === 200 && method === "GET"; // reads such as /v1/ca answer with data
          if (r.status >= 500) problems.push(`${r.status} ${method} ${path}`);
          else if (
            !isOkRead &&
            (r.status < 400 || typeof r.body?.error?.message !== "string" || r.body.error.message.length === 0)
          ) {
            problems.push(`${r.status} ${method} ${path} -> ${JSON.stringify(r.body).slice(0, 120)}`);
          }
        }
      }),
    );
    expect(problems.slice(0, 10)).toEqual([]);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    expect((await api.call("GET", "/healthz")).status).toBe(200);
    expect(api.snapshot().state).toBe(before);
    // The fuzz reached past authentication into validation, not only 401s.
    expect((statuses.get(400) ?? 0) + (statuses.get(404) ?? 0)).toBeGreaterThan(4000);
  },
);
