import { randomBytes } from "node:crypto";
import pino from "pino";
import { expect, test } from "vitest";
import { Deadlines, type DueAt } from "../../src/access/deadlines.js";
import type { AccessService } from "../../src/access/service.js";
import type { AccessRequest } from "../../src/domain/request.js";
import type { ScanRef } from "../../src/domain/scan.js";
import { ScanService } from "../../src/scan/service.js";
import { config } from "../helpers/config.js";
import { tool } from "../helpers/tools.js";

/**
 * Two replicas share the live requests and the leases (the storage port's claim, with lease
 * expiry on one clock the test moves, as the database's clock would). Each scans with real nmap
 * on 127.0.0.1 and has a pool of one slot. A scheduled scan that waits in its replica's queue for
 * longer than its lease must not run again after another replica ran it meanwhile.
 */

let clock = Date.parse("2026-03-01T12:00:00Z");
const now = () => new Date(clock);
const cfg = config((c) => {
  c.hosts["web-1"] = { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22], timeout: "5s" } } as never;
  c.hosts["web-2"] = { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22], timeout: "5s" } } as never;
  (c as Record<string, unknown>).scanning = { nmap: tool("nmap"), concurrency: 1 };
});

/** The live requests every replica sees (what the storage's state is to them). */
const requests = new Map<string, AccessRequest>();
const access = {
  get: (id: string) => requests.get(id),
  deadlines: (dueAt: DueAt) => new Deadlines({ dueAt, config: () => cfg, now, all: () => requests.values() }),
  applyScan: async (id: string, host: string, slot: "issue" | "during" | "after", ref: ScanRef) => {
    const r = requests.get(id)!;
    requests.set(id, {
      ...r,
      version: r.version + 1,
      scans: { ...r.scans, [host]: { ...r.scans?.[host], [slot]: ref } },
    });
  },
} as unknown as AccessService;

/** Leases as PostgresStorage keeps them: one holder until `until`, taken over once it lapsed. */
const leases = new Map<string, { owner: string; until: number }>();
const claim = (owner: string) => async (kind: string, key: string, ms: number) => {
  const k = `${kind}|${key}`;
  const held = leases.get(k);
  if (held && held.owner !== owner && held.until >= clock) return false;
  leases.set(k, { owner, until: clock + ms });
  return true;
};

const started: { replica: string; trigger: unknown; request: unknown }[] = [];
let releaseManual: () => void = () => undefined;
const manualHeld = new Promise<void>((r) => (releaseManual = r));

function replica(name: string): ScanService {
  return new ScanService({
    config: () => cfg,
    audit: {
      claim: claim(name),
      append: async (type, _actor, fields) => {
        if (type === "scan.started") {
          started.push({ replica: name, trigger: fields.trigger, request: fields.request });
          // A's manual scan holds A's only slot until the test lets it go.
          if (name === "A" && fields.trigger === "manual") await manualHeld;
        }
        return {} as never;
      },
    },
    access,
    now,
    random: randomBytes,
    log: pino({ level: "silent" }),
    nmapVersion: "test",
  });
}

async function waitFor(what: () => boolean, label: string): Promise<void> {
  const until = Date.now() + 30_000;
  while (!what()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("an expiry scan queued behind others for longer than its lease runs once across replicas", async () => {
  // An issued request whose certificate has expired: its after-access scan of web-1 is due.
  requests.set("rq_1", {
    id: "rq_1",
    version: 1,
    state: "issued",
    requester: "alice",
    role: "debug",
    hosts: ["web-1"],
    approvals: [],
    cert: { validBefore: new Date(clock - 1000).toISOString() },
  } as unknown as AccessRequest);
  const [a, b] = [replica("A"), replica("B")];

  // A's only slot is busy with a manual scan; its expiry scan of rq_1 queues behind it.
  const manual = a.manual("web-2");
  await waitFor(() => started.some((s) => s.replica === "A" && s.trigger === "manual"), "A's manual scan");
  a.tick();
  await waitFor(() => a.waiting().automatic === 1, "A's expiry scan to queue");

  // Long past any lease: B (free) runs the scan and records it.
  clock += 3600_000;
  b.tick();
  await waitFor(() => requests.get("rq_1")!.scans?.["web-1"]?.after !== undefined, "B's expiry scan");

  // Past B's lease too. A's queue moves: its expiry scan gets the slot, then a second manual scan,
  // which therefore finishes only after A is done with rq_1.
  clock += 3600_000;
  releaseManual();
  await manual;
  await a.manual("web-2");

  expect(started.filter((s) => s.request === "rq_1")).toEqual([{ replica: "B", trigger: "expiry", request: "rq_1" }]);
  expect(started.filter((s) => s.trigger === "manual").map((s) => s.replica)).toEqual(["A", "A"]);
}, 60_000);
